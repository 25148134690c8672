"""The one real Intent history known (the framework's own `.intent/`, in ../shared): what a new
user sees when they run `inspect` on it. Expected figures come from reading its lines here, not
from the engine."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import pytest
from tests.support.real_tree import REAL_EVENTS, REAL_TREE

from intent_observe.artifacts.derive import derived_events_of
from intent_observe.artifacts.files import ArtifactFile, read_artifact_file
from intent_observe.report import Run, build_report, read_history

EVENTS = REAL_EVENTS

pytestmark = pytest.mark.skipif(not EVENTS.exists(), reason=f"the real history is not at {EVENTS}")


@pytest.fixture(scope="module")
def run() -> Run:
    return read_history([str(EVENTS)])


def _lines() -> list[dict[str, object]]:
    return [json.loads(line) for line in EVENTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_ten_intents_each_one_trace_and_nothing_rejected(run: Run) -> None:
    report = build_report(run)
    proposed = {line["span_id"] for line in _lines() if line["event"] == "intent.proposed"}
    assert len(proposed) == 10
    assert sorted(report["intents"]) == sorted(proposed)  # no `INT-004#2`: one trace per intent
    assert len({i["trace_id"] for i in report["intents"].values()}) == 10
    assert report["metrics"]["intent.intents.total"]["points"][0]["value"] == 10
    assert report["rejected"] == []
    assert report["events"] == len(_lines())


def test_int_004_holds_its_signal_its_spec_once_and_the_five_contracts(run: Run) -> None:
    int4 = build_report(run)["intents"]["INT-004"]
    by_id: dict[str, list[dict[str, object]]] = defaultdict(list)
    for entry in int4["artifacts"]:
        by_id[str(entry["id"])].append(entry)
    assert int4["artifacts"][0]["name"] == "intent INT-004"
    [signal] = by_id["SIG-031"]
    assert signal["backfilled"] and signal["depth"] == 1
    [spec] = by_id["SPEC-002"]  # announced three times (CLI, then the Action twice): one spec
    assert spec["depth"] == 1 and spec["type"] == "spec"
    contracts = sorted(str(e["id"]) for e in int4["artifacts"] if e["type"] == "contract")
    assert contracts == [f"CON-WS-00{n}" for n in range(1, 6)]
    assert all(e["parent_span_id"] == spec["span_id"] for e in int4["artifacts"] if e["type"] == "contract")
    specs = [a for a in run.engine.state.artifacts.values() if a.kind == "spec" and a.id == "SPEC-002"]
    assert len(specs) == 1


def _first_line(text: object) -> str:
    """An id as the engine reads it: the Action wrote some across lines (`SPEC-004\\nDB`)."""
    return str(text).strip().splitlines()[0].strip()


def test_a_reused_signal_id_is_split_by_its_files_and_only_by_them(run: Run) -> None:
    files: dict[str, set[str]] = defaultdict(set)
    for line in _lines():
        if str(line["event"]).startswith("signal.") and line["event"] in (
            "signal.created",
            "signal.captured",
        ):
            data = line["data"]
            assert isinstance(data, dict)
            file = data.get("file")
            files[_first_line(line["span_id"])].add(str(file).removeprefix("./") if file else "")
    signals: dict[str, int] = defaultdict(int)
    for art in run.engine.state.artifacts.values():
        if art.kind == "signal" and art.id is not None:
            signals[art.id] += 1
    for nothing in ("unknown", "#"):  # name no signal: each such line is its file's own
        files.pop(nothing, None)
    for signal_id, named in files.items():
        distinct = len(named - {""}) or 1
        assert signals[signal_id] == distinct, (signal_id, sorted(named))
    assert signals["SIG-033"] == 3  # three files declare it
    assert signals["SIG-006"] == 2  # two files, one of them announced twice


def test_every_span_sent_once_and_every_parent_exported(run: Run) -> None:
    assert build_report(run)["spans_resent"] == 0
    for span in run.spans.values():
        if span.parent_span_id:
            assert run.spans[span.parent_span_id].trace_id == span.trace_id
    from_log = [r for r in run.logs if r.attributes["intent.event.file"] == str(EVENTS)]
    assert len(from_log) == len(_lines())  # one log record per line; the rest say what files say
    assert all(r.attributes["intent.source"] == "front-matter" for r in run.logs if r not in from_log)


# What the artifact files say, counted by hand from the tree (commands in each comment). The
# tree is a copy outside git: its files' changes are said after every event of the log (when
# they were copied), dated by what their front matter says.


def test_the_files_close_what_they_say_is_done(run: Run) -> None:
    metrics = build_report(run)["metrics"]
    # Signal artifacts the log announced (136: one per id and file; a line with no file joins
    # its id's newest; an id is its first line, so `SIG-01KWH9B43AVC51T6DM9AYE7CW0\n/\n/` is the
    # signal the CLI announced; an `unknown` or `#` id's file is its identity), less those
    # promoted or resolved in the log (SIG-035; those `intent.proposed` lists), less those whose
    # file's last `status:` closes it (`grep -h '^status:' .intent/signals/*.md`: resolved,
    # promoted): 55 open.
    assert sum(p["value"] for p in metrics["intent.signals.total"]["points"]) == 136
    active = sum(p["value"] for p in metrics["intent.signals.active"]["points"])
    assert active == 55
    state = run.engine.state
    listed = [a for a in state.artifacts.values() if a.kind == "signal" and a.counted and a.inactive is None]
    assert len(listed) == active
    # `grep -h '^status:' .intent/intents/*.md`: INT-007's says v1.0-shipped; the nine others
    # the log proposed are open, and only they keep a stale-intent series.
    assert metrics["intent.intents.active"]["points"][0]["value"] == 9
    stale = {p["labels"]["intent_id"] for p in metrics["intent.intent.last_event_timestamp"]["points"]}
    proposed = {line["span_id"] for line in _lines() if line["event"] == "intent.proposed"}
    assert stale == proposed - {"INT-007"}
    report = build_report(run)
    assert report["intents"]["INT-007"]["state"] == "closed"


def test_a_spec_joins_the_intent_its_file_names(run: Run) -> None:
    report = build_report(run)
    # `grep -H '^intent:' .intent/specs/*`: SPEC-001 → INT-003 (the log never links them);
    # SPEC-003, -004 and -005 → INT-009, which the log never proposed: they stay traces of their own.
    int3 = report["intents"]["INT-003"]["artifacts"]
    [joined] = [a for a in int3 if a["id"] == "SPEC-001"]
    assert joined["backfilled"] and joined["depth"] == 1
    assert "SPEC-001" in report["specs"]  # its own trace, sent before the file was read, stays
    assert {"SPEC-003", "SPEC-004", "SPEC-005"} <= set(report["specs"])  # the log wrote `SPEC-004\nDB`
    assert not [a.id for a in run.engine.state.artifacts.values() if a.id and "\n" in a.id]
    assert run.engine.state.derived_ignored > 0  # files of artifacts the log never announced


def test_a_copied_file_s_change_is_dated_by_its_front_matter_not_by_the_copy(run: Run) -> None:
    """Every file of the copy was modified when it was copied, months after the log's last line: a
    change is dated by one of the dates its file gives, its modification time only when it gives none."""
    derived = [log for log in run.logs if log.attributes.get("intent.source") == "front-matter"]
    assert len(derived) > 50
    for log in derived:
        relative = str(log.attributes["intent.event.file"])
        art = read_artifact_file(relative, REAL_TREE / relative)
        assert isinstance(art, ArtifactFile)
        written = (REAL_TREE / relative).stat().st_mtime_ns
        gives = {min(last, written) for _, first, last in art.dates if first <= written}
        assert log.time_ns in (gives or {written}), relative


def test_a_spec_file_dated_by_day_links_after_that_day_s_events() -> None:
    # SPEC-002's file gives `created: 2026-04-06`, a day; the log proposed INT-004 at 14:00 that
    # day and wrote SPEC-002 at 17:45: the link the file makes comes after them, not at midnight.
    # (The engine tells no record of it: the log had linked them already.)
    [linked] = [
        said.event
        for said in derived_events_of(str(EVENTS)).said
        if said.event.type == "spec.linked" and said.event.artifact_id == "SPEC-002"
    ]
    spec_lines = [line for line in _lines() if line["span_id"] == "SPEC-002"]
    written = max(
        datetime.fromisoformat(str(line["timestamp"]))
        for line in spec_lines
        if "04-06" in str(line["timestamp"])
    )
    assert linked.time_ns > written.timestamp() * 1e9
