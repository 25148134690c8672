"""Both line shapes into one Event; unusable lines into clear, positioned rejections."""

from __future__ import annotations

from pathlib import Path

import pytest

from intent_observe.events import (
    ArtifactKind,
    Event,
    Position,
    Rejected,
    TimestampError,
    iter_lines,
    parse_file,
    parse_line,
    parse_lines,
    parse_timestamp,
)
from intent_observe.events import parse as parse_module
from intent_observe.events.parse import artifact_file

POS = Position("events.jsonl", 7, 1234)


def parse(raw: str) -> Event:
    out = parse_line(raw.encode(), POS)
    assert isinstance(out, Event), out
    return out


def reject(raw: bytes) -> Rejected:
    out = parse_line(raw, POS)
    assert isinstance(out, Rejected), out
    return out


def test_envelope_shape() -> None:
    ev = parse(
        '{"version":"0.2.0","event":"spec.created","timestamp":"2026-03-30T14:45:00Z",'
        '"trace_id":"5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5","span_id":"SPEC-042","parent_id":"INT-015",'
        '"source":"mcp","actor":"claude-code","ref":"SPEC-042",'
        '"data":{"intent_id":"INT-015","title":"Auth spec","contracts":["CON-091","CON-092"]}}'
    )
    assert ev.type == "spec.created"
    assert ev.shape == "envelope"
    assert ev.kind is ArtifactKind.SPEC
    assert ev.artifact_id == "SPEC-042"
    assert ev.parent_id == "INT-015"
    assert ev.intent_id == "INT-015"
    assert ev.source == "mcp" and ev.actor == "claude-code"
    assert ev.trace_hint == "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5"
    assert ev.time_ns == 1774881900 * 10**9
    assert ev.payload["contracts"] == ["CON-091", "CON-092"]
    assert ev.title == "Auth spec"
    assert ev.position == POS


def test_a_question_titles_the_event_that_asks_it() -> None:
    ev = parse(
        '{"event":"knowledge.queried","timestamp":"2026-04-06T10:04:06Z","span_id":"query",'
        '"data":{"question":"What is the bottleneck shift?","status":"requested"}}'
    )
    assert ev.title == "What is the bottleneck shift?"
    titled = parse(
        '{"event":"knowledge.queried","timestamp":"2026-04-06T10:04:06Z","data":{"question":"Q?","title":"T"}}'
    )
    assert titled.title == "T"  # a title of its own comes first


def test_a_title_is_one_line_its_first() -> None:
    # an Action that joins a file's headings writes them all as the title: its first names it
    ev = parse(
        '{"event":"intent.proposed","timestamp":"2026-04-09T14:55:12Z","span_id":"INT-9",'
        '"data":{"title":"\\n  Faster builds \\r\\nBackground\\nOpen questions"}}'
    )
    assert ev.title == "Faster builds"
    assert parse('{"event":"x.y","timestamp":"2026-01-01","data":{"title":" T "}}').title == " T "


def test_an_event_without_a_title_is_titled_by_what_it_has() -> None:
    linted = parse('{"event":"knowledge.linted","timestamp":"2026-04-06T10:03:51Z","data":{"findings":15}}')
    assert linted.title == "15 findings"
    one = parse('{"event":"knowledge.linted","timestamp":"2026-04-06T10:03:51Z","data":{"findings":1}}')
    assert one.title == "1 finding"
    ingested = parse(
        '{"event":"knowledge.ingested","timestamp":"2026-04-06T10:04:00Z","source":"cli",'
        '"data":{"source":"raw/research/2026-04-02-notes.md","status":"requested"}}'
    )
    assert ingested.title == "2026-04-02-notes.md"  # the file it read, by its name
    writer = parse('{"event":"x.y","timestamp":"2026-01-01","data":{"source":"mcp"}}')
    assert writer.title is None  # a source that is no path names a writer, not a subject
    for raw in (
        '{"event_type":"deploy.finished","timestamp":"2026-01-01","source":"acme/ci"}',  # flat
        '{"event":"deploy.finished","timestamp":"2026-01-01","data":{"source":"acme/ci"}}',
    ):  # the event's own source, a path or not, names its writer: no title
        assert (parse(raw).source, parse(raw).title) == ("acme/ci", None)
    titled = parse('{"event":"x.y","timestamp":"2026-01-01","data":{"findings":3,"title":"Lint"}}')
    assert titled.title == "Lint"


def test_a_title_that_is_only_its_file_is_no_title() -> None:
    # an Action that finds no heading writes the file as the title: the file names it already
    ev = parse(
        '{"event":"signal.created","timestamp":"2026-04-09T19:03:18Z","span_id":"unknown",'
        '"data":{"title":".intent/signals/2026-04-08-gtm.md","file":".intent/signals/2026-04-08-gtm.md"}}'
    )
    assert (ev.title, ev.file) == (None, ".intent/signals/2026-04-08-gtm.md")


def test_flat_shape() -> None:
    ev = parse(
        '{"event_type":"contract.assertion.failed","contract_id":"CON-092","assertion_id":"assert-2",'
        '"assertion_name":"lint_passes","error":"eslint: 3 errors","timestamp":"2026-03-30T15:03:45Z"}'
    )
    assert ev.shape == "flat"
    assert ev.kind is ArtifactKind.ASSERTION
    assert ev.artifact_id == "assert-2"
    assert ev.contract_id == "CON-092"
    assert ev.payload["error"] == "eslint: 3 errors"
    assert "event_type" not in ev.payload


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("signal.created", ArtifactKind.SIGNAL),
        ("signal.captured", ArtifactKind.SIGNAL),
        ("signal.enriched", ArtifactKind.SIGNAL),
        ("signal.scored", ArtifactKind.SIGNAL),
        ("signal.clustered", ArtifactKind.SIGNAL),
        ("signal.promoted", ArtifactKind.SIGNAL),
        ("signal.dismissed", ArtifactKind.SIGNAL),
        ("signal.resolved", ArtifactKind.SIGNAL),
        ("signal.updated", ArtifactKind.SIGNAL),
        ("intent.proposed", ArtifactKind.INTENT),
        ("intent.accepted", ArtifactKind.INTENT),
        ("intent.approved", ArtifactKind.INTENT),
        ("spec.created", ArtifactKind.SPEC),
        ("spec.written", ArtifactKind.SPEC),
        ("spec.approved", ArtifactKind.SPEC),
        ("spec.staged", ArtifactKind.SPEC),
        ("contract.started", ArtifactKind.CONTRACT),
        ("contract.completed", ArtifactKind.CONTRACT),
        ("contract.verified", ArtifactKind.CONTRACT),
        ("contract.failed", ArtifactKind.CONTRACT),
        ("contract.assertion.passed", ArtifactKind.ASSERTION),
        ("contract.assertion.failed", ArtifactKind.ASSERTION),
        ("decision.recorded", ArtifactKind.DECISION),
        # an approval is about an intent (a span under it), never one of its own events
        ("intent.approval.requested", ArtifactKind.OTHER),
        ("intent.approval.decided", ArtifactKind.OTHER),
        ("intent.approval.expired", ArtifactKind.OTHER),
        ("intent.approval.elevated", ArtifactKind.OTHER),
        ("execution.paused", ArtifactKind.OTHER),
        ("execution.resumed", ArtifactKind.OTHER),
        ("execution.error_retry", ArtifactKind.OTHER),
        ("execution.escalated", ArtifactKind.OTHER),
        ("human_input.requested", ArtifactKind.OTHER),
        ("human_input.received", ArtifactKind.OTHER),
        ("approval.requested", ArtifactKind.OTHER),
        ("approval.decided", ArtifactKind.OTHER),
        ("approval.expired", ArtifactKind.OTHER),
        ("observation.written", ArtifactKind.OTHER),
        ("observation.evaluated", ArtifactKind.OTHER),
        ("trace.completed", ArtifactKind.OTHER),
        ("capability.released", ArtifactKind.OTHER),
        ("feature.released", ArtifactKind.OTHER),
        ("knowledge.ingested", ArtifactKind.OTHER),
        ("knowledge.queried", ArtifactKind.OTHER),
        ("knowledge.linted", ArtifactKind.OTHER),
        ("system.health", ArtifactKind.OTHER),
        ("system.error", ArtifactKind.OTHER),
        ("totally.new.thing", ArtifactKind.OTHER),
    ],
)
def test_every_catalog_type_has_a_kind(event_type: str, kind: ArtifactKind) -> None:
    ev = parse(f'{{"event_type":"{event_type}","timestamp":"2026-01-01T00:00:00Z"}}')
    assert ev.kind is kind
    assert ev.type == event_type


def test_promoted_written_both_ways_round_names_signal_and_intent() -> None:
    a = parse(
        '{"event":"signal.promoted","timestamp":"2026-01-01T00:00:00Z","ref":"INT-015","parent_id":"SIG-006"}'
    )
    b = parse(
        '{"event":"signal.promoted","timestamp":"2026-01-01T00:00:00Z","ref":"SIG-006","parent_id":"INT-015"}'
    )
    for ev in (a, b):
        assert ev.artifact_id == "SIG-006"
        assert ev.intent_id == "INT-015"


@pytest.mark.parametrize(
    ("stamp", "expected_ns"),
    [
        ("2026-03-31T02:16:42Z", 1774923402 * 10**9),
        ("2026-03-31T02:16:42.691454", 1774923402 * 10**9 + 691454000),  # naive: meant as UTC
        ("2026-03-31T04:16:42+02:00", 1774923402 * 10**9),
        ("2026-03-30T21:16:42-0500", 1774923402 * 10**9),
        ("2026-03-31 02:16:42.123456789Z", 1774923402 * 10**9 + 123456789),
        ("2026-03-31", 1774915200 * 10**9),
        (1774923402, 1774923402 * 10**9),
        (1774923402123, 1774923402123 * 10**6),
        (1774923402.5, 1774923402 * 10**9 + 500_000_000),
    ],
)
def test_timestamps(stamp: object, expected_ns: int) -> None:
    assert parse_timestamp(stamp) == expected_ns


@pytest.mark.parametrize(
    "stamp", ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01T25:00:00Z", True, None, [], "NaN"]
)
def test_bad_timestamps(stamp: object) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(stamp)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event": "signal.created", "timestamp": "2026-01-01T00:00:00Z", "span', "invalid JSON"),
        (b'["a", "list"]', "must be a JSON object"),
        (b'{"timestamp": "2026-01-01T00:00:00Z"}', "no event type"),
        (b'{"event": 42, "timestamp": "2026-01-01T00:00:00Z"}', "no event type"),
        (b'{"event": "signal.created"}', "no timestamp"),
        (b'{"event": "signal.created", "timestamp": "soon"}', "unreadable timestamp"),
        (b"\xff\xfe not utf-8", "invalid JSON"),
    ],
)
def test_rejections_name_position_and_reason(raw: bytes, reason: str) -> None:
    rejected = reject(raw)
    assert reason in rejected.reason
    assert rejected.position == POS
    assert rejected.describe().startswith("events.jsonl:7 (byte 1234): ")
    assert rejected.raw == raw


def test_blank_lines_are_skipped_not_rejected() -> None:
    assert parse_line(b"   \r", POS) is None


def test_placeholder_ids_name_nothing() -> None:
    for placeholder in ("unknown", "", "null", "N/A"):
        ev = parse(
            f'{{"event":"signal.created","timestamp":"2026-01-01T00:00:00Z","span_id":"{placeholder}"}}'
        )
        assert ev.artifact_id is None


def test_odd_ids_are_kept_exactly() -> None:
    ev = parse('{"event":"signal.created","timestamp":"2026-01-01T00:00:00Z","span_id":"SIG-0 99#x"}')
    assert ev.artifact_id == "SIG-0 99#x"


def test_an_id_is_its_first_line() -> None:
    # a writer that grepped across lines swept up what followed the id (seen in a real history)
    ev = parse('{"event":"spec.written","timestamp":"2026-01-01T00:00:00Z","span_id":"SPEC-4\\nDB"}')
    assert ev.artifact_id == "SPEC-4"


def test_an_id_without_a_letter_or_digit_names_nothing() -> None:
    for junk in ("#", "#\\n#\\n#", "..."):
        ev = parse(f'{{"event":"signal.created","timestamp":"2026-01-01T00:00:00Z","span_id":"{junk}"}}')
        assert ev.artifact_id is None, junk


def test_trust_and_autonomy() -> None:
    ev = parse(
        '{"event_type":"signal.enriched","signal_id":"SIG-1","trust_score":0.65,"timestamp":"2026-01-01"}'
    )
    assert ev.trust == 0.65 and ev.autonomy_level == "L3"
    explicit = parse(
        '{"event":"signal.scored","timestamp":"2026-01-01","data":{"trust":0.9,"autonomy_level":1}}'
    )
    assert explicit.trust == 0.9 and explicit.autonomy_level == "L1"  # an explicit level wins
    out_of_range = parse('{"event":"signal.scored","timestamp":"2026-01-01","data":{"trust":7}}')
    assert out_of_range.trust is None


def test_parse_file_positions_and_final_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        b'{"event":"signal.created","timestamp":"2026-01-01T00:00:00Z","span_id":"SIG-1"}',
        b"garbage",
        b"",
        b'{"event_type":"signal.created","signal_id":"SIG-2","timestamp":"2026-01-02T00:00:00Z"}',
    ]
    path.write_bytes(b"\n".join(lines))  # no trailing newline
    items = list(parse_file(str(path)))
    assert [type(i).__name__ for i in items] == ["Event", "Rejected", "Event"]
    assert items[1].position == Position(str(path), 2, len(lines[0]) + 1)
    assert items[2].position.line == 4
    assert items[2].position.offset == sum(len(x) + 1 for x in lines[:3])


def test_event_id_is_stable_and_ignores_surrounding_whitespace() -> None:
    a = parse('{"event":"x.y","timestamp":"2026-01-01"}')
    b = parse('  {"event":"x.y","timestamp":"2026-01-01"}\r')
    c = parse('{"event":"x.y","timestamp":"2026-01-02"}')
    assert a.event_id == b.event_id != c.event_id
    assert len(a.event_id) == 32


def test_links_where_real_writers_put_them() -> None:
    ev = parse(
        '{"event":"spec.written","timestamp":"2026-04-06T14:01:00Z","span_id":"SPEC-7","parent_id":null,'
        '"data":{"intent":"INT-9","cluster":"CLU-002","signals":["SIG-1","unknown",3,"SIG-1","SIG-2"],'
        '"contracts":["CON-A","CON-B"],"file":"./.intent/specs/SPEC-7-x.md"}}'
    )
    assert (ev.artifact_id, ev.intent_id, ev.cluster_id) == ("SPEC-7", "INT-9", "CLU-002")
    assert ev.signals == ("SIG-1", "SIG-2")  # placeholders, non-strings and repeats dropped
    assert ev.contracts == ("CON-A", "CON-B")
    assert ev.file == ".intent/specs/SPEC-7-x.md"


def test_typed_id_fields_win_over_short_links() -> None:
    ev = parse(
        '{"event_type":"contract.started","contract_id":"CON-1","spec_id":"SPEC-1",'
        '"spec":"SPEC-2","timestamp":"2026-01-01T00:00:00Z"}'
    )
    assert ev.spec_id == "SPEC-1"


def test_clu_cluster_ids_are_told_by_their_shape() -> None:
    ev = parse(
        '{"event":"signal.clustered","timestamp":"2026-01-01T00:00:00Z","span_id":"SIG-3",'
        '"parent_id":"CLU-004"}'
    )
    assert (ev.artifact_id, ev.cluster_id) == ("SIG-3", "CLU-004")


def test_a_source_object_is_read_not_dropped() -> None:
    ev = parse(
        '{"event":"signal.created","timestamp":"2026-01-01T00:00:00Z","span_id":"SIG-3",'
        '"source":{"type":"slack","channel":"#ops"}}'
    )
    assert ev.source == "slack"
    flat = parse(
        '{"event_type":"signal.created","signal_id":"SIG-4","timestamp":"2026-01-01T00:00:00Z",'
        '"source":{"channel":"#ops"}}'
    )
    assert flat.source is None and flat.payload["source"] == {"channel": "#ops"}


def test_json_numbers_keep_their_python_types() -> None:
    ev = parse(
        '{"event":"x.y","timestamp":"2026-01-01","data":{"z":-0,"f":-0.0,"u":18446744073709551615,'
        '"big":18446744073709551616,"e":1E2,"tiny":1e-400,"a":1,"a":3}}'
    )
    assert [(k, type(v).__name__, v) for k, v in ev.payload.items()] == [
        ("z", "int", 0),
        ("f", "float", -0.0),
        ("u", "int", 2**64 - 1),
        ("big", "float", 2.0**64),
        ("e", "float", 100.0),
        ("tiny", "float", 0.0),
        ("a", "int", 3),  # a repeated key keeps its first place and its last value
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event":"x.y","timestamp":"2026-01-01","n":1e309}', "infinity"),
        (b'{"event":"x.y","timestamp":"2026-01-01","s":"\\ud800"}', "surrogate"),
        (b'{"event":"x.y","timestamp":"2026-01-01",}', "invalid JSON"),
        (b"[" * 1025 + b"]" * 1025, "deeper than 1024"),
        (b'{"event":"x.y","timestamp":"2262-04-12T00:00:00Z"}', "out of range"),  # past 2^63 ns
    ],
)
def test_what_the_reader_refuses(raw: bytes, reason: str) -> None:
    assert reason in reject(raw).reason


def test_nesting_up_to_1024_levels_is_read() -> None:
    ev = parse('{"event_type":"x.y","timestamp":"2026-01-01","d":' + "[" * 1023 + "]" * 1023 + "}")
    assert isinstance(ev.payload["d"], list)


def test_parse_lines_reads_complete_lines_with_their_positions() -> None:
    data = b'{"event":"a.b","timestamp":1}\n\n  \r\nnot json\n{"event":"c.d","timestamp":2}\n{"event":"e'
    items = parse_lines(data, "f.jsonl", start_offset=100, start_line=10)
    assert [type(i).__name__ for i in items] == ["Event", "Rejected", "Event"]  # blank lines left out
    assert [i.position for i in items] == [
        Position("f.jsonl", 10, 100),
        Position("f.jsonl", 13, 100 + data.index(b"not")),
        Position("f.jsonl", 14, 100 + data.index(b'{"event":"c')),
    ]
    assert isinstance(items[1], Rejected) and items[1].raw == b"not json"
    assert [(raw, p.line) for raw, p in iter_lines(data, "f.jsonl")][1:3] == [(b"", 2), (b"  \r", 3)]


def test_an_artifact_file_as_the_parser_reads_it() -> None:
    assert artifact_file(" ./.intent//specs/./S.md ") == ".intent/specs/S.md"
    assert artifact_file(".intent\\x\\..\\y.md") == ".intent/y.md"
    assert artifact_file("   ") is None and artifact_file(5) is None and artifact_file(None) is None


def test_a_file_is_read_a_block_at_a_time_and_gives_what_one_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines across block boundaries, a blank line, a bad one and a last line without its newline."""
    fixture = (Path(__file__).parent / "fixtures" / "history.jsonl").read_bytes()
    path = tmp_path / "events.jsonl"
    path.write_bytes(fixture + b"\n{not json\n" + fixture.splitlines()[0])  # no newline at the end
    whole = list(parse_lines(path.read_bytes() + b"\n", str(path)))
    for block in (7, 1000, 1 << 20):
        monkeypatch.setattr(parse_module, "READ_BLOCK_BYTES", block)
        read = list(parse_file(str(path)))
        assert [(type(x), x.position) for x in read] == [(type(x), x.position) for x in whole], block
        assert [getattr(x, "event_id", None) for x in read] == [getattr(x, "event_id", None) for x in whole]
