"""The named connection modes give the journal and fsync settings they promise."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

from intent_observe import sqlite
from intent_observe.sinks.disk_queue import DiskQueue
from intent_observe.sqlite import Mode

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL"}


@pytest.mark.parametrize(
    ("mode", "journal", "synchronous"),
    [(Mode.DURABLE, "wal", "FULL"), (Mode.CRASH_SAFE, "wal", "NORMAL"), (Mode.SCRATCH, "off", "OFF")],
)
def test_writable_modes(tmp_path: Path, mode: Mode, journal: str, synchronous: str) -> None:
    conn = sqlite.connect(tmp_path / "x.sqlite", mode)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
    assert SYNCHRONOUS[conn.execute("PRAGMA synchronous").fetchone()[0]] == synchronous
    conn.execute("CREATE TABLE t (x)")  # autocommit: visible to another connection at once
    assert sqlite3.connect(tmp_path / "x.sqlite").execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_read_only_never_creates_nor_writes(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        sqlite.connect(tmp_path / "missing.sqlite", Mode.READ_ONLY)
    assert not (tmp_path / "missing.sqlite").exists()
    sqlite.connect(tmp_path / "x.sqlite", Mode.DURABLE).execute("CREATE TABLE t (x)")
    reader = sqlite.connect(tmp_path / "x.sqlite", Mode.READ_ONLY)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO t VALUES (1)")


def test_pragmas_before_the_journal_shape_a_new_file(tmp_path: Path) -> None:
    with DiskQueue(tmp_path / "q.sqlite"):
        pass
    conn = sqlite3.connect(tmp_path / "q.sqlite")
    assert conn.execute("PRAGMA page_size").fetchone() == (65536,)
    assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental


def test_every_connection_is_opened_by_sqlite_connect() -> None:
    src = Path(__file__).parent.parent / "src" / "intent_observe"
    elsewhere = [
        f"{path.relative_to(src)}:{node.lineno}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "sqlite.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "connect" and ast.unparse(node.value) == "sqlite3"
    ]
    assert elsewhere == []
