"""GitHub → Intent events: webhook deliveries and changed `.intent/` files, as emitter drafts.

Pure functions: they read a payload (or a list of changed files) and return `Draft`s;
the caller appends them with `Emitter.emit`, which fills the trace context. The
webhook endpoint (`web/github_webhook.py`) calls `drafts_for_delivery`; the GitHub
Actions workflow (`deploy/github/intent-observe-events.yml`) runs `python -m
intent_observe.sources.github changes BEFORE AFTER | intent-observe emit --raw`.

Deliveries:
- `push` → one `github.push` event, related to the most specific artifact the
  commit messages or the branch name mention (CON-… > SPEC-… > INT-…), so it lands
  in that intent's trace.
- `workflow_run` (completed only) → CI is a check of a contract: with a CON-… in
  the branch, title or head commit, `contract.assertion.passed|failed` with the
  assertion id `ci/<workflow>`. Without one, a failed run is an observation:
  `signal.created` with the deterministic id `SIG-GH-<run id>-<attempt>` (a
  redelivery names the same id, which the emitter refuses to reuse). Other runs
  become `github.workflow_run.completed`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

import orjson

from intent_observe import layout
from intent_observe.artifacts.files import ArtifactFile, Skipped, parse_artifact, status_words
from intent_observe.emitter.draft import Draft, format_timestamp
from intent_observe.events.parse import TYPED_ID_FIELD, kind_of_id, kind_of_type
from intent_observe.model import ArtifactKind

SOURCE = "github"
_REFERENCE = re.compile(r"(?<![A-Za-z0-9])(CON|SPEC|INT)-(\d+[A-Za-z0-9]*)", re.IGNORECASE)
_SPECIFICITY = (ArtifactKind.CONTRACT, ArtifactKind.SPEC, ArtifactKind.INTENT)
_FAILED = frozenset({"failure", "timed_out", "startup_failure"})
_PASSED = frozenset({"success"})
MAX_TEXT = 200
MAX_PATHS = 50


# ------------------------------------------------------------------ deliveries
def drafts_for_delivery(
    event_name: str, payload: Mapping[str, Any], delivery: str | None = None
) -> list[Draft]:
    """The events one webhook delivery means; [] for deliveries that mean none (ping, runs in progress)."""
    if event_name == "push":
        return [_push(payload, delivery)]
    if event_name == "workflow_run" and payload.get("action") == "completed":
        return [_workflow_run(payload, delivery)]
    return []


def _push(payload: Mapping[str, Any], delivery: str | None) -> Draft:
    commits = _commits(payload)
    head = _mapping(payload.get("head_commit"))
    texts = [str(payload.get("ref") or ""), *(str(c.get("message") or "") for c in commits)]
    refs = references(texts)
    changed = sorted(
        {path for index, c in enumerate(commits) for key in _CHANGES for path in _paths(c, key, index)}
    )
    data: dict[str, Any] = {
        "repository": _repository(payload),
        "ref": payload.get("ref"),
        "before": payload.get("before"),
        "after": payload.get("after"),
        "commits": len(commits),
        "head_commit": {
            "id": head.get("id"),
            "message": _first_line(head.get("message")),
            "url": head.get("url"),
        },
        "intent_files": [p for p in changed if layout.in_intent_dir(p)][:MAX_PATHS],
        "forced": bool(payload.get("forced")),
        **_typed(refs),
    }
    return _draft("github.push", None, _most_specific(refs), data, payload, head.get("timestamp"), delivery)


def _workflow_run(payload: Mapping[str, Any], delivery: str | None) -> Draft:
    run = _mapping(payload.get("workflow_run"))
    head = _mapping(run.get("head_commit"))
    texts = [
        str(run.get("head_branch") or ""),
        str(run.get("display_title") or ""),
        str(head.get("message") or ""),
    ]
    refs = references(texts)
    conclusion = str(run.get("conclusion") or "")
    name = str(run.get("name") or _mapping(payload.get("workflow")).get("name") or "workflow")
    data: dict[str, Any] = {
        "repository": _repository(payload),
        "workflow": name,
        "conclusion": conclusion,
        "run_id": run.get("id"),
        "run_attempt": run.get("run_attempt"),
        "head_branch": run.get("head_branch"),
        "head_sha": run.get("head_sha"),
        "url": run.get("html_url"),
    }
    when = run.get("updated_at")
    contract = refs.get(ArtifactKind.CONTRACT)
    if contract is not None and conclusion in _PASSED | _FAILED:
        verdict = "failed" if conclusion in _FAILED else "passed"
        data["assertion_name"] = f"CI {name}"
        if verdict == "failed":
            data["error"] = f"{name}: {conclusion}"
        event = f"contract.assertion.{verdict}"
        return _draft(event, f"ci/{name}", contract, data, payload, when, delivery)
    if contract is None and conclusion in _FAILED:
        data["title"] = f"CI failed: {name} on {run.get('head_branch') or '?'}"
        signal_id = f"SIG-GH-{run.get('id')}-{run.get('run_attempt') or 1}"
        return _draft("signal.created", signal_id, None, data, payload, when, delivery)
    data.update(_typed(refs))
    return _draft("github.workflow_run.completed", None, _most_specific(refs), data, payload, when, delivery)


def references(texts: Iterable[str]) -> dict[ArtifactKind, str]:
    """The first contract, spec and intent id the texts mention (branch `con-091-fix` → CON-091)."""
    found: dict[ArtifactKind, str] = {}
    for text in texts:
        for match in _REFERENCE.finditer(text):
            artifact_id = f"{match.group(1).upper()}-{match.group(2)}"
            kind = kind_of_id(artifact_id)
            if kind is not None:
                found.setdefault(kind, artifact_id)
    return found


def _most_specific(refs: Mapping[ArtifactKind, str]) -> str | None:
    return next((refs[kind] for kind in _SPECIFICITY if kind in refs), None)


def _typed(refs: Mapping[ArtifactKind, str]) -> dict[str, str]:
    return {TYPED_ID_FIELD[kind]: refs[kind] for kind in _SPECIFICITY if kind in refs}


def _draft(
    event: str,
    artifact_id: str | None,
    parent: str | None,
    data: dict[str, Any],
    payload: Mapping[str, Any],
    when: object,
    delivery: str | None,
) -> Draft:
    if delivery:
        data["delivery"] = delivery
    if artifact_id is not None:
        data[TYPED_ID_FIELD[kind_of_type(event)]] = artifact_id  # read alike by every reader
    actor = _mapping(payload.get("sender")).get("login")
    return Draft(
        type=event,
        id=artifact_id,
        parent=parent,
        data={k: v for k, v in data.items() if v is not None},
        source=SOURCE,
        actor=str(actor) if actor else SOURCE,
        timestamp=when if isinstance(when, str) and when else None,
    )


def _repository(payload: Mapping[str, Any]) -> str | None:
    name = _mapping(payload.get("repository")).get("full_name")
    return str(name) if name else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


_CHANGES = ("added", "modified", "removed")


def _commits(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The push's commits; ValueError (naming the field) when they are not shaped as GitHub sends them."""
    commits = payload.get("commits") or []
    if not isinstance(commits, list) or not all(isinstance(c, Mapping) for c in commits):
        raise ValueError("commits must be a list of objects")
    return commits


def _paths(commit: Mapping[str, Any], key: str, index: int) -> list[str]:
    paths = commit.get(key) or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"commits[{index}].{key} must be a list of file paths")
    return paths


def _first_line(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    line = value.strip().splitlines()[0]
    return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 1] + "…"


# ------------------------------------------------------------------ changed files
_CREATED = {
    ArtifactKind.SIGNAL: "signal.created",
    ArtifactKind.CLUSTER: "cluster.created",
    ArtifactKind.INTENT: "intent.proposed",
    ArtifactKind.SPEC: "spec.created",
    ArtifactKind.CONTRACT: "contract.created",
    ArtifactKind.DECISION: "decision.recorded",
}
_CHANGE = {"A": "added", "M": "modified", "D": "removed"}
# A status word (`v1.0-shipped` → shipped) → the event the catalog has for it, per kind.
_STATUS_EVENTS: dict[ArtifactKind, dict[str, str]] = {
    ArtifactKind.SIGNAL: {
        "resolved": "signal.resolved",
        "done": "signal.resolved",
        "closed": "signal.resolved",
        "dismissed": "signal.dismissed",
        "rejected": "signal.dismissed",
        "archived": "signal.archived",
        "superseded": "signal.archived",
        "promoted": "signal.promoted",
    },
    ArtifactKind.INTENT: {
        "shipped": "intent.completed",
        "completed": "intent.completed",
        "complete": "intent.completed",
        "done": "intent.completed",
        "closed": "intent.closed",
        "rejected": "intent.rejected",
        "abandoned": "intent.abandoned",
        "archived": "intent.archived",
    },
}

Reader = Callable[[str], str | None]


def drafts_for_changes(
    changes: Iterable[tuple[str, str]],
    read: Reader,
    commit: str,
    timestamp: str | None,
    read_before: Reader | None = None,
) -> list[Draft]:
    """`git diff --name-status` lines (status, path) under `.intent/` → events, from the front matter
    of each file (`intent_observe.artifacts.files`, the one reader of it).

    An added artifact file announces its artifact (`signal.created`, `spec.created`…, with
    its status, links, trust and autonomy); a modified one is `<kind>.updated`, a removed
    one `<kind>.archived`. A status the catalog has an event for (a signal resolved, an
    intent shipped) adds that event when it is new. The file is the artifact's identity
    (`data.file`): a second file declaring the same id is another artifact. Files that are
    no artifact (templates, notes, a README) become `file.changed`.
    """
    drafts = []
    for status, path in changes:
        change = _CHANGE.get(status[:1])
        if change is None or not layout.in_intent_dir(path) or layout.in_events_dir(path):
            continue
        now = _reading(path, read) if change != "removed" else None
        before = _reading(path, read_before) if read_before is not None and change != "added" else None
        base = {"file": path, "change": change, "commit": commit}
        drafts.extend(_file_drafts(path, change, now, before, base, timestamp))
    return drafts


def _reading(path: str, read: Reader) -> ArtifactFile | Skipped | None:
    text = read(path)
    return parse_artifact(path, text) if text is not None else None


def _file_drafts(
    path: str,
    change: str,
    now: ArtifactFile | Skipped | None,
    before: ArtifactFile | Skipped | None,
    base: dict[str, Any],
    when: str | None,
) -> list[Draft]:
    if change == "removed":
        # Without its last version, the name says what it was.
        gone = before if before is not None else parse_artifact(path, "")
        if not isinstance(gone, ArtifactFile):
            return [_not_an_artifact(path, gone, base, when)]
        return [_draft_of(f"{gone.kind.value}.archived", gone, None, base, when)]
    if not isinstance(now, ArtifactFile):
        return [_not_an_artifact(path, now, base, when)]
    data = {**base, **_front_matter_data(now)}
    if now.kind in (ArtifactKind.SIGNAL, ArtifactKind.INTENT):
        data.setdefault("title", PurePosixPath(path).stem)  # their announcement wants one
    event = _CREATED[now.kind] if change == "added" else f"{now.kind.value}.updated"
    drafts = [_draft_of(event, now, _parent(now), data, when)]
    previous = before.status if isinstance(before, ArtifactFile) else None
    status_event = _status_event(now)
    if status_event is not None and now.status != previous:
        drafts.append(_draft_of(status_event, now, _parent(now, status_event), base, when))
    return drafts


def _not_an_artifact(
    path: str, reading: ArtifactFile | Skipped | None, base: dict[str, Any], when: str | None
) -> Draft:
    data = dict(base)
    if isinstance(reading, Skipped):
        data["not_an_artifact"] = reading.reason
    return Draft(type="file.changed", data=data, source=SOURCE, timestamp=when)


def _front_matter_data(art: ArtifactFile) -> dict[str, Any]:
    """What the front matter says, under the payload keys the event catalog uses."""
    links = art.links
    fields: dict[str, Any] = {
        "title": art.title,
        "status": art.status,
        "trust_score": art.trust,
        "autonomy_level": art.autonomy_level,
        "signals": list(links.signals) or None,
        "contracts": list(links.contracts) or None,
        "cluster": links.cluster[0] if links.cluster else None,
        "specs": list(links.spec) if art.kind is not ArtifactKind.CONTRACT and links.spec else None,
        "intents": list(links.intent) if art.kind is not ArtifactKind.SPEC and links.intent else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _status_event(art: ArtifactFile) -> str | None:
    events = _STATUS_EVENTS.get(art.kind, {})
    found = next((events[word] for word in status_words(art.status) if word in events), None)
    if found == "signal.promoted" and not art.links.intent:
        return None  # promoted into what, the file does not say
    return found


def _parent(art: ArtifactFile, event: str | None = None) -> str | None:
    """The parent the front matter gives: a spec's intent, a contract's spec, a promoted signal's intent."""
    if art.kind is ArtifactKind.SPEC or event == "signal.promoted":
        return art.links.intent[0] if art.links.intent else None
    if art.kind is ArtifactKind.CONTRACT:
        return art.links.spec[0] if art.links.spec else None
    return None


def _draft_of(
    event: str, art: ArtifactFile, parent: str | None, data: dict[str, Any], when: str | None
) -> Draft:
    return Draft(type=event, id=art.id, parent=parent, data=dict(data), source=SOURCE, timestamp=when)


def draft_line(draft: Draft) -> bytes:
    """A draft as one JSON line for `intent-observe emit --raw` (which adds the trace context)."""
    doc = {
        "event": draft.type,
        "timestamp": draft.timestamp or format_timestamp(time.time_ns()),
        "span_id": draft.id,
        "parent_id": draft.parent,
        "source": draft.source,
        "actor": draft.actor,
        "data": draft.data,
    }
    return orjson.dumps(doc) + b"\n"


# ------------------------------------------------------------------ workflow entry
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def _changed_files(before: str, after: str) -> list[tuple[str, str]]:
    base = _EMPTY_TREE if not before.strip("0") else before
    out = _git("diff", "--name-status", "--no-renames", base, after, "--", layout.INTENT_DIR)
    return [(status, path) for status, _, path in (line.partition("\t") for line in out.splitlines()) if path]


def _read_at(commit: str) -> Callable[[str], str | None]:
    def read(path: str) -> str | None:
        try:
            return _git("show", f"{commit}:{path}")[:65536]
        except subprocess.CalledProcessError:
            return None

    return read


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "changes":
        print("usage: python -m intent_observe.sources.github changes BEFORE AFTER", file=sys.stderr)
        return 2
    before, after = argv[1], argv[2]
    when = _git("show", "-s", "--format=%cI", after).strip() or None
    read_before = _read_at(before) if before.strip("0") else None
    changed = _changed_files(before, after)
    for draft in drafts_for_changes(changed, _read_at(after), after, when, read_before):
        sys.stdout.buffer.write(draft_line(draft))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
