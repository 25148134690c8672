"""Opening the files intent-observe reads and writes without being led elsewhere.

A repository is not always trusted: a cloned one may hold `.intent/events/events.jsonl`
as a symbolic link to a file of the user's (whose lines would then be shown in the app
and copied into the dead-letter file), a dangling link pointing where a write would
create a file, or a FIFO that blocks whoever opens it. So every such file is opened
with O_NOFOLLOW and must be a regular file, and what intent-observe keeps for itself
(the store, the tail's state, dead letters, queues) is private: files 0600 in
directories 0700.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class UnsafeFileError(OSError):
    """A path that is a symbolic link or not a regular file; the message says which and what to do."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str | Path, flags: int, mode: int = PRIVATE_FILE) -> int:
    """`os.open` for a regular file only, never through a symbolic link at `path`.

    Opened non-blocking first, so that a FIFO is refused instead of blocking the caller
    until some writer appears; the descriptor returned blocks as usual."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as error:
        raise _explained(path, error) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(errno.EINVAL, f"{path} is {_kind(st.st_mode)}, not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _explained(path: str | Path, error: OSError) -> OSError:
    if error.errno == errno.ELOOP:
        return UnsafeFileError(
            errno.ELOOP,
            f"{path} is a symbolic link: intent-observe does not follow links (it could lead out of "
            "the repository); use the file's real path",
        )
    if error.errno in (errno.EISDIR, errno.ENXIO):  # ENXIO: a FIFO opened for writing with no reader
        try:
            return UnsafeFileError(
                error.errno, f"{path} is {_kind(os.lstat(path).st_mode)}, not a regular file"
            )
        except OSError:
            return error
    return error


def check_regular_or_absent(path: str | Path) -> None:
    """Raise UnsafeFileError when `path` exists as anything but a regular file (links included)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _explained(path, OSError(errno.ELOOP, "symbolic link"))
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(errno.EINVAL, f"{path} is {_kind(st.st_mode)}, not a regular file")


def private_dir(path: Path) -> Path:
    """`path` as a directory of ours: created 0700 (parents as usual), never a symbolic link."""
    if path.is_symlink():
        raise UnsafeFileError(
            errno.ELOOP, f"{path} is a symbolic link: intent-observe keeps its files only in a real directory"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        if not path.is_dir():
            raise UnsafeFileError(errno.ENOTDIR, f"{path} is not a directory") from None
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 unless it exists (then it must be a regular file), in a
    private directory, before a library such as SQLite opens it by name (its -wal and -shm
    files take the database file's permissions)."""
    private_dir(path.parent)
    fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, every link resolved, stays under `root` (resolved too)."""
    return path.resolve().is_relative_to(root.resolve())
