"""Following one event file through appends, rotation, truncation and replacement.

`FileFollower.poll()` hands out whole lines only, each chunk with the `FileMark` that
becomes the checkpoint once the chunk is delivered. What happens when the file changes:

- appended: the new complete lines; a half-written last line waits for its newline;
- renamed away and recreated (rotation): the old file is read to its end first (a last
  line without newline counts, as `report.read_history` counts it), then the new one;
- copied and truncated: the copy (a sibling named `<file>.<anything>` or `<file>-<anything>`
  whose first bytes and bytes before the offset match the mark) gives the lines not read
  yet, then the truncated file continues from its start;
- truncated without a copy: the file continues from its start;
- replaced (a git checkout writes a new file): how much of it was already sent is known by
  comparing it with the mark — same first bytes and the same bytes before the offset
  mean the prefix up to the offset is the history already delivered, so following goes on
  at the offset and nothing is resent; same first bytes but a different history from
  then on (another branch) means the history was rewritten: the follower asks for a fresh
  identity state and replays the file. Identical lines carry identical ids (event ids hash
  the line; span ids hash the artifact), so a store keyed on ids holds them once;
- new first bytes: a different file, read from its start as the next part of the history.

Continuation (rotation, truncation, a new file) keeps the identity state; only a
rewritten history starts a fresh one.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from intent_observe._core import count_lines
from intent_observe.identity.checkpoint import HEAD_BYTES, TAIL_BYTES, FileMark, bytes_before, read_at
from intent_observe.safe_files import UnsafeFileError, open_regular

log = logging.getLogger(__name__)

LONGEST_LINE = 64 * 1024 * 1024  # a longer line is skipped unread and dead-lettered by offset and length
_SCAN_BLOCK = 1 << 20  # looking for the end of a long line reads this much at a time
ROTATION_GRACE_S = 0.25  # a writer may still finish its line in a file just renamed away


class Verdict(enum.Enum):
    SAME = "same"  # the mark's history is a prefix of this file
    REWRITTEN = "rewritten"  # same start, another history after it
    DIFFERENT = "different"  # another file
    UNDECIDED = "undecided"  # too little of it to tell yet


@dataclass(frozen=True, slots=True)
class OversizedLine:
    """A line longer than LONGEST_LINE, skipped without being read whole."""

    offset: int
    line: int
    length: int  # bytes, its newline included
    head: bytes  # its first bytes, to recognise it by


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes  # complete lines, each ending with a newline
    file: str  # the path the lines are read from, as their positions name it
    offset: int  # byte offset of data[0]
    line: int  # line number of data's first line
    mark: FileMark  # the checkpoint once these lines are delivered
    reset: bool = False  # history rewritten: a fresh identity state before these lines
    oversized: OversizedLine | None = None  # data is empty then: the mark moves past this line


def classify(fd: int, size: int, mark: FileMark) -> Verdict:
    """How the file open at `fd` relates to the history the mark describes.

    The first line decides whether it is the same history at all (a rotated-in file starts
    with a new event; a checkout of the same repository starts with the same one); then the
    first bytes and the bytes before the offset decide whether what was delivered is still
    its prefix.
    """
    got = read_at(fd, min(size, len(mark.head)), 0)
    first = mark.head.find(b"\n") + 1  # length of the first line; 0 when none was delivered
    if got[:first] != mark.head[:first]:
        return Verdict.UNDECIDED if mark.head.startswith(got) else Verdict.DIFFERENT
    return Verdict.SAME if mark.holds(fd, size) else Verdict.REWRITTEN


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class FileFollower:
    """Follows `path`; `mark` is where the last run's delivered lines end (None: from the start)."""

    def __init__(self, path: str, mark: FileMark | None = None) -> None:
        self.path = path
        self._resume = mark
        self._fd: int | None = None
        self._label = path  # what positions call the file being read
        self._mark = FileMark(path=path)
        self._before = b""  # the bytes just before the read offset (for the next mark's hash)
        self._finishing_since: float | None = None  # old file after rotation: when it stopped growing
        self._next_reset = False
        self._scanned: tuple[int, int] = (-1, 0)  # (line start, where the search for its end got to)
        self._waiting_truncated = False
        self._switched = False
        self._said_missing = False
        self.problem: str | None = None  # why the path cannot be read now (a link, a FIFO…), for status
        self.notes: list[str] = []  # state changes to log: rotated, truncated, replaced…

    # ---------------------------------------------------------------- reading
    def poll(self, max_bytes: int) -> Chunk | None:
        """The next whole lines, or None when there is nothing new (yet)."""
        for _ in range(4):  # after moving to another file, look at that one at once
            self._switched = False
            chunk = self._poll_open_file(max_bytes)
            if chunk is not None or not self._switched:
                return chunk
        return None

    def _poll_open_file(self, max_bytes: int) -> Chunk | None:
        if self._fd is None and not self._open():
            return None
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if self._waiting_truncated:
            if not self._settle_truncated(size):
                return None
        elif not self._still_same(size):
            self._on_changed_in_place()
            self._switched = True
            return None
        if self._mark.offset < size:
            chunk = self._read(size, max_bytes)
            if chunk is not None:
                return chunk
        return self._at_end(size)

    @property
    def mark(self) -> FileMark:
        """The read position: every line before it has been handed out in a chunk."""
        return self._mark

    def size(self) -> int:
        try:
            return os.lstat(self.path).st_size
        except OSError:
            return 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read(self, size: int, max_bytes: int) -> Chunk | None:
        assert self._fd is not None
        start = self._mark.offset
        data = read_at(self._fd, min(max_bytes, size - start), start)
        end = data.rfind(b"\n")
        if end >= 0:
            return self._chunk(data[: end + 1])
        newline = self._end_of_line(start, start + len(data), size)
        if newline < 0:
            return None  # a half-written line: wait for its newline
        length = newline + 1 - start
        if length > LONGEST_LINE:
            return self._skip(length)
        return self._chunk(read_at(self._fd, length, start))  # one long line, read whole

    def _end_of_line(self, start: int, scan_from: int, size: int) -> int:
        """Offset of the newline ending the line at `start`, or -1 while it has none. Bytes
        already searched on an earlier poll are not read again, nor held in memory."""
        assert self._fd is not None
        line_start, scanned = self._scanned
        position = max(scan_from, scanned) if line_start == start else scan_from
        while position < size:
            block = read_at(self._fd, min(_SCAN_BLOCK, size - position), position)
            if not block:
                break
            found = block.find(b"\n")
            if found >= 0:
                return position + found
            position += len(block)
        self._scanned = (start, position)
        return -1

    def _skip(self, length: int) -> Chunk:
        """Move past an over-long line without reading it whole; the chunk names it for the dead letters."""
        assert self._fd is not None
        start = self._mark.offset
        first = read_at(self._fd, HEAD_BYTES, start)
        last = read_at(self._fd, TAIL_BYTES, start + length - TAIL_BYTES)
        line = OversizedLine(start, self._mark.line, length, first)
        mark = self._mark.advanced_over(length, first, last, self._before, 1)
        chunk = Chunk(b"", self._label, start, self._mark.line, mark, self._next_reset, line)
        self._next_reset = False
        self._before = last
        self._mark = mark
        return chunk

    def _chunk(self, data: bytes, unterminated: bool = False) -> Chunk:
        """`unterminated`: the last line of a finished file, counted although it has no newline."""
        lines = count_lines(data) + unterminated
        mark = self._mark.advanced(data, self._before, lines)
        text = data + b"\n" if unterminated else data
        chunk = Chunk(text, self._label, self._mark.offset, self._mark.line, mark, self._next_reset)
        self._next_reset = False
        self._before = (self._before + data)[-TAIL_BYTES:]
        self._mark = mark
        return chunk

    # ---------------------------------------------------------- file changes
    def _open(self) -> bool:
        """Open the path (and, on a restart, find where the last run stopped)."""
        fd = self._open_path()
        resume, self._resume = self._resume, None
        if resume is None:
            if fd is not None:
                self._use(fd, self.path)
            return fd is not None
        verdict = classify(fd, os.fstat(fd).st_size, resume) if fd is not None else None
        if verdict is Verdict.SAME:
            assert fd is not None
            self._use(fd, self.path, resume)
            return True
        sibling = self._find_copy(resume)
        if sibling is not None:
            if fd is not None:
                os.close(fd)
            self._finish_copy(sibling, resume)
            return True
        if fd is None or verdict is None:
            self._resume = resume  # neither the file nor a copy: wait for it
            return False
        if verdict is Verdict.UNDECIDED:
            os.close(fd)
            self._resume = resume
            return False
        self._start_over(fd, verdict, "not the file of the last run; reading it from its start")
        return True

    def _open_path(self) -> int | None:
        """The path opened for reading, or None while it is missing or unusable (a symbolic link,
        a directory, a FIFO: never followed or read; the problem is noted once and kept for status)."""
        try:
            fd = open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if not self._said_missing:
                self._said_missing = True
                self.notes.append(f"{self.path} does not exist (yet): waiting for it")
            return None
        except UnsafeFileError as error:
            if self.problem != error.strerror:
                self.problem = error.strerror
                log.warning("cannot follow %s; waiting for a regular file", error.strerror)
            return None
        self.problem = None
        return fd

    def _use(self, fd: int, label: str, mark: FileMark | None = None) -> None:
        """Read `fd` from `mark` (None: from its start)."""
        self.close()
        self._fd = fd
        self._switched = True
        self._label = label
        dev, ino = _identity(os.fstat(fd))
        base = mark or FileMark()
        self._mark = replace(base, path=label, dev=dev, ino=ino)
        self._before = bytes_before(fd, self._mark.offset)
        self._finishing_since = None

    def _still_same(self, size: int) -> bool:
        """Whether the bytes already read are still in the file (not truncated or rewritten in place)."""
        assert self._fd is not None
        return self._mark.holds(self._fd, size)

    def _on_changed_in_place(self) -> None:
        """Truncated (or rewritten in place): finish from a copy if there is one, else start over."""
        sibling = self._find_copy(self._mark)
        if sibling is not None:
            self.notes.append(f"{self.path}: copied to {sibling} and truncated; finishing the copy first")
            self._finish_copy(sibling, self._mark)
            return
        self._waiting_truncated = True

    def _settle_truncated(self, size: int) -> bool:
        """After a truncation without a copy: decide, once there is enough to compare, how to go on."""
        assert self._fd is not None
        verdict = classify(self._fd, size, self._mark)
        if verdict is Verdict.UNDECIDED:
            return False
        self._waiting_truncated = False
        if verdict is Verdict.SAME:
            return True  # rewritten with the same content: nothing to do
        self._start_over(os.dup(self._fd), verdict, "truncated; continuing from its start")
        return True

    def _start_over(self, fd: int, verdict: Verdict, why: str) -> None:
        """Read the path from its start; with a fresh identity state if its history was rewritten."""
        self._use(fd, self.path)
        if verdict is Verdict.REWRITTEN:
            self._rewritten()
        else:
            self.notes.append(f"{self.path}: {why}")

    def _rewritten(self) -> None:
        self._next_reset = True
        self.notes.append(
            f"{self.path}: replaced by another history (e.g. a git checkout); replaying it with a fresh "
            "identity state (lines already sent keep their ids)"
        )

    def _at_end(self, size: int) -> Chunk | None:
        """Caught up with the open file: has the path moved on to another file?"""
        assert self._fd is not None
        if self._label != self.path:
            return self._end_of_old_file(size)  # a copy or a rotated file: finish, then the path
        try:
            current = os.lstat(self.path)  # a symbolic link put in its place is another file
        except FileNotFoundError:
            return None  # renamed away, not recreated yet: the old file may still grow
        if _identity(current) == _identity(os.fstat(self._fd)):
            return None
        fd = self._open_path()
        if fd is None:
            return None
        verdict = classify(fd, os.fstat(fd).st_size, self._mark)
        if verdict is Verdict.UNDECIDED:
            os.close(fd)
            return None
        if verdict is Verdict.SAME:
            self.notes.append(f"{self.path}: replaced by a file with the same history; following the new one")
            self._use(fd, self.path, self._mark)
            return None
        if verdict is Verdict.REWRITTEN:
            self._use(fd, self.path)
            self._rewritten()
            return None
        os.close(fd)
        self._label = self._old_name()
        self._finishing_since = time.monotonic()
        self.notes.append(f"{self.path}: rotated; finishing the old file ({self._label}) first")
        return None

    def _end_of_old_file(self, size: int) -> Chunk | None:
        """The old file is read to its end, its last line counted even without a newline."""
        assert self._fd is not None
        now = time.monotonic()
        if self._finishing_since is not None and now - self._finishing_since < ROTATION_GRACE_S:
            return None
        if self._mark.offset < size:
            rest = read_at(self._fd, size - self._mark.offset, self._mark.offset)
            return self._chunk(rest, unterminated=True)
        fd = self._open_path()
        if fd is None:
            return None
        self._use(fd, self.path)
        self.notes.append(f"{self.path}: now following the new file")
        return None

    def _old_name(self) -> str:
        """Where the file we still hold went (a sibling with our inode), for positions and logs."""
        assert self._fd is not None
        ours = _identity(os.fstat(self._fd))
        for candidate in _siblings(self.path):
            try:
                if _identity(os.stat(candidate)) == ours:
                    return candidate
            except OSError:
                continue
        return self.path + " (rotated)"

    def _find_copy(self, mark: FileMark) -> str | None:
        """A sibling that holds the mark's history: a rotated or copied-then-truncated file."""
        candidates = sorted(_siblings(self.path), key=lambda p: (_inode_of(p) != (mark.dev, mark.ino), p))
        for candidate in candidates:
            try:
                fd = open_regular(candidate, os.O_RDONLY)
            except OSError:
                continue
            try:
                if mark.offset and classify(fd, os.fstat(fd).st_size, mark) is Verdict.SAME:
                    return candidate
            finally:
                os.close(fd)
        return None

    def _finish_copy(self, copy: str, mark: FileMark) -> None:
        fd = open_regular(copy, os.O_RDONLY)
        self._use(fd, copy, mark)
        self._finishing_since = None


def _inode_of(path: str) -> tuple[int, int]:
    try:
        return _identity(os.stat(path))
    except OSError:
        return (-1, -1)


def _siblings(path: str) -> list[str]:
    """Files next to `path` named like its rotations: `<name>.<suffix>` or `<name>-<suffix>`."""
    target = Path(path)
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return []
    prefixes = (target.name + ".", target.name + "-")
    return [
        os.path.join(target.parent, e.name)
        for e in entries
        if e.name.startswith(prefixes)
        and not e.name.endswith((".gz", ".zst", ".bz2", ".xz"))
        and e.is_file(follow_symlinks=False)
    ]
