"""`intent-observe up` as a real process against hostile and careless input (issue 11).

Each test sends what broke it, asserts the answer, that the process is still up within its
memory bound, and that what was good in the same input was kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2
from tests.support.hostile import MIB, TRACE_METHOD, PeakRss, grpc_export, in_parallel, rss_mib, slow_body
from tests.support.observe import history, make_repo, wait_for, wait_until_stored
from tests.support.up import BIN, UpProcess, up_env

TOKEN = "hardening-token-0123456789"
SECRET = "hardening-webhook-secret"
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
PROTOBUF = {"content-type": "application/x-protobuf"}
# What `up` may hold beyond its resting size however hostile the traffic. The receiver's admission
# budget is 64 MiB of bodies in flight; receiving a body and handing it to the decoding process
# costs about three times its size. Measured on 2026-12-06: 40 concurrent authorised 16 MiB gRPC
# calls +205–225 MiB at peak; 40 slow 15 MiB HTTP bodies +148 MiB.
FLOOD_BOUND_MIB = 300
# Unauthenticated, nothing is received at all (measured: +2 MiB for 40 × 16 MiB gRPC calls).
UNAUTHENTICATED_BOUND_MIB = 64
TOO_LATE_NS = 2**63  # one past the largest time SQLite can hold


# ----------------------------------------------------------------------------- helpers
def span(request: ExportTraceServiceRequest, name: str, trace: int, index: int, start: int) -> None:
    scope = request.resource_spans[0].scope_spans[0] if request.resource_spans else None
    if scope is None:
        scope = request.resource_spans.add().scope_spans.add()
    scope.spans.add(
        name=name,
        trace_id=trace.to_bytes(16, "big"),
        span_id=index.to_bytes(8, "big"),
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1000,
    )


def gauge(request: ExportMetricsServiceRequest, name: str, value: float, time_ns: int | None = None) -> None:
    if not request.resource_metrics:
        request.resource_metrics.add().scope_metrics.add()
    metric = request.resource_metrics[0].scope_metrics[0].metrics.add(name=name)
    metric.gauge.data_points.add(as_double=value, time_unix_nano=time_ns or time.time_ns())


def metrics_text(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text


def trace_of(url: str, trace: int, headers: dict[str, str] | None = None) -> dict[str, Any] | None:
    response = httpx.get(f"{url}/api/traces/{trace:032x}", headers=headers or {}, timeout=10)
    return response.json() if response.status_code == 200 else None


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def webhook(url: str, payload: dict[str, Any], delivery: str, event: str = "push") -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10)


def push(message: str, added: Any) -> dict[str, Any]:
    commit = {"id": hashlib.sha1(message.encode()).hexdigest(), "message": message, "added": added}
    return {"ref": "refs/heads/main", "after": commit["id"], "commits": [commit], "head_commit": commit}


@dataclass
class Target:
    up: UpProcess
    repo: Path
    resting_mib: float  # resident size once the fixture history is stored
    headers: dict[str, str]  # the bearer token when one guards it

    @property
    def url(self) -> str:
        return self.up.url

    def assert_healthy(self, bound_mib: float = FLOOD_BOUND_MIB) -> None:
        """Still running, answering, and within its memory bound over its resting size."""
        assert self.up.alive(), self.up.log()
        assert httpx.get(f"{self.url}/api/status", headers=self.headers, timeout=10).status_code == 200
        assert rss_mib(self.up.pid) < self.resting_mib + bound_mib


def started(repo: Path, *args: str, **env: str) -> Target:
    """`up` in `repo` (holding the fixture history), once that history is stored."""
    (repo / ".git").mkdir(parents=True, exist_ok=True)
    docs = history(datetime.now(UTC))
    make_repo(repo, docs)
    up = UpProcess(repo, *args, env=up_env(OTEL_METRIC_EXPORT_INTERVAL="500", **env))
    token = env.get("INTENT_OBSERVE_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    wait_until_stored(up.url, len(docs), headers)
    return Target(up, repo, rss_mib(up.pid), headers)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """`up` on loopback over the small fixture history, the GitHub webhook switched on."""
    running = started(tmp_path_factory.mktemp("repo"), INTENT_OBSERVE_GITHUB_SECRET=SECRET)
    try:
        yield running
    finally:
        assert running.up.stop() == 0


def one_span(name: str, trace: int) -> bytes:
    request = ExportTraceServiceRequest()
    span(request, name, trace, 1, time.time_ns())
    return request.SerializeToString()


# ------------------------------------------------ 1. admission before work: memory, concurrency
@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """`up` beyond loopback, so every request needs the token."""
    running = started(tmp_path_factory.mktemp("guarded"), "--host", "0.0.0.0", INTENT_OBSERVE_TOKEN=TOKEN)
    try:
        yield running
    finally:
        assert running.up.stop() == 0


def test_unauthenticated_grpc_calls_are_refused_before_their_16_mib_are_received(guarded: Target) -> None:
    body = os.urandom(16 * MIB - 1024)
    port = guarded.up.grpc_port
    assert port is not None
    with PeakRss(guarded.up.pid) as rss:
        codes = in_parallel(40, lambda: grpc_export(port, TRACE_METHOD, body)[0])
    assert codes == ["UNAUTHENTICATED"] * 40
    assert rss.growth < UNAUTHENTICATED_BOUND_MIB, f"{rss.before:.0f} → {rss.peak:.0f} MiB"
    code, _ = grpc_export(port, TRACE_METHOD, one_span("after the flood", 0xA1), TOKEN)
    assert code == "OK" and trace_of(guarded.url, 0xA1, guarded.headers) is not None
    guarded.assert_healthy(UNAUTHENTICATED_BOUND_MIB)


def test_an_authorised_grpc_flood_is_held_to_the_admission_budget(guarded: Target) -> None:
    body = os.urandom(16 * MIB - 1024)  # not a protobuf message: each admitted call is refused
    port = guarded.up.grpc_port
    assert port is not None
    with PeakRss(guarded.up.pid) as rss:
        codes = in_parallel(40, lambda: grpc_export(port, TRACE_METHOD, body, TOKEN)[0])
    assert set(codes) <= {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"} and len(codes) == 40, codes
    assert rss.growth < FLOOD_BOUND_MIB, f"{rss.before:.0f} → {rss.peak:.0f} MiB"
    code, _ = grpc_export(port, TRACE_METHOD, one_span("after the authorised flood", 0xA2), TOKEN)
    assert code == "OK" and trace_of(guarded.url, 0xA2, guarded.headers) is not None
    guarded.assert_healthy()


def test_slow_http_bodies_beyond_the_budget_get_429_without_being_read(target: Target) -> None:
    port = target.up.http_port
    assert port is not None
    with PeakRss(target.up.pid) as rss:
        answers = in_parallel(40, lambda: slow_body(port, 8.0))
    reading = [a for a in answers if a == "reading"]
    refused = [a for a in answers if a.startswith("HTTP/1.1 429")]
    # the budget (64 MiB) holds four 15 MiB bodies: the others wait 5 s and are refused unread
    assert len(reading) <= 4 and len(refused) + answers.count("reset") >= 36, answers
    assert refused and all("retry-after: 2" in a.lower() for a in refused)
    assert rss.growth < FLOOD_BOUND_MIB, f"{rss.before:.0f} → {rss.peak:.0f} MiB"
    sent = httpx.post(
        f"http://127.0.0.1:{port}/v1/traces",
        content=one_span("after the slow bodies", 0xA3),
        headers=PROTOBUF,
    )
    assert sent.status_code == 200 and trace_of(target.url, 0xA3) is not None
    target.assert_healthy()


# ---------------------------------------------------- 2. NaN and ±Inf gauges are legal OTLP
def test_nan_and_infinite_gauges_are_stored_beside_the_good_ones(target: Target) -> None:
    request = ExportMetricsServiceRequest()
    for name, value in (("nan", math.nan), ("pinf", math.inf), ("minf", -math.inf), ("good", 42.0)):
        gauge(request, f"intent.hardening.{name}", value)
    answer = httpx.post(
        f"http://127.0.0.1:{target.up.http_port}/v1/metrics",
        content=request.SerializeToString(),
        headers=PROTOBUF,
    )
    assert answer.status_code == 200 and not answer.content  # no partial success: all stored
    lines = set(metrics_text(target.url).splitlines())
    expected = {"intent_hardening_nan NaN", "intent_hardening_pinf +Inf", "intent_hardening_minf -Inf"}
    assert expected | {"intent_hardening_good 42"} <= lines
    target.assert_healthy()


# --------------------------------------------- 3. hostile names cannot break the exposition
def test_hostile_metric_names_and_labels_leave_metrics_valid_for_promtool(target: Target) -> None:
    request = ExportMetricsServiceRequest()
    gauge(request, 'intent.x"} 1\nintent_injected{a="b', 1.0)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    for key, value in (('a"\n', 'v"\\\n'), ("le", "1"), ("__name__", "x"), ("a_", "dup"), ("0x", "é")):
        point.attributes.add(key=key).value.string_value = value
    gauge(request, "intent.hardening.h.count", 2.0)
    histogram = request.resource_metrics[0].scope_metrics[0].metrics.add(name="intent.hardening.h").histogram
    histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    histogram.data_points.add(count=3, sum=math.nan, explicit_bounds=[1.0], bucket_counts=[1, 2])
    answer = httpx.post(
        f"http://127.0.0.1:{target.up.http_port}/v1/metrics",
        content=request.SerializeToString(),
        headers=PROTOBUF,
    )
    assert answer.status_code == 200
    text = metrics_text(target.url)
    assert not any(line.startswith("intent_injected") for line in text.splitlines())
    assert "intent_signals_total" in text and "intent_hardening_h_bucket" in text
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    report = (lint.stdout + lint.stderr).decode()
    # exit 3 is lint advice (hostile names may read as units); 1 would be a format error
    assert lint.returncode in (0, 3) and "error" not in report, report
    target.assert_healthy()


# ------------------------------------------------------ 4. an over-long line in the events file
def _envelope(event: str, span_id: str, **data: Any) -> bytes:
    doc = {
        "version": "0.2.0", "event": event, "timestamp": datetime.now(UTC).isoformat(), "span_id": span_id,
        "source": "cli", "actor": "dev", "data": data,
    }  # fmt: skip
    return json.dumps(doc).encode() + b"\n"


def _event_stored(url: str, text: str, headers: dict[str, str] | None = None) -> bool:
    found = httpx.get(f"{url}/api/events", params={"q": text}, headers=headers or {}, timeout=10).json()
    return bool(found["events"])


def test_a_line_over_64_mib_is_dead_lettered_and_the_tail_goes_on(target: Target) -> None:
    events = target.repo / ".intent" / "events" / "events.jsonl"
    offset = events.stat().st_size
    long_line = b'{"event": "signal.created", "data": {"title": "' + b"a" * (65 * MIB) + b'"}}\n'
    with events.open("ab") as out:
        out.write(long_line)
        out.write(_envelope("signal.created", "SIG-901", title="after the long line"))
    wait_for(lambda: _event_stored(target.url, "SIG-901"), timeout=60, interval=0.2)
    letters = (target.repo / ".intent" / "observe" / "up-tail").glob("*.deadletter.jsonl")
    entries = [json.loads(line) for path in letters for line in path.read_text().splitlines()]
    long = [e for e in entries if e["offset"] == offset]
    assert len(long) == 1 and f"line of {len(long_line)} bytes" in long[0]["reason"], long
    target.assert_healthy()


# --------------------------------------------------------------- 5. times from 2^63 on
def _json_spans(trace: int, starts: list[int]) -> bytes:
    spans = [
        {"traceId": f"{trace:032x}", "spanId": f"{i + 1:016x}", "name": f"span {i}",
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1000)}
        for i, start in enumerate(starts)
    ]  # fmt: skip
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


@pytest.mark.parametrize("wire", ["grpc", "json"])
def test_times_from_2_63_on_are_refused_per_item_and_the_rest_stored(target: Target, wire: str) -> None:
    trace, now = (0xB1 if wire == "grpc" else 0xB2), time.time_ns()
    starts = [TOO_LATE_NS, now, now + 1]
    if wire == "grpc":
        request = ExportTraceServiceRequest()
        for index, start in enumerate(starts):
            span(request, f"span {index}", trace, index + 1, start)
        assert target.up.grpc_port is not None
        code, raw = grpc_export(target.up.grpc_port, TRACE_METHOD, request.SerializeToString())
        assert code == "OK"
        rejected = ExportTraceServiceResponse.FromString(raw).partial_success.rejected_spans
    else:
        answer = httpx.post(
            f"http://127.0.0.1:{target.up.http_port}/v1/traces",
            content=_json_spans(trace, starts),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200
        rejected = int(answer.json()["partialSuccess"]["rejectedSpans"])
    assert rejected == 1
    stored = trace_of(target.url, trace)
    assert stored is not None and sorted(s["name"] for s in stored["spans"]) == ["span 1", "span 2"]
    target.assert_healthy()


def test_a_log_record_from_2_63_on_is_refused_and_its_neighbour_stored(target: Target) -> None:
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(time_unix_nano=2**64 - 1).body.string_value = "too late to store"
    records.add(time_unix_nano=time.time_ns()).body.string_value = "stored beside it"
    assert target.up.grpc_port is not None
    code, raw = grpc_export(target.up.grpc_port, LOGS_METHOD, request.SerializeToString())
    assert (
        code == "OK" and ExportLogsServiceResponse.FromString(raw).partial_success.rejected_log_records == 1
    )
    target.assert_healthy()


# -------------------------------------------------- 6. symbolic links are never followed
def _up_exits(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`up` in `repo` expected to refuse to start: its exit status and what it said."""
    (repo / ".git").mkdir(parents=True, exist_ok=True)
    command = [str(BIN), "up", "--port", "0", "--grpc-port", "0", "--http-port", "0", *args]
    return subprocess.run(command, cwd=repo, env=up_env(), capture_output=True, text=True, timeout=60)


def test_an_events_file_linked_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("password=hunter2\n")
    events = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    events.symlink_to(secret)
    read = _up_exits(tmp_path / "repo")
    assert read.returncode == 2 and "symbolic link" in read.stdout + read.stderr
    observe = tmp_path / "repo" / ".intent" / "observe"
    assert not any("hunter2" in p.read_text(errors="replace") for p in observe.rglob("*") if p.is_file())
    events.unlink()
    events.symlink_to(outside / "written-by-up.jsonl")  # dangling: a write would create it
    demo = _up_exits(tmp_path / "repo", "--demo")
    assert demo.returncode == 2 and "symbolic link" in demo.stdout + demo.stderr
    assert not (outside / "written-by-up.jsonl").exists()
    assert "Traceback" not in read.stderr + demo.stderr


def test_the_webhook_never_appends_through_a_symbolic_link(tmp_path: Path) -> None:
    running = started(tmp_path / "repo", INTENT_OBSERVE_GITHUB_SECRET=SECRET)
    try:
        events = running.repo / ".intent" / "events" / "events.jsonl"
        outside = tmp_path / "outside.jsonl"
        events.unlink()
        events.symlink_to(outside)
        answer = webhook(running.url, push("CON-001 through a link", ["a.py"]), "link-1")
        assert answer.status_code == 422 and "symbolic link" in answer.json()["detail"]
        assert not outside.exists()

        def reported() -> dict[str, Any] | None:
            status = httpx.get(f"{running.url}/api/status", timeout=10).json()
            return status if not status["tail"]["ok"] else None

        status = wait_for(reported, timeout=20)
        assert "symbolic link" in status["files"][0]["problem"]
        assert "intent_observe_tail_up 0" in metrics_text(running.url).splitlines()
        running.assert_healthy()
    finally:
        assert running.up.stop() == 0


def test_what_up_keeps_for_itself_is_private(target: Target) -> None:
    observe = target.repo / ".intent" / "observe"
    for directory in (observe, observe / "up-tail"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    files = [observe / "store.db", observe / "store.db-wal", *(observe / "up-tail").iterdir()]
    assert len(files) > 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# ---------------------------------------- 7. the tail's health, FIFOs and directories
@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_an_events_path_that_is_a_directory_or_a_fifo_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    events = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    events.parent.mkdir(parents=True)
    if kind == "directory":
        events.mkdir()
    else:
        os.mkfifo(events)
    started_at = time.monotonic()
    result = _up_exits(tmp_path / "repo")
    assert result.returncode == 2 and kind in result.stdout + result.stderr, result.stdout + result.stderr
    assert time.monotonic() - started_at < 20 and "Traceback" not in result.stderr


def test_a_fifo_in_place_of_the_followed_file_is_reported_and_stops_nothing(tmp_path: Path) -> None:
    running = started(tmp_path / "repo")
    events = running.repo / ".intent" / "events" / "events.jsonl"
    events.unlink()
    os.mkfifo(events)

    def reported() -> dict[str, Any] | None:
        status = httpx.get(f"{running.url}/api/status", timeout=10).json()
        return status if status["files"][0]["problem"] else None

    status = wait_for(reported, timeout=20)
    assert "FIFO" in status["files"][0]["problem"] and status["tail"]["ok"] is False
    assert "intent_observe_tail_up 0" in metrics_text(running.url).splitlines()
    running.assert_healthy()
    stopping = time.monotonic()
    assert running.up.stop() == 0
    assert time.monotonic() - stopping < 10


def test_a_failed_tail_is_restarted_and_its_failure_shown(tmp_path: Path) -> None:
    running = started(tmp_path / "repo")
    try:
        state = next((running.repo / ".intent" / "observe" / "up-tail").glob("*.sqlite"))
        # another process (a backup, a curious sqlite3 shell) holds the state database's write lock:
        # the tail cannot commit its next batch and stops
        holder = sqlite3.connect(state, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        events = running.repo / ".intent" / "events" / "events.jsonl"
        with events.open("ab") as out:
            out.write(_envelope("signal.created", "SIG-902", title="after the failure"))

        def failed() -> dict[str, Any] | None:
            tail = httpx.get(f"{running.url}/api/status", timeout=10).json()["tail"]
            return tail if tail["restarts"] >= 1 else None

        tail = wait_for(failed, timeout=30)
        assert tail["ok"] is False and "locked" in tail["error"]
        assert "intent_observe_tail_up 0" in metrics_text(running.url).splitlines()
        holder.execute("ROLLBACK")
        holder.close()
        wait_for(lambda: _event_stored(running.url, "SIG-902"), timeout=60, interval=0.5)
        wait_for(lambda: httpx.get(f"{running.url}/api/status", timeout=10).json()["tail"]["ok"], timeout=30)
        lines = metrics_text(running.url).splitlines()
        assert "intent_observe_tail_up 1" in lines
        restarts = [line for line in lines if line.startswith("intent_observe_tail_restarts_total ")]
        assert restarts and float(restarts[0].split()[-1]) >= 1
        running.assert_healthy()
    finally:
        assert running.up.stop() == 0


# ------------------------------------------------------------------------------ 8. the rest
def test_webhook_replays_are_recognised_by_their_signed_body(target: Target) -> None:
    delivery = push("CON-001 replayed", ["docs/a.md"])
    first = webhook(target.url, delivery, "delivery-1")
    assert first.status_code == 200 and first.json()["appended"] == ["github.push"]
    replay = webhook(target.url, delivery, "another-delivery-id")  # the header is not signed
    assert replay.status_code == 200 and replay.json()["appended"] == []
    long_id = "x" * 300
    other = push("CON-001 with a long delivery id", ["docs/b.md"])
    assert webhook(target.url, other, long_id).json()["appended"] == ["github.push"]
    assert webhook(target.url, other, long_id).json()["appended"] == []
    target.assert_healthy()


def test_a_signed_push_with_non_string_paths_is_refused_with_the_field(target: Target) -> None:
    answer = webhook(target.url, push("CON-001 odd paths", [5, {"x": 1}]), "odd-paths")
    assert answer.status_code == 422 and "commits[0].added" in answer.json()["detail"]
    target.assert_healthy()


def test_otlp_json_nested_200_deep_gets_a_short_400(target: Target) -> None:
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(200):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "deep", "value": value}]}}]}
    answer = httpx.post(
        f"http://127.0.0.1:{target.up.http_port}/v1/traces",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400 and len(answer.content) < 300 and "nested" in answer.text
    target.assert_healthy()


def test_a_host_header_naming_another_site_is_refused_on_loopback(target: Target) -> None:
    rebound = {"Host": f"attacker.example:{target.up.http_port}"}
    app = httpx.get(f"{target.url}/api/summary", headers=rebound, timeout=10)
    otlp = httpx.post(
        f"http://127.0.0.1:{target.up.http_port}/v1/traces",
        content=one_span("rebound", 0xC1),
        headers={**PROTOBUF, **rebound},
    )
    assert (app.status_code, otlp.status_code) == (421, 421)
    assert (
        httpx.get(f"{target.url}/api/summary", headers={"Host": "localhost"}, timeout=10).status_code == 200
    )
    assert trace_of(target.url, 0xC1) is None
    target.assert_healthy()


def test_huge_integers_and_nul_bytes_in_addresses_get_4xx(target: Target) -> None:
    for path, params in (
        ("/api/events", {"since": str(2**64)}),
        ("/api/events", {"before_id": str(2**63)}),
        ("/api/events", {"before": f"1:{2**63}"}),
        ("/api/summary", {"until": str(10**30)}),
    ):
        assert httpx.get(f"{target.url}{path}", params=params, timeout=10).status_code == 422, (path, params)
    assert httpx.get(f"{target.url}/static/js/api%00.js", timeout=10).status_code == 404
    target.assert_healthy()


def test_docs_work_offline_under_the_content_security_policy(target: Target) -> None:
    page = httpx.get(f"{target.url}/docs", timeout=10)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any("/js/pages/docs.js" in source for source in sources)
    assert all(source.startswith("/") for source in sources), sources  # nothing from elsewhere
    for source in sources:
        assert httpx.get(f"{target.url}{source}", timeout=10).status_code == 200, source
    assert httpx.get(f"{target.url}/openapi.json", timeout=10).json()["paths"]["/api/events"]
    target.assert_healthy()


def test_a_blank_token_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = subprocess.run(
        [str(BIN), "up", "--port", "0", "--grpc-port", "0", "--http-port", "0"],
        cwd=tmp_path, env=up_env(INTENT_OBSERVE_TOKEN="   "), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "blank" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
