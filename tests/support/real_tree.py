"""Where the one real Intent history is: the framework's own `.intent/` tree, kept beside the
project in `../shared/data/intent-upstream/tree` (read from there, never copied in).

Looked for in `INTENT_OBSERVE_SHARED` when set, then in a `shared/` beside any folder above the
tests (a worktree or a clone elsewhere), then in `/work/shared`, where this workplace keeps it.
"""

from __future__ import annotations

import os
from pathlib import Path

_TREE = Path("data") / "intent-upstream" / "tree"


def _candidates() -> list[Path]:
    named = os.environ.get("INTENT_OBSERVE_SHARED")
    found = [Path(named)] if named else []
    found += [ancestor / "shared" for ancestor in Path(__file__).resolve().parents]
    return [*found, Path("/work/shared")]


def find_real_tree() -> Path:
    return next((c / _TREE for c in _candidates() if (c / _TREE).is_dir()), Path("/nonexistent"))


REAL_TREE = find_real_tree()
REAL_EVENTS = REAL_TREE / ".intent" / "events" / "events.jsonl"
