"""FileFollower on real files: whole lines only, rotation, truncation, replacement, restarts."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from intent_observe.identity.checkpoint import FileMark
from intent_observe.sources.follow import ROTATION_GRACE_S, Chunk, FileFollower

A = [b'{"n": %d, "text": "line a%d"}' % (i, i) for i in range(40)]
B = [b'{"n": %d, "text": "other b%d"}' % (i, i) for i in range(40)]


def lines_of(chunks: list[Chunk]) -> list[bytes]:
    return [line for c in chunks for line in c.data.splitlines()]


def drain(follower: FileFollower, settle_s: float = 0.0) -> list[Chunk]:
    """Every chunk available now (waiting out the rotation grace when asked)."""
    chunks: list[Chunk] = []
    deadline = time.monotonic() + settle_s
    while True:
        chunk = follower.poll(256)
        if chunk is not None:
            chunks.append(chunk)
            continue
        if time.monotonic() >= deadline:
            return chunks
        time.sleep(0.02)


def append(path: Path, lines: list[bytes]) -> None:
    with path.open("ab") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))


def test_a_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(A[0] + b"\n" + A[1][:7])
    follower = FileFollower(str(path))
    assert lines_of(drain(follower)) == [A[0]]
    with path.open("ab") as fh:
        fh.write(A[1][7:])
    assert drain(follower) == []
    with path.open("ab") as fh:
        fh.write(b"\n")
    (chunk,) = drain(follower)
    assert chunk.data == A[1] + b"\n" and chunk.line == 2 and chunk.offset == len(A[0]) + 1
    assert chunk.mark.offset == path.stat().st_size


def test_the_file_may_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    follower = FileFollower(str(path))
    assert follower.poll(1024) is None
    append(path, A[:2])
    assert lines_of(drain(follower)) == A[:2]


def test_rotation_by_rename_finishes_the_old_file_first(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:5])
    follower = FileFollower(str(path))
    assert lines_of(drain(follower)) == A[:5]
    append(path, A[5:8])
    path.rename(tmp_path / "events.jsonl.1")
    with (tmp_path / "events.jsonl.1").open("ab") as fh:
        fh.write(A[8])  # the writer's last line, without newline: it still counts
    append(path, B[:3])
    chunks = drain(follower, settle_s=ROTATION_GRACE_S + 0.2)
    assert lines_of(chunks) == A[5:9] + B[:3]
    assert any(c.file.endswith("events.jsonl.1") for c in chunks) and chunks[-1].file == str(path)
    assert chunks[-1].line == 1 and chunks[-1].offset == 0
    assert any("rotated" in note for note in follower.notes)


def test_copy_truncate_reads_the_rest_from_the_copy(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:5])
    follower = FileFollower(str(path))
    drain(follower)
    append(path, A[5:9])  # written but not read before logrotate copies and truncates
    shutil.copyfile(path, tmp_path / "events.jsonl-20260105")
    os.truncate(path, 0)
    append(path, B[:2])
    chunks = drain(follower, settle_s=0.1)
    assert lines_of(chunks) == A[5:9] + B[:2]
    assert chunks[0].file.endswith("events.jsonl-20260105")


def test_truncation_without_a_copy_continues_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:5])
    follower = FileFollower(str(path))
    drain(follower)
    os.truncate(path, 0)
    assert drain(follower) == []  # empty: nothing to tell it by yet
    append(path, B[:3])
    chunks = drain(follower)
    assert lines_of(chunks) == B[:3] and not any(c.reset for c in chunks)


def test_a_checkout_with_the_same_history_resends_nothing(tmp_path: Path) -> None:
    """git writes a new file (new inode): the delivered prefix is recognised by its bytes."""
    path = tmp_path / "events.jsonl"
    append(path, A[:20])
    follower = FileFollower(str(path))
    drain(follower)
    replacement = tmp_path / "checkout.tmp"
    append(replacement, A[:25])  # the same history, plus lines pulled from elsewhere
    replacement.replace(path)
    chunks = drain(follower)
    assert lines_of(chunks) == A[20:25] and not any(c.reset for c in chunks)


def test_a_checkout_of_another_history_replays_with_a_fresh_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:20])
    follower = FileFollower(str(path))
    drain(follower)
    replacement = tmp_path / "checkout.tmp"
    append(replacement, A[:3] + B[:15])  # same start, then another branch's lines
    replacement.replace(path)
    chunks = drain(follower)
    assert lines_of(chunks) == A[:3] + B[:15]
    assert chunks[0].reset and chunks[0].offset == 0
    assert not any(c.reset for c in chunks[1:])


def test_a_restart_resumes_at_the_mark_and_notices_a_different_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:10])
    first = FileFollower(str(path))
    mark = drain(first)[-1].mark
    first.close()
    append(path, A[10:12])
    assert lines_of(drain(FileFollower(str(path), mark))) == A[10:12]
    # the same inode number could come back for another file: the bytes tell them apart
    path.unlink()
    append(path, B[:3])
    other = FileFollower(str(path), mark)
    assert lines_of(drain(other)) == B[:3]


def test_a_restart_after_rotation_finishes_the_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append(path, A[:10])
    first = FileFollower(str(path))
    mark = first.poll(len(A[0]) * 3).mark  # only some lines were delivered before the crash
    first.close()
    path.rename(tmp_path / "events.jsonl.1")
    append(path, B[:2])
    chunks = drain(FileFollower(str(path), mark), settle_s=0.1)
    assert lines_of(chunks)[-2:] == B[:2]
    assert b"".join(c.data for c in chunks[:-1]).splitlines() == A[mark.line - 1 : 10]


def test_the_mark_tracks_head_and_bytes_before_the_offset(tmp_path: Path) -> None:
    mark = FileMark(path="f")
    grown = mark.advanced(b"abc\n", b"", 1).advanced(b"de\n", b"abc\n", 1)
    assert (grown.offset, grown.line, grown.head) == (7, 3, b"abc\nde\n")
    assert grown.tail == FileMark(path="f").advanced(b"abc\nde\n", b"", 2).tail
