"""A first `tail` of a long history into Loki (or Grafana Cloud), which refuses the entries older than
it accepts and stores the rest, answering 400: the adapter counts the refused records, writes each to
its dead-letter file with Loki's reason, and goes on to the end — once, even when run again.

Loki cannot run here; tests/support/loki_standin.py answers as it does. What must be refused comes
from `report.read_history`, never from the adapter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.loki_standin import loki_stand_in
from tests.tailing import expected_from, run_tail, tail_env

from intent_observe.sinks.loki_partial import too_old_records

HISTORY = Path(__file__).parent / "fixtures" / "history.jsonl"
SECOND_NS = 10**9
DAY_NS = 86_400 * SECOND_NS


def _dead_letters(state: Path) -> list[dict[str, object]]:
    [path] = state.glob("tail-*.deadletter.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.timeout(180)
def test_too_old_entries_are_dead_lettered_and_the_tail_goes_on(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(HISTORY.read_bytes())
    run = expected_from([events]).run
    # A whole second with no record in it: Loki names its cutoff to the second (see loki_partial).
    cutoff_ns = (max(record.time_ns for record in run.logs) - 30 * DAY_NS) // SECOND_NS * SECOND_NS
    assert not [r for r in run.logs if cutoff_ns <= r.time_ns < cutoff_ns + SECOND_NS]
    too_old = [r for r in run.logs if r.time_ns < cutoff_ns]
    assert 0 < len(too_old) < len(run.logs)  # the fixture spans four months
    state = tmp_path / "state"

    with loki_stand_in(cutoff_ns) as loki:
        env = tail_env(loki.endpoint, "http/protobuf")
        first = run_tail("--once", "--state-dir", str(state), str(events), env=env)
        counted_by_the_first_run = dict(loki.metric_values)
        again = run_tail("--once", "--state-dir", str(state), str(events), env=env)

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    event_id = "intent.event.id"
    assert sorted(loki.accepted_logs) == sorted(
        str(r.attributes[event_id]) for r in run.logs if r.time_ns >= cutoff_ns
    )
    assert sorted(loki.refused_logs) == sorted(str(r.attributes[event_id]) for r in too_old)
    letters = _dead_letters(state)
    refused = [e for e in letters if "too old" in str(e["reason"])]
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


def test_only_a_too_old_answer_is_read_as_a_partial_refusal() -> None:
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
