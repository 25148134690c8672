"""Append well-formed Intent events to a repository's `events.jsonl`, trace context filled in.

    from intent_observe import emit
    emit("spec.created", id="SPEC-042", parent="INT-015", data={"title": "Retry login"})

Every event is written in the envelope shape (schema 0.2.0) with the trace context the
identity model prescribes: orphan signals carry no trace; clustered signals the
cluster's provisional `cluster-{uuid}`; intents, their specs, contracts and
assertions the intent's trace id, each naming its parent artifact. The context comes
from the identity engine fed with the same file (`IdentityView`). A promotion also
writes one backfill `signal.promoted` per member signal that joins the intent, so the
log itself shows every signal inside the intent's trace.

Appends are safe with several writers: under an exclusive `flock` on the file and on
`events.jsonl.lock` (the lock the Intent framework's own writers take, `flock -x` on
that file), the view catches up with what others wrote, the ids are checked against it,
and each line goes out in one `os.write` on an `O_APPEND` descriptor. Bad input raises
`EmitError` before anything is written.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from intent_observe import layout
from intent_observe.artifacts.ids import PREFIXES
from intent_observe.emitter.draft import (
    Draft,
    EmitError,
    Rule,
    check_id,
    check_parent_kind,
    check_type,
    default_actor,
    has_text,
    line_bytes,
    link_ids,
    missing,
    prefix_of,
    promoted_intent,
    related_id,
    rule_for,
    utc_timestamp,
)
from intent_observe.events import Rejected
from intent_observe.events.parse import (
    TYPED_ID_FIELD,
    artifact_file,
    clean_id,
    kind_of_id,
    kind_of_type,
    parse_line,
)
from intent_observe.identity import ids
from intent_observe.identity.view import IdentityView
from intent_observe.model import ArtifactKind, Position
from intent_observe.records import TraceContext
from intent_observe.safe_files import open_regular

SCHEMA_VERSION = "0.2.0"
AUTO_ID = "auto"  # the next id in the repository's style (numbered or ULID)
ULID_ID = "ulid"  # a new ULID id, whatever the repository's style


@dataclass(slots=True)
class Emitted:
    """What one call wrote: the event asked for first, then its backfill lines (none when skipped)."""

    path: Path
    lines: list[dict[str, Any]]
    context: TraceContext | None  # the emitted artifact's span, once it is placed
    warnings: list[str] = field(default_factory=list)

    @property
    def event(self) -> dict[str, Any]:
        return self.lines[0]


# ------------------------------------------------------------------ locations
def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding `.intent/`, else the git root."""
    here = (start or Path.cwd()).resolve()
    chain = [here, *here.parents]
    for directory in chain:
        if (directory / layout.INTENT_DIR).is_dir():
            return directory
    for directory in chain:
        if (directory / ".git").exists():
            return directory
    raise EmitError(
        f"no .intent/ directory or git repository at or above {here}; run inside one or pass a file"
    )


def events_path(repo: Path | None = None) -> Path:
    return layout.events_file(find_repo_root(repo))


# ------------------------------------------------------------------ the writer
class Emitter:
    """Appends events to one file; keeps its identity view between calls (cheap repeated emits)."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.view = IdentityView(self.path)
        self._lock = threading.Lock()

    def emit(
        self,
        drafts: Sequence[Draft],
        *,
        allow_reuse: bool = False,
        skip_existing: bool = False,
        lenient: bool = False,
        write: bool = True,
    ) -> list[Emitted]:
        """Validate and write the drafts in order; all or nothing.

        An announcement whose id is taken is refused, unless `allow_reuse` (written anyway)
        or `skip_existing` (left out when the same file announced it before, with a warning:
        replaying a batch is then harmless). `lenient` writes what other writers really write
        (no id, no parent, no title) with a warning instead of refusing it. Every draft is
        checked: the `EmitError` names each refused one. `write=False` only checks.
        """
        with self._lock, _framework_lock(self.path), _locked_append(self.path) as fd:
            size = os.fstat(fd).st_size
            terminate = self.view.catch_up(size)
            results, errors = self._prepare_all(drafts, allow_reuse, skip_existing, lenient)
            if errors or not write:
                self.view.invalidate()  # the engine saw events that will not be written
                if errors:
                    raise EmitError("\n".join(errors))
                return results
            payloads = [line_bytes(line) for result in results for line in result.lines]
            if terminate and payloads:
                payloads[0] = b"\n" + payloads[0]  # a line left without newline stays apart from ours
            self._append(fd, size, payloads)
        self.view.cache_if_worth()  # outside the lock: the cache pairs state and offset itself
        if self.view.cache_error is not None and results:
            results[-1].warnings.append(self.view.cache_error)
            self.view.cache_error = None
        return results

    def _append(self, fd: int, size: int, payloads: list[bytes]) -> None:
        try:
            for payload in payloads:
                _write_all(fd, payload)
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)  # a full disk leaves no half line behind
            self.view.invalidate()
            raise EmitError(f"cannot append to {self.path}: {exc.strerror or exc}") from None
        self.view.wrote(size, sum(len(p) for p in payloads), os.fstat(fd).st_size)

    # --------------------------------------------------------------- one draft
    def _prepare_all(
        self, drafts: Sequence[Draft], allow_reuse: bool, skip_existing: bool, lenient: bool
    ) -> tuple[list[Emitted], list[str]]:
        results, errors = [], []
        for draft in drafts:
            try:
                results.append(self._prepare(draft, allow_reuse, skip_existing, lenient))
            except EmitError as exc:
                errors.append(f"{draft.origin}: {exc}" if draft.origin else str(exc))
        return results, errors

    def _prepare(self, draft: Draft, allow_reuse: bool, skip_existing: bool, lenient: bool) -> Emitted:
        rule = rule_for(draft.type)
        kind = kind_of_type(draft.type)
        warnings: list[str] = []
        draft = self._resolved(draft, kind, rule, allow_reuse or skip_existing, warnings if lenient else None)
        if skip_existing and rule.creates and draft.id is not None and self._announced_before(kind, draft):
            return Emitted(self.path, [], None, [f"skipped {draft.type} {draft.id}: already announced"])
        envelope = self._envelope(draft, kind, rule, warnings)
        members_before = self._intent_members(envelope)
        self._process(envelope)
        lines = [envelope, *self._backfill(envelope, members_before, draft)]
        context = self.view.context(kind, draft.id) if draft.id is not None else None
        return Emitted(self.path, lines, context, warnings)

    def _resolved(
        self, draft: Draft, kind: ArtifactKind, rule: Rule, allow_reuse: bool, lenient: list[str] | None
    ) -> Draft:
        """The draft checked, with `auto` ids and known parents filled in.

        With `lenient` (a list for the warnings), a missing id, parent or title is noted there
        instead of refusing the draft: lines other writers wrote that way are history too."""
        check_type(draft.type)
        draft = replace(draft, data=dict(draft.data))
        if draft.id in (AUTO_ID, ULID_ID):
            draft.id = self._next_id(kind, draft.type, ulid=True if draft.id == ULID_ID else None)
        if draft.id is None and kind is not ArtifactKind.OTHER:
            hint = f" (e.g. --id {prefix_of(kind)}-001, or --id auto)" if kind in PREFIXES else ""
            missing(f"{draft.type} needs the id of its {kind.value}{hint}", lenient)
        for label, value in (("id", draft.id), ("parent", draft.parent)):
            check_id(label, value, lenient)
        if draft.parent is None and rule.parent is not None:
            draft.parent = self._known_parent(draft, kind, rule.parent)
        if draft.parent is None and rule.parent_required:
            assert rule.parent is not None
            missing(
                f"{draft.type} {draft.id} needs its parent {rule.parent.value} "
                f"(--parent {prefix_of(rule.parent)}-…)",
                lenient,
            )
        check_parent_kind(draft, rule)
        if rule.title_required and not has_text(draft.data.get("title")):
            missing(f"{draft.type} {draft.id} needs a title (--data title='…')", lenient)
        if rule.creates and not allow_reuse and draft.id is not None and self.view.exists(kind, draft.id):
            raise EmitError(
                f"{kind.value} id {draft.id} is already in use in {self.path}; "
                "choose another (--id auto picks the next free one) or pass --allow-reuse"
            )
        link_ids(draft, kind, rule)
        if draft.type == "signal.promoted" and "cluster_id" not in draft.data and draft.id is not None:
            cluster = self.view.cluster_of(draft.id)  # its cluster comes along: every member is promoted
            if cluster is not None:
                draft.data["cluster_id"] = cluster
        return draft

    def _next_id(self, kind: ArtifactKind, event_type: str, *, ulid: bool | None) -> str:
        styles = self.view.id_styles()
        while True:
            found = styles.next_id(kind, ulid=ulid)
            if found is None:
                raise EmitError(
                    f"--id auto needs an artifact kind with ids (SIG, CLU, INT, SPEC, CON, DEC); "
                    f"{event_type} has none"
                )
            if not self.view.exists(kind, found):  # a ULID taken twice: draw again
                return found

    def _announced_before(self, kind: ArtifactKind, draft: Draft) -> bool:
        """The same announcement was written before: the id, from the same artifact file (if any).

        A second file declaring a taken id is an artifact of its own (its file is its identity)."""
        if not self.view.exists(kind, draft.id or ""):
            return False
        file = artifact_file(draft.data.get("file"))  # as the parser reads it
        files = self.view.files_of(kind, draft.id or "")
        return file is None or not files or file in files

    def _known_parent(self, draft: Draft, kind: ArtifactKind, parent_kind: ArtifactKind) -> str | None:
        """A parent the draft names in its data, or the one the history gives its artifact."""
        named = clean_id(draft.data.get(TYPED_ID_FIELD[parent_kind]))
        if named is not None or draft.id is None:
            return named
        return self.view.parent_of(kind, draft.id, parent_kind)

    # --------------------------------------------------------------- envelope
    def _envelope(self, draft: Draft, kind: ArtifactKind, rule: Rule, warnings: list[str]) -> dict[str, Any]:
        trace_id = draft.trace_id or self._trace_for(draft, kind, rule, warnings)
        return {
            "version": SCHEMA_VERSION,
            "event": draft.type,
            "timestamp": utc_timestamp(draft.timestamp),
            "trace_id": trace_id,
            "span_id": draft.id,
            "parent_id": draft.parent,
            "source": draft.source,
            "actor": draft.actor,
            "ref": draft.id,
            "data": draft.data,
        }

    def _trace_for(self, draft: Draft, kind: ArtifactKind, rule: Rule, warnings: list[str]) -> str | None:
        """The trace id the identity model gives this event, or None where it gives none."""
        if draft.type == "signal.clustered" or kind is ArtifactKind.CLUSTER:
            cluster = draft.parent if kind is ArtifactKind.SIGNAL else draft.id
            return f"cluster-{ids.uuid_form(self.view.cluster_trace(cluster))}" if cluster else None
        if draft.type == "signal.promoted" or kind is ArtifactKind.INTENT:
            intent = draft.parent if kind is ArtifactKind.SIGNAL else draft.id
            return ids.uuid_form(self.view.intent_trace(intent)) if intent else None
        if kind is ArtifactKind.SIGNAL:
            return None  # an orphan observation: no trace yet
        related = draft.parent or related_id(draft.data)
        if related is None:
            return None
        related_kind = rule.parent or kind_of_id(related)
        context = self.view.context(related_kind, related) if related_kind is not None else None
        if context is None:
            warnings.append(
                f"{draft.type} {draft.id or ''}: {related} is not yet placed under an intent in "
                f"{self.path.name}; trace_id left empty (the adapter places it when its parents appear)"
            )
            return None
        return ids.uuid_form(context.trace_id)

    def _process(self, envelope: dict[str, Any]) -> None:
        parsed = parse_line(line_bytes(envelope), Position(str(self.path), 0, 0))
        if isinstance(parsed, Rejected) or parsed is None:
            reason = parsed.reason if parsed is not None else "empty"
            raise EmitError(f"{envelope['event']} would be unreadable: {reason}")
        self.view.process(parsed)

    # --------------------------------------------------------------- backfill
    def _intent_members(self, envelope: dict[str, Any]) -> set[str] | None:
        intent = promoted_intent(envelope)
        return None if intent is None else self.view.intent_members(intent)

    def _backfill(
        self, envelope: dict[str, Any], before: set[str] | None, draft: Draft
    ) -> list[dict[str, Any]]:
        """One `signal.promoted` per signal that this event brought into the intent's trace."""
        intent = promoted_intent(envelope)
        if intent is None or before is None:
            return []
        primary = draft.id if draft.type.startswith("signal.") else None
        lines = []
        for signal_id, cluster_id in self.view.new_members(intent, before):
            if signal_id == primary:
                continue
            data: dict[str, Any] = {"signal_id": signal_id, "intent_id": intent, "backfill": True}
            if cluster_id is not None:
                data["cluster_id"] = cluster_id
            data["promoted_by"] = f"{envelope['event']} {draft.id}"
            line = {
                **envelope,
                "event": "signal.promoted",
                "span_id": signal_id,
                "parent_id": intent,
                "ref": signal_id,
                "data": data,
            }
            self._process(line)
            lines.append(line)
        return lines


# ------------------------------------------------------------------ appending
@contextmanager
def _held(path: Path, flags: int, purpose: str) -> Iterator[int]:
    """`path` opened as a regular file and held under an exclusive flock. A symbolic link, a FIFO
    or a directory in its place is refused (it could lead a write out of the repository)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = open_regular(path, flags, 0o644)
    except OSError as exc:
        raise EmitError(f"cannot {purpose}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _framework_lock(path: Path) -> AbstractContextManager[int]:
    """The Intent framework's writer lock (`events.jsonl.lock`), taken by every emitter before its
    own lock on the file (so the two never deadlock)."""
    lock_path = layout.writers_lock(path)
    return _held(lock_path, os.O_WRONLY | os.O_CREAT, f"take the writers' lock {lock_path.name}")


def _locked_append(path: Path) -> AbstractContextManager[int]:
    """An O_APPEND descriptor on the file, held under an exclusive flock."""
    return _held(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "append")


def _write_all(fd: int, payload: bytes) -> None:
    """One `write` per line; a short write (a full disk) is finished, still under the lock."""
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ------------------------------------------------------------------ Python API
_EMITTERS: dict[Path, Emitter] = {}
_EMITTERS_LOCK = threading.Lock()


def emitter_for(path: Path, *, fsync: bool = False) -> Emitter:
    """One emitter per file per process, so repeated calls only read what is new. The file itself
    is not resolved: a symbolic link there is refused when it is opened, never followed."""
    key = path.parent.resolve() / path.name
    with _EMITTERS_LOCK:
        found = _EMITTERS.get(key)
        if found is None:
            found = _EMITTERS[key] = Emitter(key)
    found.fsync = fsync
    return found


def emit(
    event: str,
    id: str | None = None,
    parent: str | None = None,
    data: Mapping[str, Any] | None = None,
    *,
    source: str = "python",
    actor: str | None = None,
    timestamp: str | None = None,
    trace_id: str | None = None,
    file: str | os.PathLike[str] | None = None,
    repo: str | os.PathLike[str] | None = None,
    fsync: bool = False,
    allow_reuse: bool = False,
) -> Emitted:
    """Append one event (and its backfill lines) to the repository's events.jsonl.

    `id="auto"` takes the next free id of the event's kind in the repository's style
    (SIG-042, or a ULID where its ids are ULIDs); `id="ulid"` a ULID id. Raises
    `EmitError` with the reason when the event is incomplete or its id is taken.
    """
    path = Path(file) if file is not None else events_path(Path(repo) if repo is not None else None)
    draft = Draft(
        type=event,
        id=id,
        parent=parent,
        data=dict(data or {}),
        source=source,
        actor=actor or default_actor(),
        timestamp=timestamp,
        trace_id=trace_id,
    )
    return emitter_for(path, fsync=fsync).emit([draft], allow_reuse=allow_reuse)[0]
