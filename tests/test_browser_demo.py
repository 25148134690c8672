"""`up --demo` in headless Chromium: every panel of the dashboard has something to show.

The stack `intent-observe up --demo` runs, on a fresh repository: the demo history and its
artifact files written, the live loop appending. Screenshots go to build/screenshots/demo-*.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.test_browser_app import CHROMIUM, LEVELS, Watched, open_page, screenshot, tile_text
from tests.test_browser_app import browser as browser  # the one headless Chromium fixture

from intent_observe.artifacts.files import read_artifacts
from intent_observe.stack.demo import write_history
from intent_observe.stack.stack import Stack, StackOptions

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/install-system-deps.sh)"
)
STAGES = ("signal_to_intent", "intent_to_spec", "spec_to_complete")


def wait_for(what: str, ready: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path, int]]:
    repo = tmp_path_factory.mktemp("demo-repo")
    events = repo / ".intent" / "events" / "events.jsonl"
    written = write_history(events)
    options = StackOptions(
        events=[events],
        observe_dir=repo / ".intent" / "observe",
        port=0,
        grpc_port=0,
        http_port=0,
        live_demo=True,
    )
    with pytest.MonkeyPatch.context() as env:
        env.delenv("INTENT_OBSERVE_TOKEN", raising=False)
        up = Stack(options)
        up.start()
    try:
        wait_for("the demo history stored, its metrics exported", lambda: complete(up.url, written))
        yield up, repo, written
    finally:
        up.stop()


def complete(url: str, written: int) -> bool:
    summary = httpx.get(f"{url}/api/summary", timeout=30).json()
    cycles = summary.get("cycle_time") or {}
    return (
        summary.get("events_total", 0) >= written
        and summary.get("signals", 0) > 0
        and all((summary.get("trust") or {}).get(level) for level in LEVELS)
        and all((cycles.get(stage) or {}).get("count") for stage in STAGES)
    )


def number(text: str) -> float:
    found = re.search(r"[\d.]+", text.replace(",", ""))
    return float(found.group(0)) if found else 0.0


def test_the_demo_repository_looks_like_a_real_one(demo: tuple[Stack, Path, int]) -> None:
    _, repo, _ = demo
    lines = (repo / ".intent/events/events.jsonl").read_text()
    assert '"event_type":' in lines and '"event":' in lines  # both line shapes
    assert re.search(r'"SIG-\d{3}"', lines) and re.search(r'"SIG-[0-9A-HJKMNP-TV-Z]{26}"', lines)
    assert re.search(r'"SIG-\d{4}-\d\d-\d\d-', lines) and '"CLU-' in lines and '"span_id":"unknown"' in lines
    artifacts, skipped = read_artifacts(repo)
    assert skipped == []
    assert {art.kind.value for art in artifacts} == {"signal", "cluster", "intent", "spec", "decision"}
    open_levels = {art.autonomy_level for art in artifacts if art.kind.value == "signal" and not art.closed}
    assert open_levels >= set(LEVELS)


def test_every_panel_of_the_demo_dashboard_has_something_to_show(
    demo: tuple[Stack, Path, int], browser: Any
) -> None:
    up, _, _ = demo
    for scheme in ("dark", "light"):
        view: Watched = open_page(browser, scheme=scheme)
        page = view.page
        page.goto(up.url + "/")
        page.wait_for_selector('[data-stat="signals"]')
        for stat in ("signals", "intents", "specs", "events"):
            assert number(tile_text(page, stat)) > 0, stat
        assert number(tile_text(page, "signals", ".stat-foot")) > 0  # orphans
        assert number(tile_text(page, "contracts", ".contracts-passed")) > 0
        assert number(tile_text(page, "contracts", ".contracts-failed")) > 0
        heights = page.locator('[data-stat="events"] .tile-columns rect').evaluate_all(
            "rects => rects.map(r => Number(r.getAttribute('height')))"
        )
        assert sum(1 for height in heights if height > 0) >= 2  # events in the last 48 hours
        for stage in STAGES:
            row = page.locator(f'.cycle-row[data-stage="{stage}"]')
            assert number(row.locator(".cycle-count").inner_text()) > 0, stage
            assert "no data" not in row.inner_text(), stage
        for level in LEVELS:
            assert number(page.locator(f'.trust-col[data-level="{level}"] .trust-count').inner_text()) > 0, (
                level
            )
        assert page.locator(".chart-empty").count() == 0
        assert page.locator("#stream-body tr").count() > 0
        assert page.locator("#stream-empty").is_hidden()
        page.wait_for_function(
            "() => parseFloat(document.getElementById('rate-value').textContent) > 0", timeout=30_000
        )
        screenshot(page, f"demo-dashboard-{scheme}")
        view.assert_clean()
        page.context.close()


def test_the_demo_traces_page(demo: tuple[Stack, Path, int], browser: Any) -> None:
    up, _, _ = demo
    view = open_page(browser)
    view.page.goto(up.url + "/traces")
    view.page.wait_for_selector("text=INT-001")
    screenshot(view.page, "demo-traces")
    view.assert_clean()
    view.page.context.close()
