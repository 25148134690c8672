"""`emit` beside the Intent framework's own writers: their lock, their id styles, their lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from tests.support.real_tree import REAL_TREE

from intent_observe.cli import main
from intent_observe.emitter.draft import EmitError
from intent_observe.emitter.emit import emit
from intent_observe.events import Rejected, parse_file

# What the framework's shell tools do: the id chosen and the line appended under
# `flock -x 200` on events.jsonl.lock. The line goes out in two writes, so a writer
# that ignored this lock would split it.
FRAMEWORK_WRITER = r"""
set -euo pipefail
events=$1
for i in $(seq 1 "$2"); do
  {
    flock -x 200
    last=$(grep -o '"span_id":"SIG-[0-9]*"' "$events" | grep -o '[0-9]*"$' | tr -d '"' \
      | sort -n | tail -1 || true)
    next=$(printf 'SIG-%03d' $((10#${last:-0} + 1)))
    printf '{"version":"0.1.0","event":"signal.created","timestamp":"%s",' "$(date -u +%FT%TZ)" >> "$events"
    printf '"trace_id":null,"span_id":"%s","parent_id":null,"source":"cli","data":{"title":"fw %s"}}\n' \
      "$next" "$i" >> "$events"
  } 200>"$events.lock"
done
"""

EMIT_WORKER = """
import sys
from intent_observe.emitter.emit import emit
for n in range(int(sys.argv[2])):
    emit("signal.created", "auto", data={"title": f"ours {n}"}, file=sys.argv[1])
"""


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / ".intent" / "events" / "events.jsonl"
    path.parent.mkdir(parents=True)
    return path


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def signal_created(signal_id: str | None, **data: Any) -> dict[str, Any]:
    return {
        "version": "0.1.0",
        "event": "signal.created",
        "timestamp": "2026-04-02T10:00:00Z",
        "trace_id": None,
        "span_id": signal_id,
        "parent_id": None,
        "source": "github-action",
        "data": {"title": f"observed {signal_id}", **data},
    }


def write_lines(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in docs))


def test_emit_and_a_framework_writer_exclude_each_other(events: Path) -> None:
    per_emitter, framework_lines = 60, 120
    events.touch()
    framework = subprocess.Popen(["bash", "-c", FRAMEWORK_WRITER, "fw", str(events), str(framework_lines)])
    ours = [
        subprocess.Popen([sys.executable, "-c", EMIT_WORKER, str(events), str(per_emitter)]) for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in (framework, *ours)] == [0, 0, 0]
    raw = events.read_bytes().splitlines()
    lines = [orjson.loads(line) for line in raw]  # every line whole: each one parses
    ids = [line["span_id"] for line in lines]
    total = framework_lines + 2 * per_emitter
    assert len(ids) == total
    assert sorted(ids) == [f"SIG-{n:03d}" for n in range(1, total + 1)]  # no id twice, none skipped
    assert sum(line["data"]["title"].startswith("fw ") for line in lines) == framework_lines


def test_emit_waits_for_a_held_framework_lock(events: Path) -> None:
    events.touch()
    hold = ["flock", "-x", str(events) + ".lock", "-c", "echo held; sleep 1.5"]
    holder = subprocess.Popen(hold, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    writer = subprocess.run(
        [sys.executable, "-c", EMIT_WORKER, str(events), "1"], capture_output=True, text=True, timeout=60
    )
    assert writer.returncode == 0, writer.stderr
    assert holder.poll() is not None  # the emit finished only after the holder let go
    assert len(lines_of(events)) == 1


def test_a_symlinked_lock_file_is_refused(events: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    Path(str(events) + ".lock").symlink_to(outside)
    with pytest.raises(EmitError, match="writers' lock"):
        emit("signal.created", "SIG-001", data={"title": "t"}, file=events)
    assert outside.read_text() == "keep me\n"
    assert not events.exists() or events.read_bytes() == b""


def test_a_fifo_in_place_of_the_lock_file_is_refused_without_blocking(events: Path) -> None:
    os.mkfifo(str(events) + ".lock")
    started = time.monotonic()
    with pytest.raises(EmitError, match="writers' lock"):
        emit("signal.created", "SIG-001", data={"title": "t"}, file=events)
    assert time.monotonic() - started < 5


ULID = re.compile(r"SIG-[0-9A-HJKMNP-TV-Z]{26}")


def test_auto_ids_follow_the_repositorys_style(events: Path) -> None:
    write_lines(
        events,
        [
            signal_created("SIG-01KNSVCCFA8YXWR6VMZG48N3ZR"),
            signal_created("SIG-01KNSVDZHJ8JHTDRH3JTYF5JQF"),
            signal_created("SIG-007"),
        ],
    )
    first = emit("signal.created", "auto", data={"title": "a"}, file=events).event["span_id"]
    second = emit("signal.created", "auto", data={"title": "b"}, file=events).event["span_id"]
    assert ULID.fullmatch(first) and ULID.fullmatch(second) and first != second
    # Intents here are numbered: each kind keeps its own style.
    emit("intent.proposed", "INT-004", data={"title": "t"}, file=events)
    assert emit("intent.proposed", "auto", data={"title": "u"}, file=events).event["span_id"] == "INT-005"


def test_numbered_repositories_stay_numbered_and_ulid_is_on_request(events: Path) -> None:
    write_lines(events, [signal_created("SIG-041"), signal_created("SIG-01KNSVCCFA8YXWR6VMZG48N3ZR")])
    assert emit("signal.created", "auto", data={"title": "a"}, file=events).event["span_id"] == "SIG-042"
    asked = emit("signal.created", "ulid", data={"title": "b"}, file=events).event["span_id"]
    assert ULID.fullmatch(asked)


def test_clusters_are_clu_unless_the_repository_says_cl(events: Path, tmp_path: Path) -> None:
    assert emit("cluster.created", "auto", file=events).event["span_id"] == "CLU-001"
    older = tmp_path / "older" / ".intent" / "events" / "events.jsonl"
    older.parent.mkdir(parents=True)
    emit("signal.created", "SIG-001", data={"title": "t"}, file=older)
    emit("signal.clustered", "SIG-001", "CL-004", file=older)
    assert emit("cluster.created", "auto", file=older).event["span_id"] == "CL-005"


def framework_lines() -> list[dict[str, Any]]:
    """Lines as the framework's Action and tools write them, each history all the same."""
    spec_without_parent = {
        "version": "0.1.0",
        "event": "spec.written",
        "timestamp": "2026-04-06T12:00:00Z",
        "trace_id": None,
        "span_id": "SPEC-007",
        "parent_id": None,
        "source": "github-action",
        "data": {"title": "Ingest pipeline", "file": ".intent/specs/SPEC-007-ingest.md"},
    }
    return [
        signal_created("unknown", file=".intent/signals/2026-04-01-no-id.md"),
        spec_without_parent,
        signal_created("#\n#\n#", file=".intent/signals/hash-heading.md"),
        {"event_type": "signal.captured", "signal_id": "SIG-050", "timestamp": "2026-04-07T09:00:00"},
    ]


def run_raw(events: Path, stdin: bytes, *args: str) -> Any:
    return CliRunner().invoke(main, ["emit", "--raw", "--file", str(events), *args], input=stdin)


def test_raw_takes_what_the_framework_writes(events: Path) -> None:
    stdin = b"".join(orjson.dumps(doc) + b"\n" for doc in framework_lines())
    result = run_raw(events, stdin)
    assert result.exit_code == 0, result.output
    written = lines_of(events)
    assert [(line["event"], line["span_id"]) for line in written] == [
        ("signal.created", None),
        ("spec.written", "SPEC-007"),
        ("signal.created", None),  # no letter or digit: no id, as "unknown"
        ("signal.captured", "SIG-050"),
    ]
    assert written[1]["parent_id"] is None
    assert written[1]["data"]["file"] == ".intent/specs/SPEC-007-ingest.md"
    assert "spec.written SPEC-007 needs its parent intent" in result.stderr  # a warning, not a refusal
    assert "needs the id of its signal" in result.stderr


def test_raw_names_every_bad_line_and_writes_nothing(events: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "x"}, file=events)
    before = events.read_bytes()
    lines = [
        orjson.dumps(signal_created("SIG-002")),
        b"{not json",
        orjson.dumps(signal_created("SIG-001")),  # taken, and no --skip-existing
        orjson.dumps({**signal_created("SIG-003"), "timestamp": "yesterday"}),
        orjson.dumps({"event": "spec.created", "span_id": "SPEC-1", "parent_id": "CON-9", "timestamp": 1}),
    ]
    result = run_raw(events, b"\n".join(lines) + b"\n")
    assert result.exit_code == 1
    reported = [line for line in result.stderr.splitlines() if line.startswith(("line ", "Error: line "))]
    assert [re.findall(r"line (\d+)", line)[0] for line in reported] == ["2", "3", "4", "5"]
    assert "already in use" in reported[1] and "not the contract CON-9" in reported[3]
    assert result.stderr.rstrip().endswith("nothing was written")
    assert events.read_bytes() == before


def test_skip_existing_keeps_a_second_file_declaring_the_same_id(events: Path) -> None:
    first = signal_created("SIG-033", file=".intent/signals/SIG-033-one.md")
    again = signal_created("SIG-033", file=".intent/signals/SIG-033-one.md")
    other = {**signal_created("SIG-033", file=".intent/signals/SIG-033-other.md")}
    other["data"]["title"] = "another observation"
    stdin = b"".join(orjson.dumps(doc) + b"\n" for doc in (first, again, other))
    result = run_raw(events, stdin, "--skip-existing")
    assert result.exit_code == 0, result.output
    files = [line["data"]["file"] for line in lines_of(events)]
    assert files == [".intent/signals/SIG-033-one.md", ".intent/signals/SIG-033-other.md"]
    assert "skipped signal.created SIG-033" in result.stderr


@pytest.mark.skipif(not REAL_TREE.is_dir(), reason="the real Intent tree is not on this machine")
def test_raw_takes_every_line_the_framework_wrote(events: Path) -> None:
    """The real history, piped in as its writers wrote it: nothing refused (re-announcements of
    the same file skipped), and what is written reads back without a rejected line."""
    real_log = (REAL_TREE / ".intent" / "events" / "events.jsonl").read_bytes()
    result = run_raw(events, real_log, "--skip-existing")
    assert result.exit_code == 0, result.stderr[-2000:]
    written = events.read_bytes().splitlines()
    assert 0 < len(written) <= len(real_log.splitlines())
    assert not [item for item in parse_file(str(events)) if isinstance(item, Rejected)]


def test_the_lock_file_is_the_one_the_framework_names(events: Path) -> None:
    emit("signal.created", "SIG-001", data={"title": "t"}, file=events)
    lock = Path(str(events) + ".lock")
    assert lock.is_file() and not lock.is_symlink() and lock.stat().st_size == 0
