"""A first `tail` of a long history into Loki (or Grafana Cloud), which refuses the entries older than
it accepts and stores the rest, answering 400:

- straight from the adapter: it counts the refused records, writes each to its dead-letter file with
  Loki's reason, and goes on to the end — once, even when run again;
- through the Collector (phase 1's config): the Collector's exporter takes the 400 as a permanent
  error and drops that request's refused records (Loki kept the rest); the adapter, answered by the
  Collector, goes on to the end with nothing to dead-letter.

Loki cannot run here; tests/support/loki_standin.py answers as it does. What must be refused comes
from `report.read_history`, never from the adapter.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.loki_standin import TOO_FAR_BEHIND, TOO_OLD, loki_stand_in
from tests.support.otelcol import running_collector
from tests.tailing import expected_from, run_tail, tail_env

from intent_observe.records import LogRecord
from intent_observe.report import Run
from intent_observe.sinks.loki_partial import too_old_records

HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"
PHASE1 = Path(__file__).resolve().parents[1] / "deploy" / "phase1" / "otelcol.yaml"
SECOND_NS = 10**9
DAY_NS = 86_400 * SECOND_NS


def _dead_letters(state: Path) -> list[dict[str, object]]:
    [path] = state.glob("tail-*.deadletter.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass(frozen=True)
class Replay:
    events: Path
    run: Run
    cutoff_ns: int
    too_old: list[LogRecord]

    def event_ids(self, records: list[LogRecord]) -> list[str]:
        return sorted(str(r.attributes["intent.event.id"]) for r in records)

    @property
    def kept(self) -> list[LogRecord]:
        return [r for r in self.run.logs if r.time_ns >= self.cutoff_ns]


def _replay(tmp_path: Path) -> Replay:
    """The fixture history, and a Loki window that takes its last 30 days."""
    events = tmp_path / "events.jsonl"
    events.write_bytes(HISTORY.read_bytes())
    run = expected_from([events]).run
    # A whole second with no record in it: Loki names its cutoff to the second (see loki_partial).
    cutoff_ns = (max(record.time_ns for record in run.logs) - 30 * DAY_NS) // SECOND_NS * SECOND_NS
    assert not [r for r in run.logs if cutoff_ns <= r.time_ns < cutoff_ns + SECOND_NS]
    too_old = [r for r in run.logs if r.time_ns < cutoff_ns]
    assert 0 < len(too_old) < len(run.logs)  # the fixture spans four months
    return Replay(events, run, cutoff_ns, too_old)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("wording", [TOO_OLD, TOO_FAR_BEHIND])
def test_too_old_entries_are_dead_lettered_and_the_tail_goes_on(tmp_path: Path, wording: str) -> None:
    """Older than Loki keeps, or further behind their stream's newest entry than its out-of-order
    window: both cutoffs only move forward, so a retry would be refused again; each record is
    dead-lettered with Loki's reason, never resent, never stamped with another time."""
    replay = _replay(tmp_path)
    events, run, cutoff_ns, too_old = replay.events, replay.run, replay.cutoff_ns, replay.too_old
    state = tmp_path / "state"

    with loki_stand_in(cutoff_ns, wording) as loki:
        env = tail_env(loki.endpoint, "http/protobuf")
        first = run_tail("--once", "--state-dir", str(state), str(events), env=env)
        counted_by_the_first_run = dict(loki.metric_values)
        again = run_tail("--once", "--state-dir", str(state), str(events), env=env)

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert sorted(loki.accepted_logs) == replay.event_ids(replay.kept)
    assert sorted(loki.refused_logs) == replay.event_ids(too_old)
    letters = _dead_letters(state)
    refused = [e for e in letters if f"refused by the backend as {wording}" in str(e["reason"])]
    want = sorted(
        (
            r.attributes["intent.event.file"],
            r.attributes["intent.event.line"],
            r.attributes["intent.event.offset"],
        )
        for r in too_old
    )
    assert sorted((e["file"], e["line"], e["offset"]) for e in refused) == want  # each once, after two runs
    # beside the fixture's unusable lines, as before
    assert len(letters) == len(refused) + len(run.rejected)
    rejected = counted_by_the_first_run["intent.adapter.lines_rejected"]
    assert rejected == len(too_old) + len(run.rejected)


@pytest.mark.timeout(180)
def test_through_the_collector_the_refused_entries_are_dropped_there_and_the_tail_goes_on(
    tmp_path: Path,
) -> None:
    replay = _replay(tmp_path)
    state = tmp_path / "state"

    def listeners(ports: dict[str, int]) -> dict[str, Any]:
        protocols = {name: {"endpoint": f"127.0.0.1:{ports[name]}"} for name in ("grpc", "http")}
        return {"receivers": {"otlp": {"protocols": protocols}}}

    with loki_stand_in(replay.cutoff_ns) as loki:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "GRAFANA_CLOUD_OTLP_ENDPOINT": loki.endpoint,
            "GRAFANA_CLOUD_INSTANCE_ID": "123456",
            "GRAFANA_CLOUD_API_TOKEN": "glc_test_token",
        }
        with running_collector([PHASE1], tmp_path / "otelcol", listeners, ("grpc", "http"), env) as collector:
            endpoint = f"http://127.0.0.1:{collector.ports['grpc']}"
            done = run_tail("--once", "--state-dir", str(state), str(replay.events), env=tail_env(endpoint))
            assert done.returncode == 0, done.stderr
            deadline = time.monotonic() + 30
            while "Dropping data" not in collector.log() and time.monotonic() < deadline:
                time.sleep(0.2)
        dropped = [line for line in collector.log().splitlines() if "Dropping data" in line]

    assert sorted(loki.accepted_logs) == replay.event_ids(replay.kept)
    assert sorted(loki.refused_logs) == replay.event_ids(replay.too_old)
    assert dropped and all("Permanent error" in line and "Status Code 400" in line for line in dropped)
    # The Collector counts every record of a refused request as dropped, those Loki stored too.
    counted = sum(int(n) for line in dropped for n in re.findall(r'"dropped_items": (\d+)', line))
    assert counted >= len(replay.too_old)
    assert len(_dead_letters(state)) == len(replay.run.rejected)  # the adapter's own bad lines only


def test_only_an_answer_about_entries_times_is_read_as_a_partial_refusal() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = 1_700_000_000 * SECOND_NS + 500_000_000  # 2023-11-14T22:13:20.5Z
    record.attributes.add(key="intent.event.line").value.int_value = 7
    payload = request.SerializeToString()

    def answer(cutoff: str) -> str:
        return f"entry for stream '{{}}' has timestamp too old: x, oldest acceptable timestamp is: {cutoff}"

    [refused] = too_old_records(payload, answer("2023-11-14T22:13:20.5000001Z"))
    assert refused.line == 7 and "2023-11-14T22:13:20.5000001Z" in refused.reason
    assert too_old_records(payload, answer("2023-11-14T22:13:20.5Z")) == ()  # not older than the cutoff
    assert len(too_old_records(payload, answer("2023-11-14T22:13:20Z"))) == 1  # within the named second
    assert too_old_records(payload, answer("2023-11-14T22:13:19Z")) == ()
    assert too_old_records(payload, "entry for stream '{a=\"b\"}' exceeds max line size") == ()
    # Loki's pusher names each entry too far behind its stream's newest, with that stream's cutoff:
    # where streams name several, the latest counts (a record between two: refused, not lost unseen)
    behind = (
        "entry with timestamp 2023-11-14 22:13:20.5 +0000 UTC ignored, reason: 'entry too far behind, entry "
        "timestamp is: 2023-11-14T22:13:20Z, oldest acceptable timestamp is: {cutoff}',\n"
    )
    [refused] = too_old_records(payload, behind.format(cutoff="2023-11-14T22:13:21Z"))
    assert refused.line == 7 and "too far behind" in refused.reason
    assert too_old_records(payload, behind.format(cutoff="2023-11-14T22:13:19Z")) == ()
    two = behind.format(cutoff="2023-11-14T22:13:19Z") + behind.format(cutoff="2023-11-14T22:13:21Z")
    assert len(too_old_records(payload, two + "user 'fake', total ignored: 2 out of 2 for stream: {}")) == 1
