"""The identity engine's picture of one events file, for writers that need trace context.

A writer asks where an artifact sits (its trace, its parent) before appending a line.
The view answers from an `Engine` that starts from the tail adapter's committed state
when that state describes this very file (its checkpoint mark matches device, inode,
first bytes and the bytes before the offset) — loaded lazily, read only — and replays
in memory the lines after the checkpoint. It is kept current under the writer's lock:
`catch_up` reads only the bytes appended since the last call.

The adapter's state is never written. When no adapter has read the file (or it lags
far behind), a long replay is stored in a cache of our own beside it
(`.intent/observe/emit-<hash>.sqlite`, same format, same checkpoint marks), so the
next `intent-observe emit` starts from there instead of replaying the whole file.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

from intent_observe import layout, sqlite
from intent_observe.artifacts.ids import IdStyles
from intent_observe.events import Event, iter_lines, parse_line
from intent_observe.identity import checkpoint, ids
from intent_observe.identity.checkpoint import FileMark
from intent_observe.identity.engine import Engine
from intent_observe.identity.state_db import IdentityStore, stored_scope
from intent_observe.model import ArtifactKind
from intent_observe.records import ArtifactView, TraceContext
from intent_observe.safe_files import private_file
from intent_observe.sqlite import Mode

CACHE_AFTER_LINES = 2_000  # a replay this long is worth storing for the next process
DRAIN_EVERY = 1_000  # lines replayed between two drains: the engine's memory stays bounded


class IdentityView:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.scope = ""  # a single file's scope, unless the adapter's state says otherwise
        self.engine = Engine(scope=self.scope)
        self.offset = 0  # bytes of the file the engine has seen (always after a newline)
        self.replayed = 0  # lines replayed since the start (beyond the stored checkpoint)
        self.started_from: Path | None = None  # the stored state the view started from
        self._line = 1
        self._inode: tuple[int, int] | None = None
        self._store: IdentityStore | None = None  # the committed state the engine reads lazily
        self._cache: IdentityStore | None = None  # our cache, once written to
        self._base_offset = 0  # the checkpoint the view started from
        self._id_styles: IdStyles | None = None  # see `id_styles`
        self._caching = True
        self.cache_error: str | None = None

    # ------------------------------------------------------------ keeping up
    def invalidate(self) -> None:
        """Forget everything; the next `catch_up` starts over."""
        self._close_store()
        self.scope, self.engine, self.started_from = "", Engine(scope=""), None
        self.offset, self._line, self._inode, self.replayed = 0, 1, None, 0
        self._id_styles = None

    def close(self) -> None:
        self.invalidate()

    def _close_store(self) -> None:
        for store in {id(s): s for s in (self._store, self._cache) if s is not None}.values():
            store.close()
        self._store = self._cache = None

    def _start(self, stat: os.stat_result, size: int) -> None:
        """Start from the committed state furthest into this file: the adapter's, or our cache."""
        self.invalidate()
        self._inode = (stat.st_dev, stat.st_ino)
        found = []
        for state_path in [*layout.tail_states(layout.state_dir(self.path)), self.cache_path]:
            opened = self._open_state(state_path, stat, size)
            if opened is not None:
                found.append((opened[1].mark.offset, state_path, opened))
        if not found:
            return
        found.sort(key=lambda item: item[0])
        for _, _, (store, _) in found[:-1]:
            store.close()
        _, state_path, (store, saved) = found[-1]
        scope = stored_scope(store.conn) or ""
        try:
            state = store.load(scope)
        except (sqlite3.Error, RuntimeError):
            store.close()
            return
        self._store, self.scope, self.started_from = store, scope, state_path
        self.engine = Engine(state, scope=scope)
        self.offset, self._line = saved.mark.offset, saved.mark.line
        self._base_offset = saved.mark.offset

    def _open_state(
        self, state_path: Path, stat: os.stat_result, size: int
    ) -> tuple[IdentityStore, checkpoint.Checkpoint] | None:
        """A state file whose checkpoint is a position in this very file (device, inode, bytes)."""
        saved = _read_checkpoint(state_path)
        if saved is None or not self._mark_matches(saved.mark, stat, size):
            return None
        try:
            return IdentityStore(state_path), saved  # its tables exist: opening creates nothing
        except sqlite3.Error:
            return None

    # ------------------------------------------------------------ our own cache
    @property
    def cache_path(self) -> Path:
        return layout.emit_cache(self.path)

    def should_cache(self) -> bool:
        """Enough lines were replayed beyond the stored checkpoint to be worth keeping."""
        return self._caching and self.replayed >= CACHE_AFTER_LINES and self._inode is not None

    def cache_if_worth(self) -> None:
        """Save the cache when `should_cache`; a failure only costs speed and is kept in `cache_error`."""
        if not self.should_cache():
            return
        try:
            self.save_cache()
        except (sqlite3.Error, OSError) as exc:
            self.cache_error = f"identity cache not saved ({exc}); the next emit replays more"
            self._caching = False

    def save_cache(self) -> None:
        """Store the engine with a checkpoint at `offset`, so the next process replays only what follows.
        Saved every few thousand replayed lines, so a long replay never serialises it all at once."""
        store, replace_all = self._cache_store()
        store.conn.executescript(checkpoint.SCHEMA)
        prepared = store.prepare(self.engine)
        if replace_all:
            prepared = replace(prepared, replace_all=True)  # nothing of an older file survives
        with store.transaction() as conn:
            prepared.apply(conn)
            checkpoint.write(conn, checkpoint.Checkpoint(self._mark()))
        self.replayed = 0

    def _cache_store(self) -> tuple[IdentityStore, bool]:
        """Our cache, opened once, and whether its rows must all be replaced by this first save."""
        if self._cache is not None:
            return self._cache, False
        if self.started_from == self.cache_path:
            self._cache = self._store
            assert self._cache is not None
            return self._cache, False
        store = IdentityStore(private_file(self.cache_path))  # 0600 in a 0700 directory, as the tail's
        if self.started_from is not None:
            self._seed(store, self.started_from)
        self._cache = store
        return store, self.started_from is None

    def _seed(self, store: IdentityStore, adapter_state: Path) -> None:
        """Copy the adapter's state we started from into our cache; our changes go on top of it."""
        source = sqlite.connect(adapter_state, Mode.READ_ONLY)
        try:
            source.backup(store.conn)
        finally:
            source.close()
        saved = checkpoint.load(store.conn)
        if saved is None or saved.mark.offset != self._base_offset:
            store.close()
            raise sqlite3.DatabaseError("the adapter committed meanwhile: its state is not our base any more")

    def _mark(self) -> FileMark:
        assert self._inode is not None
        with open(self.path, "rb") as fh:
            head, tail = checkpoint.fingerprint(fh.fileno(), self.offset)
        dev, ino = self._inode
        return FileMark(str(self.path), dev, ino, self.offset, self._line, head, tail)

    def _mark_matches(self, mark: FileMark, stat: os.stat_result, size: int) -> bool:
        if (mark.dev, mark.ino) != (stat.st_dev, stat.st_ino):
            return False
        with open(self.path, "rb") as fh:
            return mark.holds(fh.fileno(), size)

    def catch_up(self, size: int) -> bool:
        """Read the file up to `size`; True when its last line lacks a newline (it was read as a line)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.invalidate()
            return False
        if (stat.st_dev, stat.st_ino) != self._inode or size < self.offset:
            self._start(stat, size)  # first use, or rotated, replaced, truncated: start over
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        terminate = bool(data) and not data.endswith(b"\n")
        start = self.offset
        self._feed(data + b"\n" if terminate else data, end_of_lines=start + data.rfind(b"\n") + 1)
        self.offset = start + len(data)
        return terminate

    def wrote(self, size_before: int, written: int, size_after: int) -> None:
        """Our lines (already processed) end the file now, unless an unlocked writer slipped in."""
        if size_after == size_before + written:
            self.offset = size_after
        else:
            self.invalidate()

    def _feed(self, data: bytes, end_of_lines: int) -> None:
        """The lines of `data` (read at `offset`) into the engine; `end_of_lines`: after the last newline."""
        for raw, position in iter_lines(data, str(self.path), self.offset, self._line):
            self._line = position.line + 1
            parsed = parse_line(raw, position)
            if not isinstance(parsed, Event):
                continue
            self.process(parsed)
            self.replayed += 1
            if self.replayed % DRAIN_EVERY == 0:
                self._settle()
                line_end = position.offset + len(raw) + 1
                if line_end <= end_of_lines:  # a checkpoint only ever follows a newline of the file
                    self.offset = line_end
                    self.cache_if_worth()
        self._settle()

    def process(self, ev: Event) -> None:
        self.engine.process(ev)
        if self._id_styles is not None:
            for value in _named_ids(ev):
                self._id_styles.note(value)
        # Log records are not needed here; dropping them keeps memory flat.
        self.engine.clear_pending()

    def _settle(self) -> None:
        """Place what can be placed and let the engine spill to disk, as the adapter does after a
        batch; the spans it hands back are not ours to export."""
        self.engine.drain()

    # ------------------------------------------------------------ questions
    def _latest(self, kind: ArtifactKind, artifact_id: str) -> ArtifactView | None:
        artifacts = self.engine.state.artifacts
        first = artifacts.get(f"{kind.value}:{artifact_id}")
        if first is None:
            return None
        return artifacts[first.latest] if first.latest else first

    def context(self, kind: ArtifactKind, artifact_id: str) -> TraceContext | None:
        return self.engine.context(kind, artifact_id)

    def exists(self, kind: ArtifactKind, artifact_id: str) -> bool:
        """An event of its own has announced this artifact (not merely another event naming it)."""
        art = self._latest(kind, artifact_id)
        return art is not None and not art.bare

    def files_of(self, kind: ArtifactKind, artifact_id: str) -> set[str]:
        """The artifact files (`data.file`, normalised) the artifacts of an id were announced from:
        each is one artifact (the engine keeps them with the id's first artifact)."""
        first = self.engine.state.artifacts.get(f"{kind.value}:{artifact_id}")
        return set(first.files) if first is not None and first.files is not None else set()

    def id_styles(self) -> IdStyles:
        """The styles of the ids the history names (numbered, ULID; which prefix per kind).

        One scan of the keys on first use; after that every processed event updates it.
        """
        if self._id_styles is None:
            self._id_styles = IdStyles()
            for key in self.engine.state.artifacts.keys():  # noqa: SIM118 - the engine's view
                self._id_styles.note(key.partition(":")[2])
        return self._id_styles

    def parent_of(self, kind: ArtifactKind, artifact_id: str, parent_kind: ArtifactKind) -> str | None:
        art = self._latest(kind, artifact_id)
        if art is None:
            return None
        key = {
            ArtifactKind.INTENT: art.intent,
            ArtifactKind.SPEC: art.spec,
            ArtifactKind.CONTRACT: art.contract,
        }
        parent_key = key.get(parent_kind)
        return self.engine.state.artifacts[parent_key].id if parent_key else None

    def intent_trace(self, intent_id: str) -> str:
        """The intent's trace id: where it is placed, its claimed UUID, or the one the engine will derive."""
        return self._container_trace(ArtifactKind.INTENT, intent_id)

    def cluster_trace(self, cluster_id: str) -> str:
        return self._container_trace(ArtifactKind.CLUSTER, cluster_id)

    def _container_trace(self, kind: ArtifactKind, artifact_id: str) -> str:
        art = self._latest(kind, artifact_id)
        if art is not None and art.trace_id is not None:
            return art.trace_id
        if art is not None and art.claimed_trace is not None:
            return art.claimed_trace
        key = art.key if art is not None else f"{kind.value}:{artifact_id}"
        return ids.uuid_trace_id(self.scope, kind.value, key)

    def cluster_of(self, signal_id: str) -> str | None:
        sig = self._latest(ArtifactKind.SIGNAL, signal_id)
        if sig is None or sig.cluster is None:
            return None
        return self.engine.state.artifacts[sig.cluster].id

    def intent_members(self, intent_id: str) -> set[str]:
        art = self._latest(ArtifactKind.INTENT, intent_id)
        return set(art.members) if art is not None else set()

    def new_members(self, intent_id: str, before: set[str]) -> list[tuple[str, str | None]]:
        """(signal id, cluster id) of each signal that joined the intent since `before`, in join order."""
        art = self._latest(ArtifactKind.INTENT, intent_id)
        if art is None:
            return []
        artifacts = self.engine.state.artifacts
        out = []
        for key in art.members:
            sig = artifacts[key]
            if key in before or sig.id is None:
                continue
            cluster = artifacts[sig.cluster].id if sig.cluster else None
            out.append((sig.id, cluster))
        return out


def _named_ids(ev: Event) -> list[str]:
    """Every id an event names: the artifacts the engine creates or touches for it."""
    named = [
        ev.artifact_id,
        ev.parent_id,
        ev.intent_id,
        ev.spec_id,
        ev.contract_id,
        ev.cluster_id,
        ev.signal_id,
    ]
    for key in ("signals", "contracts"):
        listed = ev.payload.get(key)
        if isinstance(listed, list):
            named.extend(item for item in listed if isinstance(item, str))
    return [value for value in named if value]


def _read_checkpoint(state_path: Path) -> checkpoint.Checkpoint | None:
    """The checkpoint of a state file, read without writing to it (None: not a state file)."""
    if not state_path.is_file():
        return None
    try:
        conn = sqlite.connect(state_path, Mode.READ_ONLY)
    except sqlite3.Error:
        return None
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"tail_checkpoint", "engine", "artifacts", "memberships"} <= tables:
            return None
        return checkpoint.load(conn)
    except (sqlite3.Error, KeyError, ValueError):
        return None
    finally:
        conn.close()
