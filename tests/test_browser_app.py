"""The Intent Observe web app in headless Chromium, against the real stack.

The stack `intent-observe up` runs (stack/stack.py: store, OTLP receiver, tail adapter, alerts,
web app) serves a temporary repository whose events file this module writes (a small
Intent history whose counts are known by construction); Playwright drives
Debian's Chromium through the pages, checks what a person would see, and saves
screenshots under build/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from intent_observe.stack.stack import Stack as UpStack
from intent_observe.stack.stack import StackOptions

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Loopback only: without this Chromium resolves outside names and probes a public resolver.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
XSS_TITLE = "<img src=x onerror=alert(1)>"
LEVELS = ("L0", "L1", "L2", "L3", "L4")
HTTP_TIMEOUT_S = 30  # generous: the machine may be busy with other suites

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/install-system-deps.sh)"
)


# --------------------------------------------------------------------------- the history
@dataclass
class History:
    """Event lines and what they imply, counted while they are written."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    signals: int = 0
    intents: list[str] = field(default_factory=list)
    specs: int = 0
    contracts_passed: int = 0
    contracts_failed: int = 0
    failed_contract: str = ""
    contracts_of_spec: dict[str, list[str]] = field(default_factory=dict)
    open_signal_levels: Counter[str] = field(default_factory=Counter)  # never clustered or promoted
    promoted_signals: int = 0  # each one measures signal → intent
    complete_specs: int = 0  # every contract passed: each one measures spec → complete

    def envelope(self, at: datetime, event: str, ref: str, data: dict[str, Any], source: str) -> None:
        self.lines.append(
            {
                "version": "0.2.0",
                "event": event,
                "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "trace_id": None,
                "span_id": ref,
                "parent_id": None,
                "source": source,
                "actor": "claude-code" if source == "agent" else "dev",
                "ref": ref,
                "data": data,
            }
        )

    def signal(
        self, at: datetime, sig: str, title: str, trust: float, source: str, *, stays_open: bool
    ) -> None:
        self.envelope(at, "signal.created", sig, {"title": title, "trust_score": trust}, source)
        self.signals += 1
        if stays_open:
            self.open_signal_levels[autonomy_level(trust)] += 1


def autonomy_level(trust: float) -> str:
    """The design page's table: L0 < 0.2 ≤ L1 < 0.4 ≤ L2 < 0.6 ≤ L3 < 0.85 ≤ L4."""
    for level, floor in (("L4", 0.85), ("L3", 0.6), ("L2", 0.4), ("L1", 0.2)):
        if trust >= floor:
            return level
    return "L0"


def _assertion(h: History, at: datetime, contract: str, n: int, name: str, passed: bool) -> None:
    """One assertion result: passes as an envelope, a failure in the flat catalog shape."""
    if passed:
        data = {"contract_id": contract, "assertion_id": f"assert-{n}", "assertion_name": name}
        h.envelope(at, "contract.assertion.passed", contract, data, "agent")
        return
    h.lines.append(
        {
            "event_type": "contract.assertion.failed",
            "contract_id": contract,
            "assertion_id": f"assert-{n}",
            "assertion_name": name,
            "error": "eslint: 3 errors",
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def _contract_run(h: History, at: datetime, spec: str, contract: str, fail: bool) -> datetime:
    h.envelope(at, "contract.started", contract, {"contract_id": contract, "spec_id": spec}, "agent")
    at += timedelta(minutes=6)
    _assertion(h, at, contract, 1, "tests_pass", passed=True)
    at += timedelta(minutes=3)
    _assertion(h, at, contract, 2, "lint_passes", passed=not fail)
    at += timedelta(minutes=2)
    result = {"assertions_passed": 1 if fail else 2, "assertions_failed": 1 if fail else 0}
    h.envelope(
        at, "contract.completed", contract, {"contract_id": contract, "spec_id": spec, **result}, "agent"
    )
    if fail:
        h.contracts_failed += 1
        h.failed_contract = contract
    else:
        h.contracts_passed += 1
    return at + timedelta(minutes=5)


# Real histories carry titles of several hundred characters (a writer's whole heading block).
LONG_TITLE_TAIL = " — the heading block a writer swept up with it" * 8


def _intent(h: History, at: datetime, n: int, first_signal: int, fail_second_contract: bool) -> datetime:
    intent, cluster, spec = f"INT-{n:03d}", f"CL-{n:03d}", f"SPEC-{n:03d}"
    signals = [f"SIG-{first_signal + k:03d}" for k in range(2)]
    for k, sig in enumerate(signals):
        h.signal(
            at, sig, f"Login flakes on CI, report {first_signal + k}", 0.35 + 0.2 * k, "mcp", stays_open=False
        )
        at += timedelta(minutes=30)
        h.envelope(
            at, "signal.clustered", sig, {"cluster_id": cluster, "cluster_name": "login flakes"}, "mcp"
        )
    at += timedelta(hours=2)
    for sig in signals:
        h.envelope(at, "signal.promoted", sig, {"cluster_id": cluster, "intent_id": intent}, "cli")
    h.promoted_signals += len(signals)
    h.envelope(
        at,
        "intent.proposed",
        intent,
        {
            "intent_id": intent,
            "title": f"Reliable login {n}{LONG_TITLE_TAIL if n == 3 else ''}",
            "signals": signals,
        },
        "cli",
    )
    h.intents.append(intent)
    at += timedelta(hours=3)
    contracts = [f"CON-{n}01", f"CON-{n}02"]
    h.envelope(
        at,
        "spec.created",
        spec,
        {"intent_id": intent, "title": f"Login spec {n}", "contracts": contracts},
        "mcp",
    )
    h.specs += 1
    h.contracts_of_spec[spec] = contracts
    at += timedelta(minutes=20)
    for k, contract in enumerate(contracts):
        at = _contract_run(h, at, spec, contract, fail=fail_second_contract and k == 1)
    h.complete_specs += 0 if fail_second_contract else 1
    return at + timedelta(hours=4)


def build_history(now: datetime) -> History:
    """Three intents (one with a failed contract), three orphan signals, the XSS title, an error."""
    h = History()
    at = now - timedelta(hours=40)
    for n in range(1, 4):
        at = _intent(h, at, n, first_signal=2 * n - 1, fail_second_contract=n == 2)
    for k in range(3):
        h.signal(
            at,
            f"SIG-{7 + k:03d}",
            f"Orphan observation {k}",
            0.9 if k == 0 else 0.1,
            "slack",
            stays_open=True,
        )
        at += timedelta(hours=1)
    h.signal(at, "SIG-010", XSS_TITLE, 0.5, "cli", stays_open=True)
    at += timedelta(minutes=5)
    h.envelope(at, "system.error", "system", {"message": "MCP server crashed"}, "mcp")
    return h


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")


# --------------------------------------------------------------------------- the stack
# What `intent-observe up` reads from .intent/observe/config.toml: rules evaluated twice a
# second, and a contract failure counted for a day (the fixture's failure is hours old).
CONFIG_TOML = """
[alerts]
interval_seconds = 0.5

[alerts.thresholds]
failure_window_minutes = 1440
"""


@dataclass
class Running:
    base_url: str
    events: Path
    history: History
    up: UpStack


def wait_until_stored(base_url: str, events_total: int) -> None:
    """Until the API answers with every fixture line in the store (bounded: 30 s)."""
    deadline = time.monotonic() + 30
    summary: dict[str, Any] = {}
    while time.monotonic() < deadline:
        summary = httpx.get(f"{base_url}/api/summary", timeout=HTTP_TIMEOUT_S).json()
        if summary.get("events_total") == events_total and summary.get("signals"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the fixture was not stored in 30 s; last summary: {summary}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The stack `intent-observe up` starts (store, OTLP receiver, tail adapter, alerts, web
    app) in a temporary repository, every port an ephemeral one on loopback."""
    repo = tmp_path_factory.mktemp("repo")
    events = repo / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    history = build_history(datetime.now(UTC))
    write_lines(events, history.lines)
    observe = repo / ".intent" / "observe"
    observe.mkdir()
    (observe / "config.toml").write_text(CONFIG_TOML)
    options = StackOptions(events=[events], observe_dir=observe, port=0, grpc_port=0, http_port=0)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("INTENT_OBSERVE_TOKEN", raising=False)  # the pages are tested without a token
        up = UpStack(options)
        up.start()
    try:
        wait_until_stored(up.url, len(history.lines))
        yield Running(up.url, events, history, up)
    finally:
        up.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class Watched:
    """A page plus what must never happen on it: script errors and dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"script errors: {self.errors}"


def open_page(browser: Any, scheme: str = "dark", width: int = 1440) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    watched = Watched(page)
    page.on("pageerror", lambda err: watched.errors.append(str(err)))
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return watched


@pytest.fixture
def view(browser: Any) -> Iterator[Watched]:
    watched = open_page(browser)
    yield watched
    watched.page.context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def tile_text(page: Any, stat: str, selector: str = ".stat-value") -> str:
    text: str = page.locator(f'[data-stat="{stat}"] {selector}').inner_text()
    return text.strip()


# --------------------------------------------------------------------------- the tests
def test_dashboard_shows_the_numbers_the_fixture_implies(stack: Running, view: Watched) -> None:
    page, h = view.page, stack.history
    page.goto(stack.base_url + "/")
    page.wait_for_selector('[data-stat="signals"]')
    assert tile_text(page, "signals") == str(h.signals)
    assert tile_text(page, "intents") == str(len(h.intents))
    assert tile_text(page, "specs") == str(h.specs)
    assert tile_text(page, "contracts", ".contracts-passed") == f"{h.contracts_passed} ✓"
    assert tile_text(page, "contracts", ".contracts-failed") == f"{h.contracts_failed} ✗"
    assert tile_text(page, "events") == str(len(h.lines))
    # The stream starts with the newest events: the last line written is on top.
    page.wait_for_selector("#stream-body tr")
    assert page.locator("#stream-body tr").first.locator(".type-badge").inner_text() == "system.error"
    orphans = sum(h.open_signal_levels.values())
    assert tile_text(page, "signals", ".stat-foot") == f"{orphans} orphans"
    # Cycle time: how many of each stage the history completed (first spec per intent).
    measured = {
        stage: page.locator(f'.cycle-row[data-stage="{stage}"] .cycle-count').inner_text()
        for stage in ("signal_to_intent", "intent_to_spec", "spec_to_complete")
    }
    assert measured == {
        "signal_to_intent": f"{h.promoted_signals} measured",
        "intent_to_spec": f"{len(h.intents)} measured",
        "spec_to_complete": f"{h.complete_specs} measured",
    }
    # Trust: the open signals (the orphans) by autonomy level.
    levels = {lv: page.locator(f'.trust-col[data-level="{lv}"] .trust-count').inner_text() for lv in LEVELS}
    assert levels == {lv: str(h.open_signal_levels[lv]) for lv in LEVELS}
    screenshot(page, "dashboard-dark")
    view.assert_clean()


def _event_type(line: dict[str, Any]) -> str:
    return str(line.get("event", line.get("event_type")))


def _trust_level(line: dict[str, Any]) -> str | None:
    trust = (line.get("data") or {}).get("trust_score")
    return autonomy_level(trust) if isinstance(trust, float) else None


def _event_time(line: dict[str, Any]) -> datetime:
    return datetime.strptime(str(line["timestamp"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_the_time_range_recounts_the_tiles(stack: Running, view: Watched) -> None:
    page, lines = view.page, stack.history.lines
    page.goto(stack.base_url + "/")
    page.wait_for_selector('[data-stat="signals"]')
    boundary = datetime.now(UTC) - timedelta(hours=24)
    # No line sits so near the boundary that the seconds between this and the click could matter.
    assert all(abs(_event_time(line) - boundary) > timedelta(minutes=10) for line in lines)
    recent = [line for line in lines if _event_time(line) >= boundary]
    assert 0 < len(recent) < len(lines)
    page.locator('.segment[data-key="24h"]').click()
    page.wait_for_function(
        "n => document.querySelector('[data-stat=\"events\"] .stat-value').textContent === String(n)",
        arg=len(recent),
    )
    assert tile_text(page, "signals") == str(sum(_event_type(x) == "signal.created" for x in recent))
    assert tile_text(page, "specs") == str(sum(_event_type(x) == "spec.created" for x in recent))
    view.assert_clean()


def _append_observation(stack: Running, what: str, at: datetime | None = None) -> str:
    """Append an observation line (dated now, or `at`) to the watched file (and to the history
    the tests expect); its title, unique to this call."""
    title = f"{what} {time.time_ns()}"
    line = {
        "event_type": "observation.written",
        "observation_id": "OBS-900",
        "title": title,
        "source": "cli",
        "timestamp": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_lines(stack.events, [line])
    stack.history.lines.append(line)
    return title


def test_an_appended_line_appears_in_the_stream_within_a_second(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/")
    page.wait_for_selector('#live-pill[data-state="live"]')
    title = _append_observation(stack, "appended while watching")
    row = page.locator("#stream-body tr").filter(has_text=title)
    row.wait_for(timeout=1000)
    assert row.locator(".type-badge").inner_text() == "observation.written"
    # ...and the counts follow without a reload.
    page.wait_for_function(
        "n => document.querySelector('[data-stat=\"events\"] .stat-value').textContent === String(n)",
        arg=len(stack.history.lines),
        timeout=5000,
    )
    screenshot(page, "dashboard-live")
    view.assert_clean()


def test_the_stream_reconnects_and_shows_what_it_missed(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/")
    page.wait_for_selector('#live-pill[data-state="live"]')
    # Record every state the live indicator passes through, however briefly.
    page.evaluate(
        """() => {
            window.liveStates = [];
            const pill = document.getElementById("live-pill");
            new MutationObserver(() => window.liveStates.push(pill.dataset.state))
                .observe(pill, { attributes: true, attributeFilter: ["data-state"] });
        }"""
    )
    assert stack.up.ctx is not None
    stack.up.ctx.stopping.set()  # the server ends every open stream, as on a restart
    try:
        page.wait_for_function("() => window.liveStates.includes('reconnecting')", timeout=5000)
        title = _append_observation(stack, "written while the stream was down")
        page.wait_for_timeout(500)  # stored meanwhile, not pushed: no stream is open
    finally:
        stack.up.ctx.stopping.clear()
    row = page.locator("#stream-body tr").filter(has_text=title)
    row.wait_for(timeout=15000)  # the next attempt, after the backoff, resumes after the last id
    page.wait_for_selector('#live-pill[data-state="live"]')
    assert row.count() == 1
    view.assert_clean()


def test_a_line_written_down_late_is_listed_by_its_time(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/")
    page.wait_for_selector('#live-pill[data-state="live"]')
    late = max(_event_time(line) for line in stack.history.lines) - timedelta(minutes=1)
    newer = sum(_event_time(line) > late for line in stack.history.lines)
    title = _append_observation(stack, "written down late", late)
    # the live stream shows what arrives as it arrives, on top...
    page.locator("#stream-body tr").first.filter(has_text=title).wait_for(timeout=5000)
    # ...but a page loaded afterwards, and the events page, list events newest first by their time
    for path, body in (("/", "#stream-body"), ("/events", "#events-body")):
        page.goto(stack.base_url + path)
        page.locator(f"{body} tr").filter(has_text=title).wait_for()
        rows = page.eval_on_selector_all(
            f"{body} tr.event-row", "rs => rs.map(r => [r.querySelector('.col-time').title, r.textContent])"
        )
        times = [t for t, _ in rows]
        assert times == sorted(times, reverse=True), path
        assert [title in text for _, text in rows].index(True) == newer, path
    view.assert_clean()


def _rows(page: Any) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.eval_on_selector_all(
        ".wf-span",
        "els => els.map(e => ({id: e.dataset.spanId, parent: e.dataset.parentSpanId,"
        " tree_parent: e.dataset.treeParent, depth: e.dataset.depth, name: e.dataset.name,"
        " state: e.dataset.state, phase: e.dataset.phase,"
        " error: e.classList.contains('span-error')}))",
    )
    return rows


def _box(locator: Any) -> dict[str, float]:
    box: dict[str, float] | None = locator.bounding_box()
    assert box is not None
    return box


def test_a_trace_opens_as_a_waterfall_with_the_right_nesting(stack: Running, view: Watched) -> None:
    page, h = view.page, stack.history
    failed_intent = h.intents[1]
    page.goto(stack.base_url + "/traces")
    page.wait_for_selector("#intent-traces .trace-row")
    # Intents are listed with their span count; the orphan signals apart. Nothing completes an
    # intent in this history: each one is listed as open.
    assert sorted(page.locator("#intent-traces .trace-id-label").all_inner_texts()) == sorted(h.intents)
    assert page.locator("#intent-traces .trace-state").all_inner_texts() == ["open"] * len(h.intents)
    assert page.locator("#orphan-list .orphan").count() == sum(h.open_signal_levels.values())
    page.locator("#intent-traces .trace-row").filter(has_text=failed_intent).locator("a").click()
    page.wait_for_selector(".wf-span")
    rows = _rows(page)
    by_name = {r["name"]: r for r in rows}
    spec = f"spec SPEC-{int(failed_intent[4:]):03d}"
    intent_row, spec_row = by_name[f"intent {failed_intent}"], by_name[spec]
    assert (intent_row["depth"], intent_row["state"]) == ("0", "open")
    # one of the spec's contracts failed, so not all of them passed: the spec is still open
    assert (spec_row["depth"], spec_row["parent"], spec_row["state"]) == ("1", intent_row["id"], "open")
    for contract in h.contracts_of_spec[spec.split()[1]]:
        row = by_name[f"contract {contract}"]
        assert (row["depth"], row["parent"], row["state"]) == ("2", spec_row["id"], "closed")
        # each contract's run sits right under it, one level deeper, and the run's assertions under it
        index = rows.index(row)
        run, *assertions = rows[index + 1 : index + 4]
        assert (run["name"], run["depth"], run["parent"], run["phase"]) == (
            f"contract {contract} · run 1",
            "3",
            row["id"],
            "run",
        )
        assert [(r["name"], r["depth"], r["parent"]) for r in assertions] == [
            ("assertion assert-1", "4", run["id"]),
            ("assertion assert-2", "4", run["id"]),
        ]
    # Signals of the intent are nested under it; depth-first order puts parents first.
    assert all(rows.index(by_name[r["name"]]) > rows.index(intent_row) for r in rows if r["depth"] != "0")
    passed = h.contracts_of_spec[spec.split()[1]][0]
    failed = by_name[f"contract {h.failed_contract}"]
    failed_run, passed_run = (by_name[f"contract {c} · run 1"] for c in (h.failed_contract, passed))
    # the run failed, not the contract's announcement; each run shows how it ended
    assert (failed_run["error"], failed["error"], passed_run["error"]) == (True, False, False)
    marks = {
        r["id"]: page.locator(f'.wf-span[data-span-id="{r["id"]}"] .wf-run-mark').inner_text()
        for r in (failed_run, passed_run)
    }
    assert marks == {failed_run["id"]: "✗", passed_run["id"]: "✓"}
    # A failed run's bar is drawn in the error colour.
    bar = page.locator(f'.wf-span[data-span-id="{failed_run["id"]}"] .wf-bar')
    assert _rgb(bar.evaluate("e => getComputedStyle(e).backgroundColor")) == _rgb(_resolved(page, "--err"))
    # The open intent carries an "open" pill and its bar runs to its newest event, the last
    # contract's completion: the end of the trace's time axis.
    assert page.locator(".wf-span .wf-state").all_inner_texts() == ["open", "open"]  # the intent, the spec
    intent_el = page.locator(f'.wf-span[data-span-id="{intent_row["id"]}"]')
    intent_bar, timeline = _box(intent_el.locator(".wf-bar.wf-open")), _box(intent_el.locator(".wf-timeline"))
    assert abs(intent_bar["x"] + intent_bar["width"] - (timeline["x"] + timeline["width"])) < 2
    # The header says how long the open intent has lived so far, in the words its row uses, beside
    # the trace's duration (its spans' extent).
    life = page.locator("#trace-life").inner_text()
    assert life.endswith(" so far") and intent_el.get_attribute("title") == f"intent {failed_intent} · {life}"
    # Clicking the failed contract opens its details: closed, its run ✗, its own log records.
    page.locator(f'.wf-span[data-span-id="{failed["id"]}"]').click()
    details = page.locator("#span-details")
    details.wait_for()
    assert details.get_attribute("data-span-id") == failed["id"]
    assert "intent.artifact.id" in details.locator(".span-attrs").inner_text()
    assert "closed" in details.locator(".meta-grid").inner_text()
    assert details.locator(".phase-link").all_inner_texts()[0].startswith("✗\nrun 1")
    log_bodies = details.locator(".span-logs .log-body").all_inner_texts()
    assert any("contract.started" in b for b in log_bodies), log_bodies
    assert any("contract.completed" in b for b in log_bodies), log_bodies
    screenshot(page, "trace-waterfall")
    # Its phase selects the run's row; double-click zooms the time axis to the run: its bar then
    # spans the timeline.
    details.locator(".phase-link").first.click()
    assert details.get_attribute("data-span-id") == failed_run["id"]
    row = page.locator(f'.wf-span[data-span-id="{failed_run["id"]}"]')
    row.dblclick()
    page.locator("#reset-zoom").wait_for()
    bar, cell = _box(row.locator(".wf-bar")), _box(row.locator(".wf-timeline"))
    assert bar["width"] > 0.95 * cell["width"], (bar, cell)
    screenshot(page, "trace-waterfall-zoomed")
    page.locator("#reset-zoom").click()
    assert page.locator("#reset-zoom").is_hidden()
    view.assert_clean()


def test_a_spec_whose_contracts_all_passed_shows_its_lifecycle(stack: Running, view: Watched) -> None:
    page, h = view.page, stack.history
    intent = h.intents[0]
    spec = f"spec SPEC-{int(intent[4:]):03d}"
    page.goto(f"{stack.base_url}/traces/{intent}")
    page.wait_for_selector(".wf-span")
    rows = _rows(page)
    by_name = {r["name"]: r for r in rows}
    spec_row, lifecycle = by_name[spec], by_name[f"{spec} · lifecycle"]
    assert spec_row["state"] == "closed"
    # the lifecycle is the spec's first child, from its creation to the last contract's completion
    assert rows[rows.index(spec_row) + 1] == lifecycle
    assert (lifecycle["parent"], lifecycle["phase"]) == (spec_row["id"], "lifecycle")
    doc = httpx.get(f"{stack.base_url}/api/intents/{intent}", timeout=HTTP_TIMEOUT_S).json()
    span = next(s for s in doc["spans"] if s["span_id"] == lifecycle["id"])
    created = next(
        line for line in h.lines if line.get("event") == "spec.created" and line["ref"] == spec[5:]
    )
    completions = [line for line in h.lines if line.get("event") == "contract.completed"]
    last = next(
        line for line in completions if line["data"]["contract_id"] == h.contracts_of_spec[spec[5:]][-1]
    )
    assert (span["start_ns"], span["end_ns"]) == (_ns(created["timestamp"]), _ns(last["timestamp"]))
    # 20 minutes to the first run, two runs of 11 minutes 5 minutes apart (_intent, _contract_run)
    assert page.locator(f'.wf-span[data-span-id="{lifecycle["id"]}"] .wf-bar-label').inner_text() == "47 m"
    assert page.locator(f'.wf-span[data-span-id="{spec_row["id"]}"] .wf-state').count() == 0  # not open
    view.assert_clean()


def test_a_contract_running_again_holds_its_new_assertions_until_the_run_ends(
    stack: Running, view: Watched
) -> None:
    page, h = view.page, stack.history
    intent, contract = h.intents[1], h.failed_contract
    spec = f"SPEC-{int(intent[4:]):03d}"
    # the failed contract runs again: started, one assertion passed, not completed yet
    written = len(h.lines)
    now = datetime.now(UTC).replace(microsecond=0)
    h.envelope(
        now - timedelta(minutes=2),
        "contract.started",
        contract,
        {"contract_id": contract, "spec_id": spec},
        "agent",
    )
    _assertion(h, now - timedelta(minutes=1), contract, 1, "tests_pass", passed=True)
    write_lines(stack.events, h.lines[written:])
    wait_until_stored(stack.base_url, len(h.lines))
    page.goto(f"{stack.base_url}/traces/{intent}")
    waiting = page.locator(".wf-span").filter(has=page.locator(".wf-waiting"))
    waiting.wait_for()
    rows = {r["id"]: r for r in _rows(page)}
    contract_row = next(r for r in rows.values() if r["name"] == f"contract {contract}")
    row = rows[waiting.get_attribute("data-span-id") or ""]
    # its parent is run 2, not sent until the run ends: it is drawn under the contract meanwhile
    assert row["name"] == "assertion assert-1" and row["parent"] not in rows
    assert (row["tree_parent"], row["depth"]) == (contract_row["id"], "3")
    assert waiting.locator(".wf-waiting").inner_text() == "run in progress"
    assert f"contract {contract} · run 2" not in {r["name"] for r in rows.values()}
    screenshot(page, "trace-contract-running")
    view.assert_clean()


def _ns(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) * 10**9


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


def _resolved(page: Any, colour_variable: str) -> str:
    """The colour a CSS variable resolves to on this page, as the browser computes it."""
    colour: str = page.evaluate(
        """name => {
            const probe = document.createElement("span");
            probe.style.color = `var(${name})`;
            document.body.append(probe);
            const colour = getComputedStyle(probe).color;
            probe.remove();
            return colour;
        }""",
        colour_variable,
    )
    return colour


def test_an_event_title_with_markup_shows_as_text(stack: Running, view: Watched) -> None:
    page = view.page
    for path in ("/", "/traces", "/events?q=SIG-010"):
        page.goto(stack.base_url + path)
        page.get_by_text(XSS_TITLE).first.wait_for()
        assert page.locator('img[src="x"]').count() == 0
    screenshot(page, "events-xss-as-text")
    page.goto(stack.base_url + "/traces")
    page.locator("#orphan-list a").filter(has_text=XSS_TITLE).click()
    page.wait_for_selector(".wf-span")
    page.locator(".wf-span").first.click()
    page.locator("#span-details .span-attrs").get_by_text(XSS_TITLE).first.wait_for()
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    view.assert_clean()


def test_an_instant_trace_has_no_time_scale(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/traces")
    page.locator("#orphan-list a").filter(has_text=XSS_TITLE).click()  # one signal: one instant
    page.wait_for_selector(".wf-span")
    assert page.locator(".wf-axis .wf-tick").all_inner_texts() == ["0"]  # not 0, 0 µs, 0 µs…
    view.assert_clean()


def test_a_long_title_never_widens_the_trace_list_past_its_panel(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/traces")
    row = page.locator("#intent-traces tr").filter(has_text=LONG_TITLE_TAIL[:30])
    row.wait_for()
    table = page.locator("#intent-traces")
    widths = table.evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
    assert widths[0] <= widths[1], widths  # no column pushed out of sight
    started, shown = _box(row.locator(".col-started")), _box(table.locator(".."))
    assert started["x"] + started["width"] <= shown["x"] + shown["width"] + 1
    screenshot(page, "traces-long-title")
    view.assert_clean()


# (form control, value chosen, which fixture lines it must leave)
EVENT_FILTERS = [
    ("type", "contract.*", lambda line: _event_type(line).startswith("contract.")),
    ("source", "slack", lambda line: line.get("source") == "slack"),
    ("autonomy_level", "L0", lambda line: _trust_level(line) == "L0"),
]


@pytest.mark.parametrize(("control", "value", "keeps"), EVENT_FILTERS, ids=[f[0] for f in EVENT_FILTERS])
def test_event_search_filters(stack: Running, view: Watched, control: str, value: str, keeps: Any) -> None:
    page = view.page
    page.goto(stack.base_url + "/events")
    page.wait_for_selector("#events-body tr")
    page.keyboard.press("/")  # the search shortcut
    assert page.evaluate("document.activeElement.name") == "q"
    if control == "autonomy_level":
        page.select_option(f'select[name="{control}"]', value)
    else:
        page.fill(f'input[name="{control}"]', value)
    expected = [line for line in stack.history.lines if keeps(line)]
    assert 0 < len(expected) < len(stack.history.lines)  # the filter has something to leave out
    page.wait_for_function(
        "n => document.querySelectorAll('#events-body tr.event-row').length === n", arg=len(expected)
    )
    types = page.locator("#events-body .type-badge").all_inner_texts()
    assert sorted(types) == sorted(_event_type(line) for line in expected)
    assert f"{control}={value}" in page.url.replace("%2A", "*")  # the filter is kept in the address
    screenshot(page, f"events-filter-{control}")
    view.assert_clean()


def test_the_events_page_offers_new_events_without_reordering(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/events")
    page.wait_for_selector('#live-pill[data-state="live"]')
    title = _append_observation(stack, "arrived while searching")
    banner = page.locator("#new-events")
    banner.wait_for(timeout=5000)
    assert "1 new event arrived" in banner.inner_text()
    assert page.locator("#events-body tr").filter(has_text=title).count() == 0  # not slipped in
    banner.click()
    page.locator("#events-body tr").first.filter(has_text=title).wait_for()
    assert banner.is_hidden()
    view.assert_clean()


def test_an_unknown_or_hostile_trace_address_shows_as_text(stack: Running, view: Watched) -> None:
    page = view.page
    hostile = "<img src=x onerror=alert(1)>"
    page.goto(f"{stack.base_url}/traces/{quote(hostile)}")
    page.get_by_text("No such trace").wait_for()
    assert page.locator("code").filter(has_text=hostile).count() == 1
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_timeout(300)
    assert view.dialogs == []
    # The one console error is the browser reporting the API's 404, which the page handled.
    assert all("404" in e for e in view.errors), view.errors


@pytest.mark.parametrize("path", ["/", "/traces", "/events", "/alerts", "/claude"])
def test_every_page_is_reachable_from_the_navigation(stack: Running, view: Watched, path: str) -> None:
    page = view.page
    page.goto(stack.base_url + "/")
    page.locator(f'.nav a[href="{path}"]').click()
    page.wait_for_url(stack.base_url + path)
    assert page.locator(".nav-link[aria-current='page']").get_attribute("href") == path
    page.wait_for_selector(".page-header h1")
    page.wait_for_timeout(200)
    assert page.locator(".state-error").count() == 0, page.locator("#app").inner_text()
    name = path.strip("/") or "dashboard"
    screenshot(page, f"page-{name}-dark")
    # Everything the page loads (scripts, styles, fonts, icons, API) comes from the app itself.
    foreign = [u for u in view.requests if not u.startswith((stack.base_url + "/", "data:"))]
    assert foreign == [], foreign
    assert any("/static/fonts/" in u for u in view.requests)  # the vendored fonts are used
    view.assert_clean()


def test_light_theme_follows_the_system(stack: Running, browser: Any) -> None:
    watched = open_page(browser, scheme="light")
    page = watched.page
    page.goto(stack.base_url + "/")
    page.wait_for_selector('[data-stat="signals"]')
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(_rgb(background)) > 600, background  # a light page, not the dark default
    screenshot(page, "dashboard-light")
    page.goto(f"{stack.base_url}/traces/{stack.history.intents[1]}")
    page.locator(".wf-span.span-error").first.click()
    screenshot(page, "trace-waterfall-light")
    page.locator("#theme-toggle").click()  # the switch overrides the system choice...
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(_rgb(background)) < 150, background
    page.goto(stack.base_url + "/events")  # ...and is remembered from page to page
    page.wait_for_selector("#events-body tr")
    assert sum(_rgb(page.evaluate("getComputedStyle(document.body).backgroundColor"))) < 150
    watched.assert_clean()
    page.context.close()


def send_claude_spans(endpoint: str, resource: Any, session_id: str, traceparent: str) -> None:
    """The session's spans, parented by TRACEPARENT on the contract's span (as `run` passes it)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    tracer = tracers.get_tracer("com.anthropic.claude_code")
    session = {"session.id": session_id}
    interaction = tracer.start_as_current_span("claude_code.interaction", context=parent, attributes=session)
    tool = tracer.start_as_current_span("claude_code.tool", attributes={"tool_name": "Bash"})
    with interaction, tool:
        time.sleep(0.01)
    tracers.shutdown()


def send_claude_session(
    grpc_port: int, session_id: str, contract: str, intent: str, traceparent: str
) -> None:
    """A Claude-Code-shaped session over OTLP/gRPC with the official SDK exporters: its
    resource names the contract and intent it worked on (as `intent-observe run` sets it)."""
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import Counter as SdkCounter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    endpoint = f"127.0.0.1:{grpc_port}"
    resource = Resource.create(
        {"service.name": "claude-code", "intent.contract.id": contract, "intent.id": intent}
    )
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=endpoint, insecure=True, preferred_temporality={SdkCounter: AggregationTemporality.DELTA}
        ),
        export_interval_millis=60_000,
    )
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    session = {"session.id": session_id}
    logger = loggers.get_logger("com.anthropic.claude_code.events")
    for name, extra in (
        ("api_request", {"model": "claude-sonnet-4-5", "cost_usd": 0.006}),
        ("api_request", {"model": "claude-sonnet-4-5", "cost_usd": 0.0063}),
        ("api_error", {"error": "overloaded", "status_code": "529"}),
        ("tool_decision", {"tool_name": "Edit", "decision": "accept"}),
        ("tool_decision", {"tool_name": "Bash", "decision": "accept"}),
        ("tool_decision", {"tool_name": "Bash", "decision": "reject"}),
    ):
        logger.emit(body=f"claude_code.{name}", attributes={"event.name": name, **session, **extra})
    meter = meters.get_meter("com.anthropic.claude_code")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    for kind, amount in CLAUDE_TOKENS.items():
        tokens.add(amount, {**session, "type": kind, "model": "claude-sonnet-4-5"})
    meter.create_counter("claude_code.cost.usage", unit="USD").add(
        0.0123, {**session, "model": "claude-sonnet-4-5"}
    )
    loggers.shutdown()
    meters.shutdown()
    send_claude_spans(endpoint, resource, session_id, traceparent)


CLAUDE_TOKENS = {"input": 1200, "output": 340, "cacheRead": 5000, "cacheCreation": 0}


def test_claude_view_empty_then_a_session_linked_to_its_intent(stack: Running, view: Watched) -> None:
    page, h = view.page, stack.history
    page.goto(stack.base_url + "/claude")
    help_text = page.locator("#claude-connect")
    help_text.wait_for()
    assert "CLAUDE_CODE_ENABLE_TELEMETRY=1" in help_text.inner_text()
    screenshot(page, "claude-empty")

    session_id = "5f3c9a1e-7b7d-4e2a-9c11-0d8e2f4a6b7c"
    contract, intent = h.contracts_of_spec["SPEC-001"][0], h.intents[0]
    grpc_port = httpx.get(stack.base_url + "/api/status", timeout=HTTP_TIMEOUT_S).json()["receiver"]["grpc"]
    trace = httpx.get(f"{stack.base_url}/api/intents/{intent}", timeout=HTTP_TIMEOUT_S).json()
    contract_span = next(sp for sp in trace["spans"] if sp["name"] == f"contract {contract}")
    traceparent = f"00-{trace['trace_id']}-{contract_span['span_id']}-01"
    send_claude_session(grpc_port, session_id, contract, intent, traceparent)

    def session_complete(body: dict[str, Any]) -> bool:
        return any(s["api_requests"] == 2 and s["cost_usd"] > 0 for s in body["sessions"])

    wait_for_api(stack.base_url + "/api/claude", session_complete, "the Claude Code session")
    page.reload()
    row = page.locator(f'#claude-sessions tr[data-session="{session_id}"]')
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    # Session, Started, Duration, Worked on, Tokens, Cost, Requests, Errors, Tool decisions
    assert cells[0] == session_id[:8]
    assert cells[3] == f"{contract} · {intent}"
    assert cells[4:8] == [f"{sum(CLAUDE_TOKENS.values()):,}", "$0.0123", "2", "1"]
    assert cells[8].strip() == "2/1"
    screenshot(page, "claude-session")
    row.locator("td").nth(3).locator("a").click()
    page.wait_for_selector(".wf-span")
    assert page.locator(f'.wf-span[data-name="intent {intent}"]').count() == 1
    # The session's own spans sit under the contract it worked on, named by their service.
    interaction = page.locator('.wf-span[data-name="claude_code.interaction"]')
    assert interaction.get_attribute("data-parent-span-id") == contract_span["span_id"]
    assert interaction.locator(".wf-service").inner_text() == "claude-code"
    tool = page.locator('.wf-span[data-name="claude_code.tool"]')
    assert tool.get_attribute("data-parent-span-id") == interaction.get_attribute("data-span-id")
    screenshot(page, "trace-with-claude-session")
    view.assert_clean()


def test_static_assets_stay_inside_the_package(stack: Running) -> None:
    ok = httpx.get(stack.base_url + "/static/js/dom.js", timeout=HTTP_TIMEOUT_S)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/javascript")
    for path in (
        "/static/../pages.py",
        "/static/%2e%2e/pages.py",
        "/static/..%2fpages.py",
        "/static/.hidden",
    ):
        assert httpx.get(stack.base_url + path, timeout=HTTP_TIMEOUT_S).status_code == 404, path
    page = httpx.get(stack.base_url + "/", timeout=HTTP_TIMEOUT_S)
    assert "script-src 'self'" in page.headers["content-security-policy"]


def wait_for_api(url: str, ready: Any, what: str, timeout_s: float = 20) -> dict[str, Any]:
    """Poll a JSON endpoint until `ready(body)` (bounded), so the page is loaded once it is true."""
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(url, timeout=HTTP_TIMEOUT_S).json()
        if ready(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout_s} s; last answer: {body}")


def test_the_alerts_page_shows_the_failed_contract_firing(stack: Running, view: Watched) -> None:
    def contract_failure_firing(body: dict[str, Any]) -> bool:
        return any(a["name"] == "IntentContractFailure" and a["state"] == "firing" for a in body["alerts"])

    wait_for_api(stack.base_url + "/api/alerts", contract_failure_firing, "the contract-failure alert")
    page = view.page
    page.goto(stack.base_url + "/alerts")
    firing = page.locator('.alert-card[data-alert="IntentContractFailure"][data-state="firing"]')
    firing.first.wait_for()
    assert "failed contract" in " ".join(firing.all_inner_texts())
    assert page.locator(".counter-firing").inner_text().strip().endswith("firing")
    history = page.locator("#alert-history .timeline-item.is-firing").all_inner_texts()
    assert any("IntentContractFailure" in item for item in history), history
    # Rules whose condition does not hold are listed too, inactive.
    assert page.locator('.alert-card[data-alert="IntentVolumeSurge"][data-state="inactive"]').count() == 1
    screenshot(page, "alerts-firing")
    view.assert_clean()


def test_with_a_token_the_app_opens_once_given_it(tmp_path: Path, browser: Any) -> None:
    events = tmp_path / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    history = build_history(datetime.now(UTC))
    write_lines(events, history.lines)
    token = "s3cret-" + str(time.time_ns())
    options = StackOptions(
        events=[events], observe_dir=tmp_path / "observe", port=0, grpc_port=None, http_port=None, token=token
    )
    up = UpStack(options)
    up.start()
    watched = open_page(browser)
    page = watched.page
    try:
        assert httpx.get(up.url + "/", timeout=HTTP_TIMEOUT_S).status_code == 401
        assert httpx.get(up.url + "/static/js/dom.js", timeout=HTTP_TIMEOUT_S).status_code == 401
        page.goto(f"{up.url}/?token={token}")
        assert "token" not in page.url  # the secret leaves the address bar
        page.wait_for_selector('#live-pill[data-state="live"]')  # API and stream carry the cookie
        page.wait_for_function(
            "n => document.querySelector('[data-stat=\"events\"] .stat-value').textContent === String(n)",
            arg=len(history.lines),
            timeout=30000,
        )
        watched.assert_clean()
    finally:
        page.context.close()
        up.stop()


def test_the_api_reference_is_drawn_offline_from_openapi(stack: Running, view: Watched) -> None:
    page = view.page
    page.goto(stack.base_url + "/docs")
    page.wait_for_selector('.docs-operation[data-path="/api/events"][data-method="get"]')
    operation = page.locator('.docs-operation[data-path="/api/events"]').inner_text()
    assert "since\tquery\tinteger ≥ 0 ≤ 92233720368547" in operation  # the largest SQLite integer
    assert all(url.startswith(stack.base_url) for url in view.requests), view.requests  # no CDN
    view.assert_clean()


def test_the_live_pill_says_when_the_tail_is_down(tmp_path: Path, browser: Any) -> None:
    events = tmp_path / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    history = build_history(datetime.now(UTC))
    write_lines(events, history.lines)
    options = StackOptions(
        events=[events], observe_dir=tmp_path / "observe", port=0, grpc_port=None, http_port=None
    )
    up = UpStack(options)
    up.start()
    watched = open_page(browser)
    page = watched.page
    try:
        page.goto(up.url + "/")
        page.wait_for_selector('#live-pill[data-state="live"]')
        events.unlink()
        os.mkfifo(events)  # a followed path that can no longer be read: nothing new will arrive
        page.wait_for_selector('#live-pill[data-state="tail-down"]', timeout=20000)
        assert page.locator("#live-pill .live-label").text_content() == "tail down"
        assert "FIFO" in (page.locator("#live-pill").get_attribute("title") or "")
        events.unlink()
        write_lines(events, history.lines)  # the same history back as a regular file
        page.wait_for_selector('#live-pill[data-state="live"]', timeout=20000)
        watched.assert_clean()
    finally:
        page.context.close()
        up.stop()
