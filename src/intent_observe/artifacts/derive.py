"""What the artifact files say, as events: a status or a link that changed becomes a derived event.

Derived events never become lines of the log; they join the events read from it when the
repository recorded the change (its commit's time, else the file's modification time), dated
when it was made (its commit's time, else the date its front matter gives, else the file's
modification time), so a replay of a clone or of a copy is the same every time. They only
speak of artifacts the log announced: a file whose artifact no event announced creates
nothing (it would count in `*.total` though no event said it exists).

| the file says                                   | derived event                          |
|-------------------------------------------------|----------------------------------------|
| a signal's status closes it (resolved, promoted…) | `signal.resolved` / `.dismissed` /   |
|                                                 | `.archived` / `.promoted` (+ its intent) |
| an intent's status shipped / done / completed … | `intent.completed`                     |
| an intent's status rejected / withdrawn …       | `intent.abandoned`                     |
| an intent's status archived / superseded        | `intent.archived`                      |
| a spec's status closes it                       | `spec.completed`                       |
| a spec's `intent:`                              | `spec.linked` (the spec joins it)      |
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple, Protocol

from intent_observe import layout
from intent_observe.events.parse import TYPED_ID_FIELD
from intent_observe.model import DERIVED_SHAPE, ArtifactKind, Event, Position

# The files' readers (front matter, git) are imported for an events file inside a repository only.
if TYPE_CHECKING:
    from intent_observe.artifacts.files import ArtifactFile
    from intent_observe.artifacts.history import FrontMatterChange

DERIVED_SOURCE = "front-matter"


class Processor(Protocol):
    def process(self, ev: Event, observed_ns: int | None = None) -> None: ...


_SIGNAL_CLOSERS = ("promoted", "dismissed", "archived", "resolved")
_INTENT_OUTCOMES = (
    ("intent.abandoned", frozenset({"rejected", "withdrawn", "abandoned"})),
    ("intent.archived", frozenset({"archived", "superseded"})),
)


class Said(NamedTuple):
    """A derived event and its turn: when the repository recorded its change, which places it
    among the log's events. A copied tree's files say they closed long before the log
    announced them; said at their dates, they would speak of artifacts not yet announced."""

    turn_ns: int
    event: Event


class FrontMatter(NamedTuple):
    """What a repository's artifact files say: their derived events, in turn, and the title each
    file's front matter gives (path → (kind, title), its newest reading), which names the
    artifact of that file over any title its events carry (`Engine.title_files`)."""

    said: list[Said]
    titles: dict[str, tuple[str, str]]


NO_FRONT_MATTER = FrontMatter([], {})


def derived_events_of(events_path: str) -> FrontMatter:
    """What the files of the repository holding an events file say (nothing outside `.intent/`)."""
    repo = layout.repository_of(os.path.realpath(events_path))  # as Path.resolve(), without pathlib
    if repo is None:
        return NO_FRONT_MATTER
    from intent_observe.artifacts.history import front_matter_history

    return derived_events(front_matter_history(repo))


def derived_events(changes: Iterable[FrontMatterChange]) -> FrontMatter:
    """The derived events of a repository's front-matter history, in turn, and its files' titles."""
    events: list[Said] = []
    before: dict[str, ArtifactFile | None] = {}
    for change in changes:
        previous = before.get(change.path)
        before[change.path] = change.artifact
        if change.artifact is not None and change.artifact.id is not None:
            events.extend(Said(change.recorded_ns, ev) for ev in _events_of(previous, change))
    titles = {
        path: (art.kind.value, art.title)
        for path, art in before.items()
        if art is not None and art.titled and art.title is not None
    }
    return FrontMatter(sorted(events, key=lambda said: said.turn_ns), titles)


def _events_of(previous: ArtifactFile | None, change: FrontMatterChange) -> Iterator[Event]:
    art = change.artifact
    assert art is not None
    newly_closed = art.closed and not (previous is not None and previous.closed)
    if newly_closed:
        closing = _closing_type(art)
        if closing is not None:
            yield _event(
                closing, change, intent=_first(art.links.intent) if closing == "signal.promoted" else None
            )
    if art.kind is ArtifactKind.SPEC and art.links.intent:
        linked = _first(art.links.intent)
        if previous is None or _first(previous.links.intent) != linked:
            yield _event("spec.linked", change, intent=linked)


def _closing_type(art: ArtifactFile) -> str | None:
    from intent_observe.artifacts.files import status_words

    words = set(status_words(art.status))
    if art.kind is ArtifactKind.SIGNAL:
        return "signal." + next((w for w in _SIGNAL_CLOSERS if w in words), "resolved")
    if art.kind is ArtifactKind.INTENT:
        return next((kind for kind, said in _INTENT_OUTCOMES if words & said), "intent.completed")
    if art.kind is ArtifactKind.SPEC:
        return "spec.completed"
    return None  # clusters close by promotion, contracts by their runs, decisions are instants


def _first(ids: tuple[str, ...]) -> str | None:
    return ids[0] if ids else None


def _event(event_type: str, change: FrontMatterChange, *, intent: str | None) -> Event:
    import hashlib  # here: a history outside a repository makes no derived event

    art = change.artifact
    assert art is not None and art.id is not None
    when = change.commit or f"mtime:{change.time_ns}"  # "mtime": older ids stay what they were
    payload: dict[str, object] = {
        TYPED_ID_FIELD[art.kind]: art.id,
        "status": art.status,
        "file": art.path,
        "commit": change.commit,
    }
    if intent is not None:
        payload["intent_id"] = intent
    return Event(
        type=event_type,
        time_ns=change.time_ns,
        kind=art.kind,
        artifact_id=art.id,
        event_id=hashlib.blake2b(f"{art.path}\0{when}\0{event_type}".encode(), digest_size=16).hexdigest(),
        position=Position(art.path, 0, 0),
        shape=DERIVED_SHAPE,
        intent_id=intent if art.kind is not ArtifactKind.INTENT else art.id,
        spec_id=art.id if art.kind is ArtifactKind.SPEC else None,
        signal_id=art.id if art.kind is ArtifactKind.SIGNAL else None,
        source=DERIVED_SOURCE,
        actor=change.commit,
        title=art.title,
        file=art.path,
        payload=payload,
    )


class Derived:
    """Derived events waiting for their turn: each joins the events read from the log just
    before the first one later than its turn; the rest once the log is read through."""

    def __init__(self, events: Iterable[Said]) -> None:
        self._waiting: list[Said] = []  # oldest turn last
        self._known: set[str] = set()  # every event id ever added: a rescan adds only what is new
        self.add(events)

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, events: Iterable[Said]) -> None:
        new = [said for said in events if said.event.event_id not in self._known]
        self._known.update(said.event.event_id for said in new)
        self._waiting = sorted([*self._waiting, *new], key=lambda said: said.turn_ns, reverse=True)

    def oldest_first(self) -> list[Said]:
        return self._waiting[::-1]

    def taken(self, count: int) -> None:
        """The `count` oldest were processed (by `Engine.process_lines`)."""
        del self._waiting[len(self._waiting) - count :]

    def feed_before(self, time_ns: int | None, engine: Processor) -> int:
        """Process every derived event whose turn is before `time_ns` (None: all of them); how many."""
        waiting, fed = self._waiting, 0
        while waiting and (time_ns is None or waiting[-1].turn_ns < time_ns):
            engine.process(waiting.pop().event)
            fed += 1
        return fed
