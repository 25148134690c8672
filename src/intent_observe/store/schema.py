"""Opening the store file and bringing its schema up to date.

The schema is the ordered list of `migrations/NNNN_*.sql` files; `PRAGMA user_version`
records how many have been applied, each in its own transaction, so an interrupted
upgrade leaves the file at the previous version, never half-migrated.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

from intent_observe import sqlite
from intent_observe.safe_files import UnsafeFileError, private_file
from intent_observe.sqlite import Mode

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The store file cannot be used (newer schema, corrupt file, unwritable directory)."""


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every migration shipped in the package, in order, numbered 1, 2, 3…"""
    folder = resources.files("intent_observe.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    expected = list(range(1, len(found) + 1))
    if [v for v, _ in found] != expected:
        raise StoreError(f"migrations are not numbered 1..{len(found)}: {[v for v, _ in found]}")
    return found


def store_connection(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the store: crash-safe (an OS crash may lose the newest commits), or a
    reader's; WAL keeps readers unblocked."""
    conn = sqlite.connect(path, Mode.READ_ONLY if readonly else Mode.CRASH_SAFE, busy_timeout_s=30.0)
    if not readonly:
        conn.execute("PRAGMA foreign_keys=OFF")
    # the writer updates several indexes per event: a larger page cache keeps them off the disk
    conn.execute(f"PRAGMA cache_size={-16_000 if readonly else -128_000}")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the file has not seen yet; returns the schema version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    steps = migrations()
    if current > len(steps):
        raise StoreError(
            f"the store was written by a newer intent-observe (schema {current}, this one knows "
            f"{len(steps)}); upgrade intent-observe or use another --store"
        )
    for version, sql in steps[current:]:
        # executescript commits first, so BEGIN/COMMIT are spelled out to keep each step atomic
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(steps)


def open_store_file(path: Path) -> sqlite3.Connection:
    """The writer's connection to `path`, created and migrated as needed."""
    try:
        conn = store_connection(private_file(path))
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from None
    except UnsafeFileError as exc:
        raise StoreError(f"cannot use the store: {exc.strerror}") from None
    except OSError as exc:
        raise StoreError(f"cannot create the store directory {path.parent}: {exc}") from None
    return conn
