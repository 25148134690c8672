"""The real Claude Code CLI, wrapped by `intent-observe run`, into `intent-observe up`'s stack.

`intent-observe run --contract CON-001 -- claude -p …` against a loopback stand-in of the Messages
API (one turn asks for Bash `echo`, the next ends): the CLI's own spans (`claude_code.interaction`,
`claude_code.llm_request`, `claude_code.tool`) must nest under the contract's span in the intent's
trace, and the Claude view must show the tokens the stand-in reported, the cost the CLI computed
and its tool decision — once straight to the stack's receiver, once through the real Collector.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.support.claude_code import MessagesStandIn, claude_binary, claude_env, messages_stand_in
from tests.support.observe import running_stack, wait_for
from tests.support.otelcol import running_collector
from tests.test_browser_app import Watched, browser, open_page, screenshot  # noqa: F401 (browser: a fixture)

from intent_observe.emitter.emit import emit
from intent_observe.otlp.receiver import OtlpReceiver
from intent_observe.stack.stack import Stack

CLI = [sys.executable, "-m", "intent_observe.cli"]
PHASE1 = Path(__file__).resolve().parents[1] / "deploy" / "phase1" / "otelcol.yaml"
PROMPT = "Say hello with echo, then stop."


def _intent_loop(events: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "greeting missing"}, file=events)
    emit("signal.promoted", "SIG-001", "INT-001", file=events)
    emit("intent.proposed", "INT-001", data={"title": "Greet the user"}, file=events)
    emit("spec.created", "SPEC-001", "INT-001", data={"contracts": ["CON-001"]}, file=events)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    events = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    _intent_loop(events)
    return events.parents[2]


@pytest.fixture
def stack(repo: Path) -> Iterator[Stack]:
    with running_stack(repo / ".intent" / "events" / "events.jsonl") as running:
        yield running


@pytest.fixture
def claude_page(request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A page of the browser tests' Chromium (their `browser` fixture, imported above)."""
    watched = open_page(request.getfixturevalue("browser"))
    yield watched
    watched.page.context.close()


@pytest.fixture
def api() -> Iterator[MessagesStandIn]:
    with messages_stand_in() as running:
        yield running


def _receiver(stack: Stack) -> OtlpReceiver:
    assert stack.receiver is not None  # started with the stack
    return stack.receiver


def _run_claude(repo: Path, api: MessagesStandIn, otlp_endpoint: str, home: Path) -> dict[str, Any]:
    """`intent-observe run` around the real CLI; returns the CLI's own JSON result."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEPARENT", "CLAUDE_"))}
    env = claude_env(api, home, {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint})
    claude = [str(claude_binary()), "-p", PROMPT, "--allowedTools", "Bash(echo:*)", "--output-format", "json"]
    wrapped = subprocess.run(
        [*CLI, "run", "--contract", "CON-001", "--", *claude],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert wrapped.returncode == 0, wrapped.stdout + wrapped.stderr
    result: dict[str, Any] = orjson.loads(wrapped.stdout)
    return result


def _get(stack: Stack, path: str) -> Any:
    return httpx.get(f"{stack.url}{path}", timeout=10).json()


def _session_complete(stack: Stack, api: MessagesStandIn) -> Callable[[], dict[str, Any] | None]:
    """The Claude view's session once every API request and the contract's end have arrived."""

    def check() -> dict[str, Any] | None:
        sessions = _get(stack, "/api/claude")["sessions"]
        trace = httpx.get(f"{stack.url}/api/intents/INT-001", timeout=10)
        if len(sessions) != 1 or sessions[0]["api_requests"] != len(api.replies) or trace.status_code != 200:
            return None
        spans = trace.json()["spans"]
        names = {span["name"] for span in spans}
        sent = {span["span_id"] for span in spans}
        # the interaction sits under the contract's run, whose span is sent when the run ends
        placed = all(s["parent_span_id"] in sent for s in spans if s["name"] == "claude_code.interaction")
        done = {"contract CON-001", "claude_code.interaction", "claude_code.tool"} <= names and placed
        return sessions[0] if done and sessions[0]["tool_decisions"]["accept"] else None

    return check


def _ancestors_below(spans: list[dict[str, Any]], span: dict[str, Any], top: str) -> list[dict[str, Any]]:
    """The spans between `span` and its ancestor `top` (which must be one)."""
    by_id = {s["span_id"]: s for s in spans}
    chain: list[dict[str, Any]] = []
    parent = span["parent_span_id"]
    while parent != top:
        assert parent in by_id, f"{span['name']} is not under {top}"
        chain.append(by_id[parent])
        parent = by_id[parent]["parent_span_id"]
    return chain


def _assert_nested_and_counted(stack: Stack, api: MessagesStandIn, result: dict[str, Any]) -> None:
    session = wait_for(_session_complete(stack, api), timeout=60)
    assert [reply.kind for reply in api.replies] == ["tool_use", "text"]
    assert len(api.tool_results) == 1 and "hello-from-the-tool" in api.tool_results[0]  # Bash really ran
    assert result["num_turns"] == 2 and result["is_error"] is False

    trace = _get(stack, "/api/intents/INT-001")
    spans = trace["spans"]
    contract = next(s for s in spans if s["name"] == "contract CON-001")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    [interaction] = by_name["claude_code.interaction"]
    # Its parent is the contract's span, or a phase of it (the wrapped command's run) under that span.
    between = _ancestors_below(spans, interaction, contract["span_id"])
    assert all(span["name"].startswith("contract CON-001") for span in between), between
    requests = by_name["claude_code.llm_request"]
    assert len(requests) == len(api.replies)
    assert {s["parent_span_id"] for s in requests} == {interaction["span_id"]}
    [tool] = by_name["claude_code.tool"]
    assert tool["parent_span_id"] == interaction["span_id"]
    assert tool["attributes"]["tool_name"] == "Bash"
    [execution] = by_name["claude_code.tool.execution"]
    assert execution["parent_span_id"] == tool["span_id"] and execution["attributes"]["success"] is True
    assert all(s["service"] == "claude-code" for s in spans if s["name"].startswith("claude_code."))

    assert session["contract_id"] == "CON-001" and session["intent_id"] == "INT-001"
    assert session["tokens"]["input"] == api.tokens("input") == result["usage"]["input_tokens"]
    assert session["tokens"]["output"] == api.tokens("output") == result["usage"]["output_tokens"]
    assert session["cost_usd"] == pytest.approx(result["total_cost_usd"], rel=1e-6)
    assert session["cost_usd"] > 0
    assert session["tool_decisions"] == {"accept": 1, "reject": 0}
    [per_contract] = _get(stack, "/api/claude")["per_contract"]
    assert per_contract["contract_id"] == "CON-001" and per_contract["api_requests"] == len(api.replies)


@pytest.mark.timeout(300)
def test_claude_code_nests_under_its_contract_in_up(
    repo: Path, stack: Stack, api: MessagesStandIn, tmp_path: Path, claude_page: Watched
) -> None:
    endpoint = f"http://127.0.0.1:{_receiver(stack).grpc_port}"
    result = _run_claude(repo, api, endpoint, tmp_path / "home")
    _assert_nested_and_counted(stack, api, result)
    _assert_the_claude_page_shows(stack, claude_page, result)


def _assert_the_claude_page_shows(stack: Stack, watched: Watched, result: dict[str, Any]) -> None:
    """What a person sees on /claude (Debian's Chromium): the session, its tokens, cost and decision."""
    page = watched.page
    page.goto(f"{stack.url}/claude")
    row = page.locator(f'#claude-sessions tr[data-session="{result["session_id"]}"]')
    row.wait_for()
    # Session, Started, Duration, Worked on, Tokens, Cost, Requests, Errors, Tool decisions
    cells = row.locator("td").all_inner_texts()
    usage = result["usage"]
    assert cells[3] == "CON-001 · INT-001"
    assert cells[4] == f"{usage['input_tokens'] + usage['output_tokens']:,}"
    assert float(cells[5].removeprefix("$")) == pytest.approx(result["total_cost_usd"], abs=5e-5)
    assert cells[6:9] == ["2", "0", "1/0"]
    screenshot(page, "claude-real-session")
    watched.assert_clean()


@pytest.mark.timeout(300)
def test_claude_code_through_the_collector_nests_under_its_contract(
    repo: Path, stack: Stack, api: MessagesStandIn, tmp_path: Path
) -> None:
    """Claude Code → the Collector on the phase-1 config (its Grafana Cloud export pointed at the
    stack's OTLP/HTTP receiver) → `up`."""

    def listeners(ports: dict[str, int]) -> dict[str, Any]:
        protocols = {name: {"endpoint": f"127.0.0.1:{ports[name]}"} for name in ("grpc", "http")}
        return {"receivers": {"otlp": {"protocols": protocols}}}

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "GRAFANA_CLOUD_OTLP_ENDPOINT": f"http://127.0.0.1:{_receiver(stack).http_port}",
        "GRAFANA_CLOUD_INSTANCE_ID": "123456",
        "GRAFANA_CLOUD_API_TOKEN": "glc_test_token",
    }
    with running_collector([PHASE1], tmp_path / "otelcol", listeners, ("grpc", "http"), env) as collector:
        result = _run_claude(repo, api, f"http://127.0.0.1:{collector.ports['grpc']}", tmp_path / "home")
        _assert_nested_and_counted(stack, api, result)
