"""What the tail tests share: the adapter as a real process, and the records a file must yield.

The expected records always come from `report.read_history` (the whole-file reader that
`inspect` uses), never from the adapter itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from tests.support.recording import Received

from intent_observe.metrics.catalog import DOMAIN_METRICS
from intent_observe.metrics.derive import as_json, snapshot
from intent_observe.records import SpanRecord
from intent_observe.report import Run, read_history

REPO_ROOT = Path(__file__).resolve().parents[1]
DOMAIN_NAMES = {m.name for m in DOMAIN_METRICS}


@dataclass(frozen=True)
class Expected:
    span_ids: set[str]
    logs: set[tuple[str, str, str]]  # (intent.event.id, trace id, span id)
    run: Run

    def span_contents(self) -> dict[str, SpanContent]:
        return {span_id: span_content(span) for span_id, span in self.run.spans.items()}


# What a backend shows of a span: where it sits, when, its status, attributes and links.
SpanContent = tuple[str, str, str, int, int, bool, str, str]


def span_content(span: SpanRecord) -> SpanContent:
    links = sorted((link.trace_id, link.span_id) for link in span.links)
    attrs = orjson.dumps(span.attributes, option=orjson.OPT_SORT_KEYS).decode()
    return (
        span.trace_id,
        span.parent_span_id or "",
        span.name,
        span.start_ns,
        span.end_ns,
        span.error,
        attrs,
        orjson.dumps(links).decode(),
    )


def received_content(span: dict[str, Any]) -> SpanContent:
    links = sorted((link["trace_id"], link["span_id"]) for link in span["links"])
    attrs = orjson.dumps(span["attributes"], option=orjson.OPT_SORT_KEYS).decode()
    return (
        span["trace_id"],
        span["parent_span_id"],
        span["name"],
        span["start_ns"],
        span["end_ns"],
        span["status_code"] == 2,
        attrs,
        orjson.dumps(links).decode(),
    )


def expected_from(paths: Iterable[Path], scope: str = "") -> Expected:
    run = read_history([str(p) for p in paths], scope=scope)
    logs = {(str(r.attributes["intent.event.id"]), r.trace_id, r.span_id) for r in run.logs}
    return Expected(set(run.spans), logs, run)


def log_keys(received: Received) -> set[tuple[str, str, str]]:
    return {(r["attributes"]["intent.event.id"], r["trace_id"], r["span_id"]) for r in received.logs}


def has_all(expected: Expected):  # type: ignore[no-untyped-def]
    """A `wait_for` predicate: every expected span id and log record has arrived."""

    def check(received: Received) -> bool:
        return expected.span_ids <= received.span_ids and expected.logs <= log_keys(received)

    return check


def assert_exactly(received: Received, expected: Expected) -> None:
    """The receiver holds exactly the expected span ids and log records: nothing lost, nothing extra,
    and every copy of a span, however often it was delivered, is the span a clean read makes."""
    got_logs = log_keys(received)
    missing_spans = expected.span_ids - received.span_ids
    extra_spans = received.span_ids - expected.span_ids
    assert not missing_spans and not extra_spans, (len(missing_spans), len(extra_spans))
    missing_logs = expected.logs - got_logs
    extra_logs = got_logs - expected.logs
    assert not missing_logs and not extra_logs, (len(missing_logs), len(extra_logs))
    assert_spans_final(received, expected)


def assert_spans_final(received: Received, expected: Expected) -> None:
    """No span id arrives with content other than the clean run's (a span is sent once, final)."""
    contents = expected.span_contents()
    differing = [s["span_id"] for s in received.spans if received_content(s) != contents.get(s["span_id"])]
    assert not differing, (len(differing), differing[:3])


def latest_metrics(received: Received) -> dict[str, Any]:
    """The intent.* series of the last metrics export (a closed intent's gauge series ends
    with it), in the shape `metrics_of` gives."""
    points = [p for p in received.points if p["metric"] in DOMAIN_NAMES]
    last = max((p["time_ns"] for p in points), default=0)
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for point in points:
        if point["time_ns"] == last:
            newest[(point["metric"], repr(sorted(point["attributes"].items())))] = point
    out: dict[str, Any] = {}
    for (name, _), point in sorted(newest.items()):
        entry = out.setdefault(name, [])
        if point["kind"] == "histogram":
            entry.append((point["attributes"], point["count"], round(point["value"], 6)))
        else:
            entry.append((point["attributes"], point["value"]))
    return out


def metrics_of(run: Run) -> dict[str, Any]:
    """read_history's metric values, in the shape `latest_metrics` gives."""
    out: dict[str, Any] = {}
    for name, doc in sorted(as_json(snapshot(run.engine.state)).items()):
        entry = out.setdefault(name, [])
        for point in doc["points"]:
            if "count" in point:
                entry.append((point["labels"], point["count"], round(point["sum"], 6)))
            else:
                entry.append((point["labels"], float(point["value"])))
    return out


def tail_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "intent_observe.cli", "tail", *args]


def tail_env(endpoint: str, protocol: str = "grpc", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_METRIC_EXPORT_INTERVAL="500",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_tail(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(tail_command(*args), env=env, capture_output=True, text=True, timeout=timeout)


class TailProcess:
    """`intent-observe tail` following files in the background, stopped by a signal."""

    def __init__(self, *args: str, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(tail_command(*args), env=env, stdout=log_file, stderr=log_file)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False


def write_lines(path: Path, lines: Iterable[bytes], mode: str = "ab") -> None:
    with path.open(mode) as fh:
        for raw in lines:
            fh.write(raw + b"\n")
