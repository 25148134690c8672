"""`intent-observe tail` as a real process against the real OTLP receiver on 127.0.0.1."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import orjson
import pytest
from tests.support.receiver import receiver_in_thread
from tests.support.recording import ReceiverControl, RecordingConsumer, read_received
from tests.support.startup import modules_loaded

from intent_observe import layout
from intent_observe.events import Event, Position, parse_line
from intent_observe.identity import checkpoint
from intent_observe.identity.checkpoint import Checkpoint
from intent_observe.otlp.receiver import ReceiverConfig
from intent_observe.sinks.chain import Retry
from intent_observe.sources import synthetic
from intent_observe.sources.tail import EXIT_FAILED, EXIT_OK, Batch, TailAdapter, TailConfig, TailedFile
from intent_observe.sources.watch import FileWatcher
from tailing import (
    TailProcess,
    assert_exactly,
    expected_from,
    has_all,
    latest_metrics,
    log_keys,
    metrics_of,
    run_tail,
    tail_env,
    write_lines,
)

FIXTURE = Path(__file__).parent / "fixtures" / "history.jsonl"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_once_exports_exactly_what_read_history_reads(tmp_path: Path, protocol: str) -> None:
    events = tmp_path / "events.jsonl"
    shutil.copy(FIXTURE, events)
    expected = expected_from([events])
    with receiver_in_thread(tmp_path / "rx") as rx:
        endpoint = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint
        done = run_tail(
            "--once", "--state-dir", str(tmp_path / "state"), str(events), env=tail_env(endpoint, protocol)
        )
        assert done.returncode == EXIT_OK, done.stderr
        received = rx.received()
    assert_exactly(received, expected)
    # the same log records, attribute for attribute (only the observed time differs: it is the read time)
    by_id = {r.attributes["intent.event.id"]: r for r in expected.run.logs}
    for got in received.logs:
        want = by_id[got["attributes"]["intent.event.id"]]
        assert (got["body"], got["time_ns"], got["severity_number"]) == (
            want.body,
            want.time_ns,
            want.severity_number,
        )
        assert got["attributes"] == want.attributes
        assert got["resource"]["service.name"] == "intent"
    # the newest version of every span is the one read_history ends with
    newest = {}
    for span in sorted(received.spans, key=lambda s: s["end_ns"]):
        newest[span["span_id"]] = span
    for span_id, want in expected.run.spans.items():
        got = newest[span_id]
        assert (got["trace_id"], got["parent_span_id"] or None, got["name"]) == (
            want.trace_id,
            want.parent_span_id,
            want.name,
        )
        assert got["end_ns"] == want.end_ns
    assert latest_metrics(received) == metrics_of(expected.run)


def test_unusable_lines_go_to_the_dead_letter_file_once(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    shutil.copy(FIXTURE, events)
    expected = expected_from([events])
    state = tmp_path / "state"
    with receiver_in_thread(tmp_path / "rx") as rx:
        env = tail_env(rx.grpc_endpoint)
        assert run_tail("--once", "--state-dir", str(state), str(events), env=env).returncode == EXIT_OK
        assert run_tail("--once", "--state-dir", str(state), str(events), env=env).returncode == EXIT_OK
    (dead_letter,) = state.glob("*.deadletter.jsonl")
    entries = [orjson.loads(line) for line in dead_letter.read_bytes().splitlines()]
    assert [(e["line"], e["offset"], e["reason"]) for e in entries] == [
        (r.position.line, r.position.offset, r.reason) for r in expected.run.rejected
    ]
    raw_lines = FIXTURE.read_bytes().split(b"\n")
    assert [e["raw"].encode() for e in entries] == [
        raw_lines[r.position.line - 1] for r in expected.run.rejected
    ]


def test_a_second_run_resends_nothing_and_from_beginning_resends_the_same_ids(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(300))
    state = tmp_path / "state"
    received = []
    with receiver_in_thread(tmp_path / "rx") as rx:
        env = tail_env(rx.grpc_endpoint)
        for extra in ([], [], ["--from-beginning"]):
            done = run_tail("--once", *extra, "--state-dir", str(state), str(events), env=env)
            assert done.returncode == EXIT_OK, done.stderr
            received.append(rx.received())
    first, second, replayed = received
    assert len(first.logs) == 300
    assert len(second.logs) == len(first.logs) and len(second.spans) == len(first.spans)
    assert len(replayed.logs) == 2 * len(first.logs)  # everything sent again…
    assert log_keys(replayed) == log_keys(first) and replayed.span_ids == first.span_ids  # …with the same ids


def test_stopped_while_the_backend_is_down_exits_75_and_loses_nothing(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(100))
    state = tmp_path / "state"
    with receiver_in_thread(tmp_path / "rx") as rx:
        rx.control.refuse_for(60)
        env = tail_env(rx.grpc_endpoint)
        tail = TailProcess(
            "--state-dir",
            str(state),
            "--shutdown-timeout",
            "1",
            str(events),
            env=env,
            log_path=tmp_path / "log",
        )
        assert tail.wait_for_log("backing off")
        assert tail.stop() == 75, tail.log()
        rx.control.accept()
        assert run_tail("--once", "--state-dir", str(state), str(events), env=env).returncode == EXIT_OK
        received = rx.received()
    assert_exactly(received, expected_from([events]))


def test_several_repositories_get_their_own_identity_scope(tmp_path: Path) -> None:
    files = []
    for repo in ("alpha", "beta"):
        path = tmp_path / repo / ".intent" / "events" / "events.jsonl"
        path.parent.mkdir(parents=True)
        write_lines(path, synthetic.lines(120))  # the same INT-000001… in both
        files.append(path)
    with receiver_in_thread(tmp_path / "rx") as rx:
        glob = str(tmp_path / "*" / ".intent" / "events" / "events.jsonl")
        done = run_tail("--once", glob, env=tail_env(rx.grpc_endpoint))
        assert done.returncode == EXIT_OK, done.stderr
        received = rx.received()
    alpha, beta = expected_from([files[0]], scope="alpha"), expected_from([files[1]], scope="beta")
    assert received.span_ids == alpha.span_ids | beta.span_ids
    assert not alpha.span_ids & beta.span_ids
    assert {s["resource"]["intent.repository"] for s in received.spans} == {"alpha", "beta"}
    assert (files[0].parent.parent / "observe").is_dir()  # state beside each repository's events


def test_a_file_that_does_not_exist_yet_is_waited_for(tmp_path: Path) -> None:
    events = tmp_path / "later" / "events.jsonl"
    with receiver_in_thread(tmp_path / "rx") as rx:
        tail = TailProcess(
            "--state-dir",
            str(tmp_path / "state"),
            str(events),
            env=tail_env(rx.grpc_endpoint),
            log_path=tmp_path / "log",
        )
        try:
            assert tail.wait_for_log("caught up")
            events.parent.mkdir()
            write_lines(events, synthetic.lines(50))
            received = rx.wait_for(has_all(expected_from([events])))
        finally:
            assert tail.stop() == EXIT_OK, tail.log()
    assert_exactly(received, expected_from([events]))


def test_exit_codes_for_bad_settings_and_a_held_state(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(10))
    bad = run_tail(
        "--once",
        str(events),
        env=tail_env("http://127.0.0.1:1", OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon"),
    )
    assert bad.returncode == 3 and "carrier-pigeon" in bad.stderr
    with receiver_in_thread(tmp_path / "rx") as rx:
        env = tail_env(rx.grpc_endpoint)
        holder = TailProcess(
            "--state-dir", str(tmp_path / "s"), str(events), env=env, log_path=tmp_path / "log"
        )
        try:
            assert holder.wait_for_log("caught up")
            second = run_tail("--once", "--state-dir", str(tmp_path / "s"), str(events), env=env)
        finally:
            holder.stop()
    assert second.returncode == 4 and "another" in second.stderr


def test_a_permanent_refusal_stops_with_its_exit_code_and_keeps_the_secret(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(10))
    config = ReceiverConfig(grpc_port=0, http_port=0, token="the-right-token")
    with receiver_in_thread(tmp_path / "rx", config) as rx:
        env = tail_env(
            rx.http_endpoint,
            "http/protobuf",
            OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20s3cr3t-value",
        )
        done = run_tail("--once", "--state-dir", str(tmp_path / "state"), str(events), env=env)
        received = rx.received()
    assert done.returncode == 5, done.stderr
    assert "s3cr3t-value" not in done.stderr and "401" in done.stderr
    assert not received.logs
    # nothing was acknowledged, so the checkpoint did not move
    (db,) = (tmp_path / "state").glob("tail-events-*.sqlite")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM tail_checkpoint").fetchone()[0] == 0


def test_in_process_adapter_feeds_a_consumer(tmp_path: Path) -> None:
    """The entry point `intent-observe up` uses: same adapter, a consumer instead of the network."""
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(200))
    consumer = RecordingConsumer(tmp_path / "got.sqlite", ReceiverControl(tmp_path / "control"))
    adapter = TailAdapter(TailConfig(paths=[str(events)], state_dir=tmp_path / "state"), Retry(consumer))
    runner = threading.Thread(target=lambda: setattr(runner, "code", adapter.run()))
    runner.start()
    try:
        deadline_checks = 0
        expected = expected_from([events])
        while not has_all(expected)(read_received(tmp_path / "got.sqlite")) and deadline_checks < 200:
            threading.Event().wait(0.05)
            deadline_checks += 1
    finally:
        adapter.stop()
        runner.join(20)
    assert runner.code == EXIT_OK  # type: ignore[attr-defined]
    assert_exactly(read_received(tmp_path / "got.sqlite"), expected)


def test_a_commit_that_fails_stops_the_tail_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state of `--once`'s last batch cannot be written (a full disk) while nothing else is
    on its way: the tail stops with exit 1 without waiting out the shutdown timeout, and the
    checkpoint stays where the last commit left it."""
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(500))
    committed: list[Checkpoint] = []
    commit = TailedFile.commit

    def all_but_the_last(self: TailedFile, batch: Batch) -> None:
        if batch.lines == 0:  # what the end of --once places: the last batch
            raise sqlite3.OperationalError("database or disk is full")
        commit(self, batch)
        saved = checkpoint.load(self.store.conn)
        assert saved is not None
        committed.append(saved)

    monkeypatch.setattr(TailedFile, "commit", all_but_the_last)
    consumer = RecordingConsumer(tmp_path / "got.sqlite", ReceiverControl(tmp_path / "control"))
    state = tmp_path / "state"
    config = TailConfig([str(events)], state, once=True, batch_bytes=16_384, shutdown_timeout_s=3600)
    adapter = TailAdapter(config, Retry(consumer))
    runner = threading.Thread(target=lambda: setattr(runner, "code", adapter.run()), daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive()
    assert runner.code == EXIT_FAILED  # type: ignore[attr-defined]
    assert isinstance(adapter.failure, sqlite3.OperationalError)
    with sqlite3.connect(layout.tail_state(state, layout.tail_stem(str(events), ""))) as conn:
        assert checkpoint.load(conn) == committed[-1]
    assert committed[-1].mark.offset == events.stat().st_size


def test_once_starts_no_file_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that stops once caught up waits for no change: no watcher thread, no inotify."""

    def refuse(watcher: FileWatcher) -> None:
        raise AssertionError("a file watcher was started")

    monkeypatch.setattr(FileWatcher, "start", refuse)
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(50))
    consumer = RecordingConsumer(tmp_path / "got.sqlite", ReceiverControl(tmp_path / "control"))
    config = TailConfig(paths=[str(events)], state_dir=tmp_path / "state", once=True)
    assert TailAdapter(config, Retry(consumer)).run() == EXIT_OK
    assert_exactly(read_received(tmp_path / "got.sqlite"), expected_from([events]))


def test_help_imports_none_of_the_tail() -> None:
    """`tail --help` reads the options: not the engine, the exporter or the file watcher."""
    heavy = [
        "intent_observe.sources.tail",
        "intent_observe.identity.engine",
        "intent_observe.sinks.otlp_exporter",
        "watchdog.observers",
    ]
    output, loaded = modules_loaded(heavy, "tail", "--help")
    assert "--queue-max-mb" in output and "[default: 256;" in output and "Exit codes" in output
    assert loaded == []


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_once_imports_no_otlp_message_record_nor_watcher(tmp_path: Path, protocol: str) -> None:
    """The requests go as the core encoded them and an acknowledgement is an empty answer:
    protobuf's OTLP and status messages are never imported (their descriptors cost start-up),
    nor the engine's record classes (no record object is made) nor watchdog (nothing is
    watched once the files are read through)."""
    messages = [
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2",
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        "google.rpc.status_pb2",
        "intent_observe.records",
        "watchdog.events",
    ]
    events = tmp_path / "events.jsonl"
    write_lines(events, synthetic.lines(50))
    with receiver_in_thread(tmp_path / "rx") as rx:
        endpoint = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint
        state = str(tmp_path / "state")
        _, loaded = modules_loaded(
            messages, "tail", "--once", "--state-dir", state, str(events), env=tail_env(endpoint, protocol)
        )
        assert_exactly(rx.received(), expected_from([events]))
    assert loaded == []


def test_synthetic_history_parses_cleanly() -> None:
    for n, raw in enumerate(synthetic.lines(500), 1):
        assert isinstance(parse_line(raw, Position("f", n, 0)), Event)
