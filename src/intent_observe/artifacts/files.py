"""The artifact files under `.intent/`, read from their YAML front matter.

In a real Intent repository the status of an artifact (resolved, promoted, shipped) and
some of its links (a spec's intent) live only in its Markdown file's front matter:

    ---
    id: SPEC-004
    status: draft            # comments are YAML's, not part of the value
    intent: INT-009
    contracts: [CON-KE-001, CON-KE-002]
    trust_score: 0.72
    autonomy_level: L3
    ---

`parse_artifact(path, text)` reads one file; `read_artifacts(repo)` every file under
`.intent/` (the event log and our own `observe/` state aside), each either read or
skipped with a reason. The file is the artifact's identity: two files declaring the
same id are two artifacts, and a file that declares no id is still one. Reading is
tolerant: front matter that is not valid YAML is read line by line, values that are not
what their key promises (prose where an id belongs, a trust of "high") are left out
with a note, never an exception.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from intent_observe import layout
from intent_observe.model import ArtifactKind

MAX_READ_BYTES = 256 * 1024  # front matter sits at the top; a huge file is read this far
MAX_ID_CHARS = 200
MAX_VALUES = 10_000  # values in one file's front matter (aliases expanded)
MAX_DEPTH = 32  # levels of nesting in it

KIND_OF_DIRECTORY = {name: ArtifactKind(kind) for name, kind in layout.ARTIFACT_DIRECTORIES.items()}

# Front matter keys, in order of preference, for each thing read.
_LINK_KEYS: dict[str, tuple[str, ...]] = {
    "intent": ("intent", "intent_id", "related_intents", "promoted_to", "parent_intent"),
    "signals": ("signals", "signal_ids", "source_signals"),
    "contracts": ("contracts", "contract_ids"),
    "spec": ("spec", "spec_id", "specs"),
    "cluster": ("cluster", "cluster_id"),
}
_TRUST_KEYS = ("trust", "trust_score")
_AUTONOMY_KEYS = ("autonomy_level", "autonomy")

# A status that says the artifact's work is over (a word of it: `v1.0-shipped` is shipped).
CLOSED_STATUS_WORDS = frozenset(
    {
        "resolved",
        "clustered",  # a signal in a cluster is no longer an open observation of its own
        "promoted",
        "dismissed",
        "archived",
        "closed",
        "done",
        "completed",
        "complete",
        "shipped",
        "superseded",
        "rejected",
        "withdrawn",
        "abandoned",
        "merged",
    }
)

_ID_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._-]*")
_ID_IN_NAME = re.compile(r"(SIG|CLU|CL|INT|SPEC|CON|DEC)-[A-Za-z0-9][A-Za-z0-9._-]*", re.IGNORECASE)
# Ids that are placeholders of a template: SIG-XXX, INT-NNN, SIG-{{id}}, <id>, SIG-YYYY-MM-DD-slug.
_PLACEHOLDER = re.compile(r"(?i)-(?:x{3,}|n{3,}|yyyy)(?:$|[-_])|\{\{|\}\}|\$\{|<[^>]*>")
# A date, optionally a time and a zone, ending the value or followed by a space or a bracket: not
# the date a file name starts with (`2026-05-26-some-signal.md`).
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?=$|[\s(,;])"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_LENGTH = len("2026-05-20")  # a date with no time of day
_LAST_SECOND_NS = (24 * 3600 - 1) * 1_000_000_000
_AUTONOMY = re.compile(r"(?i)L([0-4])")
_TOP_LEVEL_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:", re.MULTILINE)
_TEMPLATE_DIRECTORIES = frozenset({"template", "templates", "_templates"})
_TEMPLATE_NAME = re.compile(r"(?i)^_?template(?:$|[-_.])|[-_.]template$")


@dataclass(frozen=True, slots=True)
class Links:
    """The ids an artifact's front matter names, by relation (each in the order written)."""

    intent: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    contracts: tuple[str, ...] = ()
    spec: tuple[str, ...] = ()
    cluster: tuple[str, ...] = ()  # an id, or a cluster's name where no cluster file has that name


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """What one artifact file says about its artifact."""

    path: str  # relative to the repository, POSIX: ".intent/specs/SPEC-004-x.md" (as events' data.file)
    kind: ArtifactKind
    id: str | None  # None: the file declares none; its path is its identity
    status: str | None  # as written: "resolved", "v1.0-shipped", "needs-shaping"…
    title: str | None
    trust: float | None  # 0.0–1.0
    autonomy_level: str | None  # "L0"–"L4"
    links: Links = field(default_factory=Links)
    name: str | None = None  # a cluster's `name:`, which signals' `cluster:` may give instead of its id
    notes: tuple[str, ...] = ()  # what was read leniently or left out, and why
    # (key, first, last Unix ns) of each top-level value that is a date: a moment is its own first
    # and last; a day runs from its midnight to its last second
    dates: tuple[tuple[str, int, int], ...] = ()
    titled: bool = False  # `title` is its front matter's `title:`, not its first heading

    @property
    def closed(self) -> bool:
        """The status says the artifact's work is over (resolved, promoted, shipped, dismissed…)."""
        return any(word in CLOSED_STATUS_WORDS for word in status_words(self.status))

    def said_at(self, not_after: int) -> int | None:
        """When the file says it was last in the state it is in: for a closed artifact the newest
        date under a key that names a close (`resolved`, `shipped_date`, `v1_shipped_date`), else
        the newest date it gives (`updated`, `created`, `timestamp`…); dates later than `not_after`
        (when the file was written) are plans, not records. A day is read as its end (by then the
        file said so; its midnight would come before that day's events of the log), or `not_after`
        when the file was written that day. None: it gives no such date."""
        said = [(key, min(last, not_after)) for key, first, last in self.dates if first <= not_after]
        closing = [
            ns for key, ns in said if self.closed and CLOSED_STATUS_WORDS.intersection(status_words(key))
        ]
        return max(closing or [ns for _, ns in said], default=None)


def status_words(status: str | None) -> list[str]:
    """The words of a status, lower-cased: `v1.0-shipped` → v1.0, shipped."""
    return re.split(r"[^a-z0-9.]+", status.lower()) if status else []


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file under `.intent/` that is not an artifact file, and why."""

    path: str
    reason: str


# ------------------------------------------------------------------ one file
def parse_artifact(path: str, text: str) -> ArtifactFile | Skipped:
    """One file's reading. `path` is relative to the repository (`.intent/signals/x.md`)."""
    pure = PurePosixPath(path)
    kind = kind_of_path(pure)
    if kind is None:
        return Skipped(path, "not under an artifact directory (" + ", ".join(KIND_OF_DIRECTORY) + ")")
    if pure.suffix.lower() not in (".md", ".markdown"):
        return Skipped(path, "not a Markdown file")
    if _is_template_path(pure):
        return Skipped(path, "a template (by its name or directory)")
    block, body = split_front_matter(text)
    if block is None:
        return _without_front_matter(path, pure, kind, body)
    meta, notes = load_front_matter(block)
    if meta is None:
        return Skipped(path, notes[0])
    declared = _declared_id(meta, kind)
    if declared is not None and _PLACEHOLDER.search(declared):
        return Skipped(path, f"a template (its id {declared[:60]!r} is a placeholder)")
    if declared is None and _has_placeholder_name(pure):
        return Skipped(path, f"a template (its name {pure.name!r} is a placeholder)")
    own_id = declared if declared is not None and is_id(declared) else None
    if declared is not None and own_id is None:
        notes.append(f"id {declared[:60]!r} is not an id; the file is the artifact's only identity")
    elif declared is None:
        own_id = id_in_name(pure)
    named = _text(meta.get("title"), "title", notes)
    return ArtifactFile(
        path=path,
        kind=kind,
        id=own_id,
        status=_text(meta.get("status"), "status", notes),
        title=named or heading(body),
        trust=_trust(meta, notes),
        autonomy_level=_autonomy(meta, notes),
        links=_links(meta, kind, notes),
        name=_text(meta.get("name"), "name", notes) if kind is ArtifactKind.CLUSTER else None,
        notes=tuple(notes),
        dates=_dates(meta),
        titled=named is not None,
    )


def kind_of_path(path: PurePosixPath) -> ArtifactKind | None:
    parts = path.parts
    if len(parts) < 3 or parts[0] != layout.INTENT_DIR:
        return None
    return KIND_OF_DIRECTORY.get(parts[1])


def _is_template_path(path: PurePosixPath) -> bool:
    return any(part.lower() in _TEMPLATE_DIRECTORIES for part in path.parts[2:-1]) or bool(
        _TEMPLATE_NAME.search(path.stem)
    )


def _without_front_matter(
    path: str, pure: PurePosixPath, kind: ArtifactKind, body: str
) -> ArtifactFile | Skipped:
    """A file with no front matter is an artifact when its name carries an id (`SIG-042-x.md`)."""
    if _has_placeholder_name(pure):
        return Skipped(path, f"a template (its name {pure.name!r} is a placeholder)")
    own_id = id_in_name(pure)
    if own_id is None:
        return Skipped(path, "no front matter, and its name carries no id")
    return ArtifactFile(path, kind, own_id, None, heading(body), None, None, notes=("no front matter",))


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(the YAML between a leading `---` and the next `---` or `...`, the rest); (None, text) if none."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None, text
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    return None, text  # never closed: a horizontal rule, not front matter


def load_front_matter(block: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The front matter as plain data (dates as ISO text), and notes; (None, [reason]) when unusable."""
    try:
        loaded = _load_yaml(block)
    except (RecursionError, ValueError) as exc:  # ValueError: not YAML, too large, or a date 2026-13-40
        problem = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
        return _line_by_line(block), [f"front matter not read as YAML ({problem}); read line by line"]
    if loaded is None:
        return {}, []
    if not isinstance(loaded, Mapping):
        return None, ["front matter is not a mapping of keys to values"]
    notes = [f"{key}: given {count} times; the last is read" for key, count in _repeated_keys(block)]
    return {str(key).strip().lower(): value for key, value in loaded.items()}, notes


def _repeated_keys(block: str) -> list[tuple[str, int]]:
    """Top-level keys written more than once (YAML readers keep the last; a grep finds the first)."""
    keys = [match.group(1) for match in _TOP_LEVEL_KEY.finditer(block)]
    return [(key, keys.count(key)) for key in dict.fromkeys(keys) if keys.count(key) > 1]


class _NotYaml(ValueError):
    """Text the YAML reader refuses (the message is its own)."""


def _load_yaml(text: str) -> Any:
    """`text` read by the safe YAML loader (libyaml's when present) as plain data (`_plain`)."""
    import yaml  # here: ~13 ms of CPU that a run without artifact files does not spend

    try:
        return _plain(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise _NotYaml(str(exc)) from exc


class FrontMatterTooLarge(ValueError):
    """More values than front matter holds: YAML aliases can make a few lines mean billions."""


def _plain(value: Any) -> Any:
    """YAML values as JSON-like data (dates and times as ISO 8601 text), at most MAX_VALUES of them
    and MAX_DEPTH levels deep."""
    budget = [MAX_VALUES]

    def convert(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise FrontMatterTooLarge(f"more than {MAX_VALUES} values or {MAX_DEPTH} levels")
        if isinstance(item, datetime | date):
            return item.isoformat()
        if isinstance(item, Mapping):
            return {str(k): convert(v, depth + 1) for k, v in item.items()}
        if isinstance(item, list):
            return [convert(v, depth + 1) for v in item]
        return item

    return convert(value, 0)


def _line_by_line(block: str) -> dict[str, Any]:
    """Top-level `key: value` lines of front matter YAML refused (an unquoted `: ` in a title…)."""
    meta: dict[str, Any] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or line[:1] in (" ", "\t", "-", "#"):
            continue
        meta[key.strip().lower()] = _scalar(value)
    return meta


def _scalar(value: str) -> Any:
    """One value of a line: its own YAML when it parses (`[a, b]`, `0.8`, `'x'`), else its text
    with any `# comment` removed."""
    value = re.sub(r"\s+#.*$", "", value).strip()
    try:
        return _load_yaml(value)
    except (RecursionError, ValueError):
        return value.strip("'\"")


def heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


# ------------------------------------------------------------------ values
def _declared_id(meta: Mapping[str, Any], kind: ArtifactKind) -> str | None:
    """What `id:` (else `<kind>_id:`) says, as text; None when neither says anything."""
    for key in ("id", f"{kind.value}_id"):
        value = meta.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def is_id(value: str) -> bool:
    return len(value) <= MAX_ID_CHARS and _ID_SHAPE.fullmatch(value) is not None


def _text(value: Any, key: str, notes: list[str]) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        if value is not None:
            notes.append(f"{key}: a {type(value).__name__} where text belongs; left out")
        return None
    text = str(value).strip()
    return text or None


def _trust(meta: Mapping[str, Any], notes: list[str]) -> float | None:
    for key in _TRUST_KEYS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            return float(value)
        notes.append(f"{key}: {value!r} is not a trust score in 0.0–1.0; left out")
    return None


def _autonomy(meta: Mapping[str, Any], notes: list[str]) -> str | None:
    for key in _AUTONOMY_KEYS:
        value = meta.get(key)
        if value is None or value == "":
            continue
        found = _AUTONOMY.fullmatch(str(value).strip())
        if found is not None:
            return f"L{found.group(1)}"
        notes.append(f"{key}: {value!r} is not an autonomy level L0–L4; left out")
    return None


def _dates(meta: Mapping[str, Any]) -> tuple[tuple[str, int, int], ...]:
    """(key, first, last Unix ns) of each top-level value that is a date or starts with one
    (`resolved: 2026-05-20 (same day)`); a date without a zone is UTC, a day its midnight to its
    last second."""
    found = []
    for key, value in meta.items():
        moment = _DATE.match(value) if isinstance(value, str) else None
        if moment is None:
            continue
        try:
            when = datetime.fromisoformat(moment.group(0).replace(" ", "T"))
        except ValueError:
            continue  # shaped like a date, but not one (2026-13-40)
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        first = (aware - _EPOCH) // timedelta(microseconds=1) * 1000
        last = first + _LAST_SECOND_NS if len(moment.group(0)) == _DAY_LENGTH else first
        found.append((key, first, last))
    return tuple(sorted(found))


def _links(meta: Mapping[str, Any], kind: ArtifactKind, notes: list[str]) -> Links:
    own_key = f"{kind.value}_id"
    found: dict[str, tuple[str, ...]] = {}
    for relation, keys in _LINK_KEYS.items():
        ids: list[str] = []
        for key in keys:
            if key != own_key and key in meta:
                ids.extend(_link_ids(meta[key], key, relation, notes))
        found[relation] = tuple(dict.fromkeys(ids))
    return Links(**found)


def _link_ids(value: Any, key: str, relation: str, notes: list[str]) -> Iterator[str]:
    """The ids a value names: a list, one id, or ids separated by commas; prose is no link."""
    items = value if isinstance(value, list) else str(value).split(",") if value is not None else []
    for item in items:
        text = str(item).strip().strip("'\"") if item is not None else ""
        if not text:
            continue
        if is_id(text) or (relation == "cluster" and _is_name(text)):
            yield text
        else:
            notes.append(f"{key}: {text[:60]!r} is not an id; not a link")


def _is_name(text: str) -> bool:
    return len(text) <= MAX_ID_CHARS and re.fullmatch(r"[\w.-]+", text) is not None


def _has_placeholder_name(path: PurePosixPath) -> bool:
    """`SIG-XXX-title.md`, `INT-NNN.md`: a template's name."""
    return _ID_IN_NAME.match(path.stem) is not None and _PLACEHOLDER.search(path.stem) is not None


def id_in_name(path: PurePosixPath) -> str | None:
    """The id a file name starts with, kept whole (`sig-2026-05-26-slow-ci.md` → SIG-2026-05-26-slow-ci);
    None for names that carry none, or a placeholder (`SIG-XXX-title.md`)."""
    if _ID_IN_NAME.match(path.stem) is None or _PLACEHOLDER.search(path.stem) or not is_id(path.stem):
        return None
    prefix, _, rest = path.stem.partition("-")
    return f"{prefix.upper()}-{rest}"


# ------------------------------------------------------------------ a repository
def read_artifacts(repo: Path) -> tuple[list[ArtifactFile], list[Skipped]]:
    """Every file under `repo/.intent/` (but `events/` and `observe/`): artifacts, and the rest
    with the reason each is not one; both sorted by path. Symbolic links are not followed."""
    artifacts: list[ArtifactFile] = []
    skipped: list[Skipped] = []
    for relative, full in files_under(repo):
        result = read_artifact_file(relative, full)
        if isinstance(result, ArtifactFile):
            artifacts.append(result)
        else:
            skipped.append(result)
    return resolve_cluster_names(artifacts), skipped


def read_artifact_file(relative: str, full: Path) -> ArtifactFile | Skipped:
    if full.is_symlink():
        return Skipped(relative, "a symbolic link (not followed)")
    try:
        with full.open("rb") as handle:
            raw = handle.read(MAX_READ_BYTES)
    except OSError as exc:
        return Skipped(relative, f"unreadable: {exc.strerror or exc}")
    if b"\x00" in raw:
        return Skipped(relative, "not text")
    return parse_artifact(relative, raw.decode("utf-8", errors="replace"))


def files_under(repo: Path) -> Iterator[tuple[str, Path]]:
    root = repo / layout.INTENT_DIR
    if not root.is_dir() or root.is_symlink():
        return
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        if here == root:
            subdirectories[:] = [d for d in subdirectories if d not in layout.NOT_ARTIFACT_DIRECTORIES]
        subdirectories.sort()
        for name in sorted(files):
            full = here / name
            yield full.relative_to(repo).as_posix(), full


def resolve_cluster_names(artifacts: Iterable[ArtifactFile]) -> list[ArtifactFile]:
    """Signals name their cluster by its `name:` as often as by its id: names become ids where a
    cluster file has both."""
    listed = list(artifacts)
    ids_by_name = {
        art.name: art.id for art in listed if art.kind is ArtifactKind.CLUSTER and art.name and art.id
    }
    out = []
    for art in listed:
        clusters = tuple(ids_by_name.get(value, value) for value in art.links.cluster)
        if clusters != art.links.cluster:
            art = replace(art, links=replace(art.links, cluster=clusters))
        out.append(art)
    return out
