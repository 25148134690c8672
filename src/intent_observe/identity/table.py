"""A mapping that keeps the recently used part of the identity state in memory.

A repository's log may hold millions of artifacts; the adapter must run in flat
memory however long the file. Entries beyond `limit` are spilled, least recently
inserted first, to a scratch SQLite file (no fsync: it is swap, not state, and is
thrown away at start-up). A key never touched in this process is read from the
committed identity state (`backing`), which `IdentityStore` saves with the
checkpoints. So a lookup always finds the newest version: memory, then spill,
then committed.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from intent_observe import sqlite
from intent_observe.sqlite import Mode

V = TypeVar("V")

DEFAULT_LIMIT = 25_000
_EVICT_FRACTION = 0.2
_FILTER_BITS = 1 << 25  # 4 MiB: about 2% false positives at three million keys


class KeyFilter:
    """A Bloom filter of keys stored outside memory, so a brand-new key costs no disk lookup."""

    def __init__(self, bits: int = _FILTER_BITS) -> None:
        self._bits = bytearray(bits // 8)
        self._mask = bits - 1

    def _slots(self, key: str) -> tuple[int, int, int]:
        h = hash(key)
        mask = self._mask
        return h & mask, (h >> 25) & mask, ((h >> 50) ^ (h * 0x9E3779B1)) & mask

    def add(self, key: str) -> None:
        for slot in self._slots(key):
            self._bits[slot >> 3] |= 1 << (slot & 7)

    def __contains__(self, key: str) -> bool:
        # Unrolled: most lookups are brand-new keys, answered by the first bit that is unset.
        a, b, c = self._slots(key)
        bits = self._bits
        return bool(
            bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1 and bits[c >> 3] >> (c & 7) & 1
        )


class SpillingTable(Generic[V]):
    def __init__(
        self,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
        *,
        limit: int = DEFAULT_LIMIT,
        backing: Callable[[str], bytes | None] | None = None,
        backing_keys: Callable[[], Iterator[str]] | None = None,
    ) -> None:
        self._encode = encode
        self._decode = decode
        self._limit = limit
        self._backing = backing
        self._backing_keys = backing_keys
        self._hot: dict[str, V] = {}  # insertion order = recency (re-inserted on use)
        self._spill: sqlite3.Connection | None = None
        self._outside: KeyFilter | None = None  # keys that may be in the spill or the backing
        if backing_keys is not None:
            self._outside = KeyFilter()
            for key in backing_keys():
                self._outside.add(key)

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __getitem__(self, key: str) -> V:
        try:
            return self._hot[key]
        except KeyError:
            value = self.get(key)
            if value is None:
                raise
            return value

    def __setitem__(self, key: str, value: V) -> None:
        self._hot[key] = value

    def get(self, key: str) -> V | None:
        value = self._hot.get(key)
        if value is not None:
            return value
        raw = self._load(key)
        if raw is None:
            return None
        value = self._decode(raw)
        self._hot[key] = value  # back at the young end
        return value

    def trim(self) -> None:
        """Spill the oldest entries when over the limit.

        Called only between events (the engine's `drain`), never while a caller may
        hold an entry it is about to change: what is spilled is never modified after.
        """
        if len(self._hot) > self._limit:
            self._evict()

    def keys(self) -> Iterator[str]:
        seen = set(self._hot)
        yield from list(self._hot)
        if self._spill is not None:
            for (key,) in self._spill.execute("SELECT key FROM spill ORDER BY key").fetchall():
                if key not in seen:
                    seen.add(key)
                    yield key
        if self._backing_keys is not None:
            for key in self._backing_keys():
                if key not in seen:
                    yield key

    def values(self) -> Iterator[V]:
        """Every entry, loading spilled and committed ones as it goes (a full scan: use rarely)."""
        for key in self.keys():
            value = self._hot.get(key)
            if value is None:
                raw = self._load(key)
                if raw is None:
                    continue
                value = self._decode(raw)
            yield value

    def _load(self, key: str) -> bytes | None:
        if self._outside is None or key not in self._outside:
            return None
        if self._spill is not None:
            row = self._spill.execute("SELECT doc FROM spill WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return row[0]
        return self._backing(key) if self._backing is not None else None

    def _evict(self) -> None:
        count = len(self._hot) - self._limit + int(self._limit * _EVICT_FRACTION)
        victims = []
        for key in self._hot:
            victims.append(key)
            if len(victims) == count:
                break
        spill = self._spill_db()
        if self._outside is None:
            self._outside = KeyFilter()
        for key in victims:
            self._outside.add(key)
        rows = [(key, self._encode(self._hot.pop(key))) for key in victims]
        spill.execute("BEGIN")  # one transaction, not one per row (autocommit connection)
        spill.executemany("INSERT OR REPLACE INTO spill (key, doc) VALUES (?, ?)", rows)
        spill.execute("COMMIT")

    def _spill_db(self) -> sqlite3.Connection:
        if self._spill is None:
            # Unlinked at once: the file lives exactly as long as this table.
            directory = tempfile.mkdtemp(prefix="intent-observe-spill-")
            path = Path(directory) / "spill.db"
            self._spill = sqlite.connect(path, Mode.SCRATCH)
            path.unlink()
            Path(directory).rmdir()
            self._spill.execute("CREATE TABLE spill (key TEXT PRIMARY KEY, doc BLOB NOT NULL)")
        return self._spill
