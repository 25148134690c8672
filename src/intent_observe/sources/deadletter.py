"""The dead-letter file: one JSON line per unusable event line, written exactly once.

Entries are appended when the batch holding the bad lines is committed, and the file's
size is saved in the same transaction as the checkpoint. On start the file is cut back
to that size, so entries of a batch that was never acknowledged (the process was killed)
are dropped and written again when those lines are read again: no entry is lost or doubled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson

from intent_observe.model import Rejected
from intent_observe.safe_files import open_regular, private_dir

MAX_RAW_CHARS = 64 * 1024  # a rejected line longer than this is kept in part, and says so


class DeadLetterFile:
    def __init__(self, path: Path, committed_size: int) -> None:
        self.path = path
        private_dir(path.parent)
        self._fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        if os.fstat(self._fd).st_size > committed_size:
            os.ftruncate(self._fd, committed_size)
        self.size = os.fstat(self._fd).st_size

    def append(self, rejected: Iterable[Rejected]) -> int:
        """Append durably; returns the new size, to be saved with the checkpoint."""
        data = b"".join(entry_line(r) for r in rejected)
        if data:
            os.write(self._fd, data)
            os.fsync(self._fd)
            self.size += len(data)
        return self.size

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)
        self.size = 0

    def close(self) -> None:
        os.close(self._fd)


def entry_line(rejected: Rejected) -> bytes:
    text = rejected.raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
    doc: dict[str, object] = {
        "file": rejected.position.file,
        "line": rejected.position.line,
        "offset": rejected.position.offset,
        "reason": rejected.reason,
        "raw": text[:MAX_RAW_CHARS],
    }
    if len(text) > MAX_RAW_CHARS:
        doc["raw_truncated"] = True
    return orjson.dumps(doc) + b"\n"
