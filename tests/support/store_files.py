"""Store files as an earlier intent-observe left them, for the upgrade tests."""

from __future__ import annotations

import re

from intent_observe.store.schema import migrations


def trigger_as_created(name: str) -> str:
    """The CREATE TRIGGER statement of `name` as the migration that created it ran it (one a later
    migration dropped, to make a file of a version that had it)."""
    pattern = re.compile(rf"CREATE TRIGGER {name} .*?\nEND;", re.DOTALL)
    (found,) = [match.group() for _, sql in migrations() for match in pattern.finditer(sql)]
    return found
