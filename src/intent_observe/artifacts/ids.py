"""The id styles of a repository's artifacts, and new ids in the same style.

The Intent framework numbered its ids (`SIG-042`) and then moved to ULIDs
(`SIG-01KNSVCCFA8YXWR6VMZG48N3ZR`: a 48-bit millisecond time and 80 random bits in
Crockford base32), keeping the numbered ones valid; its clusters are `CLU-…` where
this project's first writers used `CL-…`. A writer that wants to fit in counts what a
repository already holds and continues in its majority style.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from intent_observe.model import ArtifactKind

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_BODY = f"[{CROCKFORD}]{{26}}"
_NUMBERED = re.compile(r"([A-Za-z]+)-(\d+)")
_ULID = re.compile(rf"([A-Za-z]+)-({_ULID_BODY})")

# The prefixes of each kind's ids; the first is the one a new repository gets.
PREFIXES: dict[ArtifactKind, tuple[str, ...]] = {
    ArtifactKind.SIGNAL: ("SIG",),
    ArtifactKind.CLUSTER: ("CLU", "CL"),
    ArtifactKind.INTENT: ("INT",),
    ArtifactKind.SPEC: ("SPEC",),
    ArtifactKind.CONTRACT: ("CON",),
    ArtifactKind.DECISION: ("DEC",),
}


def new_ulid(now_ms: int | None = None, entropy: bytes | None = None) -> str:
    """26 Crockford base32 characters: 10 of milliseconds since the epoch, 16 of randomness
    (`entropy`, 10 bytes, for a reproducible one; else the system's)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(entropy if entropy is not None else os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def is_ulid_id(artifact_id: str) -> bool:
    return _ULID.fullmatch(artifact_id) is not None


@dataclass(slots=True)
class PrefixStyle:
    """What a repository's ids of one prefix look like."""

    highest: int = 0  # the highest N of a numbered `PREFIX-N`
    width: int = 0  # the widest N written (`SIG-042`: 3)
    numbered: int = 0
    ulids: int = 0


class IdStyles:
    """Counts of the ids seen, per prefix (each distinct id once)."""

    def __init__(self) -> None:
        self._styles: dict[str, PrefixStyle] = {}
        self._seen: set[str] = set()

    def note(self, artifact_id: str) -> None:
        if artifact_id in self._seen:
            return
        ulid = _ULID.fullmatch(artifact_id)
        numbered = None if ulid is not None else _NUMBERED.fullmatch(artifact_id)
        found = ulid or numbered
        if found is None:
            return
        self._seen.add(artifact_id)
        style = self._styles.setdefault(found.group(1).upper(), PrefixStyle())
        if ulid is not None:
            style.ulids += 1
            return
        digits = found.group(2)
        style.numbered += 1
        style.highest = max(style.highest, int(digits))
        style.width = max(style.width, len(digits))

    def of(self, prefix: str) -> PrefixStyle:
        return self._styles.get(prefix.upper(), PrefixStyle())

    def prefix_for(self, kind: ArtifactKind) -> str | None:
        """The kind's prefix the repository uses most (a new repository: the framework's)."""
        candidates = PREFIXES.get(kind)
        if candidates is None:
            return None
        return max(candidates, key=lambda prefix: (self._count(prefix), -candidates.index(prefix)))

    def _count(self, prefix: str) -> int:
        style = self.of(prefix)
        return style.numbered + style.ulids

    def next_id(self, kind: ArtifactKind, *, ulid: bool | None = None) -> str | None:
        """A new id of the kind in the repository's style: a ULID where its ids of that prefix are
        mostly ULIDs (or `ulid=True`), else the next number. None: the kind has no id prefix."""
        prefix = self.prefix_for(kind)
        if prefix is None:
            return None
        style = self.of(prefix)
        if ulid if ulid is not None else style.ulids > style.numbered:
            return f"{prefix}-{new_ulid()}"
        return f"{prefix}-{style.highest + 1:0{max(3, style.width)}d}"
