"""The front matter reader: each pattern real artifact files show, then the one real tree."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.real_tree import REAL_TREE

from intent_observe.artifacts.files import ArtifactFile, Links, Skipped, parse_artifact, read_artifacts
from intent_observe.model import ArtifactKind


def read(path: str, text: str) -> ArtifactFile:
    result = parse_artifact(path, text)
    assert isinstance(result, ArtifactFile), result
    return result


def skipped(path: str, text: str) -> str:
    result = parse_artifact(path, text)
    assert isinstance(result, Skipped), result
    return result.reason


def test_a_spec_file_gives_its_status_links_trust_and_autonomy() -> None:
    spec = read(
        ".intent/specs/SPEC-012-retry-login.md",
        "---\n"
        "id: SPEC-012\n"
        'title: "Retry login, bounded"\n'
        "status: executing   # since the kickoff\n"
        "intent: INT-004\n"
        "contracts: [CON-LG-001, CON-LG-002]\n"
        "trust_score: 0.72\n"
        "autonomy_level: l3\n"
        "created: 2026-04-06\n"
        "---\n"
        "# A heading that is not the title\n",
    )
    assert (spec.kind, spec.id, spec.status, spec.title) == (
        ArtifactKind.SPEC,
        "SPEC-012",
        "executing",
        "Retry login, bounded",
    )
    assert spec.links == Links(intent=("INT-004",), contracts=("CON-LG-001", "CON-LG-002"))
    assert (spec.trust, spec.autonomy_level, spec.notes) == (0.72, "L3", ())
    assert not spec.closed


def test_signals_and_intents_name_their_links_by_many_keys() -> None:
    signal = read(
        ".intent/signals/2026-04-02-slow-builds.md",
        "---\nsignal_id: SIG-F-002-slow-builds\nstatus: promoted\ntrust: 0.9\nautonomy: L4\n"
        "related_intents: [INT-007]\ncluster: build-speed\n---\n",
    )
    assert (signal.id, signal.links.intent, signal.links.cluster) == (
        "SIG-F-002-slow-builds",
        ("INT-007",),
        ("build-speed",),
    )
    assert signal.closed
    intent = read(
        ".intent/intents/INT-007-faster-builds.md",
        "---\nid: INT-007\nstatus: v2.1-shipped\nsignals: [SIG-041, SIG-048]\nspecs: []\n---\n",
    )
    assert intent.links == Links(signals=("SIG-041", "SIG-048"))
    assert intent.closed  # a version's "shipped" ends it
    cluster = read(
        ".intent/clusters/build-speed.md",
        '---\nid: CLU-004\nname: "build-speed"\nstatus: promoted\nsignals: [SIG-041]\n'
        'promoted_to: "INT-007"\n---\n',
    )
    assert (cluster.name, cluster.links.intent, cluster.links.signals) == (
        "build-speed",
        ("INT-007",),
        ("SIG-041",),
    )
    decision = read(
        ".intent/decisions/RETRO-2026-04-08-a-1.md", "---\ndecision_id: RETRO-2026-04-08-a-1\n---\n"
    )
    assert decision.id == "RETRO-2026-04-08-a-1" and decision.status is None


def test_an_inline_comment_is_not_part_of_the_value() -> None:
    signal = read(
        ".intent/signals/SIG-050-x.md",
        "---\nid: SIG-050\nstatus: resolved  # two follow-ups tracked elsewhere: see §Open\n---\n",
    )
    assert signal.status == "resolved"


def test_prose_where_an_id_belongs_is_no_link_and_no_id() -> None:
    spec = read(
        ".intent/specs/SPEC-GATE.md",
        "---\nid: SPEC-GATE\nintent: Make every external message pass a human\n"
        "related_intents: [governance]\n---\n",
    )
    assert spec.links.intent == ()
    assert len(spec.notes) == 2 and all("not an id; not a link" in note for note in spec.notes)
    prose_id = read(
        ".intent/signals/2026-04-01-odd.md", "---\nid: the login page is slow\nstatus: open\n---\n"
    )
    assert prose_id.id is None and "not an id" in prose_id.notes[0]


def test_a_file_without_an_id_is_still_an_artifact_its_path_its_identity() -> None:
    signal = read(
        ".intent/signals/2026-04-08-onboarding-gap.md", "---\ntitle: Onboarding gap\nstatus: active\n---\n"
    )
    assert (signal.id, signal.title, signal.status) == (None, "Onboarding gap", "active")


def test_templates_and_files_that_only_look_like_artifacts_are_skipped() -> None:
    text = "---\nid: SIG-042\nstatus: open\n---\n"
    assert "template" in skipped(".intent/signals/templates/signal.md", text)
    assert "template" in skipped(".intent/intents/_template.md", text)
    assert "template" in skipped(".intent/specs/spec-template.md", text)
    for placeholder in ("SIG-XXX", "INT-NNN", "SIG-{{ulid}}", "SPEC-<id>", "SIG-YYYY-MM-DD-slug"):
        assert "placeholder" in skipped(".intent/signals/new.md", f"---\nid: {placeholder}\n---\n")
    assert "placeholder" in skipped(".intent/signals/SIG-XXX-title.md", "# SIG-XXX: title\n")
    assert "placeholder" in skipped(".intent/intents/INT-NNN.md", "---\nstatus: proposed\n---\n")
    assert "no front matter" in skipped(".intent/signals/external/README.md", "# How to add a signal\n")
    assert "not a Markdown file" in skipped(".intent/signals/index.json", "{}")
    assert "not under an artifact directory" in skipped(".intent/notes/SIG-001.md", text)
    # A real id that merely contains the word is an artifact.
    assert (
        read(".intent/signals/SIG-TEMPLATES-DRIFT-2026-07-20.md", text.replace("SIG-042", "SIG-T-1")).id
        == "SIG-T-1"
    )


def test_a_file_whose_front_matter_names_no_id_has_the_id_of_its_name() -> None:
    signal = read(".intent/signals/sig-2026-05-26-slow-ci.md", "Some text\n\n# CI takes 40 minutes\n")
    assert (signal.id, signal.title, signal.status) == ("SIG-2026-05-26-slow-ci", "CI takes 40 minutes", None)
    spec = read(".intent/specs/SPEC-042.md", "---\nintent_id: INT-015\n---\n")
    assert (spec.id, spec.links.intent) == ("SPEC-042", ("INT-015",))


def test_yaml_that_does_not_parse_is_read_line_by_line() -> None:
    signal = read(
        ".intent/signals/SIG-060-x.md",
        "---\nid: SIG-060\ntitle: Retries: the silent killer: part 2\nstatus: open  # for now\n"
        "related_intents: [INT-001, INT-002]\ntrust: 0.4\n---\n",
    )
    assert (signal.id, signal.status, signal.trust) == ("SIG-060", "open", 0.4)
    assert signal.links.intent == ("INT-001", "INT-002")
    assert signal.title == "Retries: the silent killer: part 2"
    assert "not read as YAML" in signal.notes[0]


def test_front_matter_that_would_expand_or_nest_without_end_is_read_line_by_line() -> None:
    laughs = "".join(f"k{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40))
    deep = "x: " + "[" * 600 + "]" * 600 + "\n"
    for bad in ("k0: &a0 [x, x]\n" + laughs, deep):
        started = time.monotonic()
        signal = read(".intent/signals/SIG-064-x.md", f"---\nid: SIG-064\nstatus: open\n{bad}---\n")
        assert (signal.id, signal.status) == ("SIG-064", "open")
        assert "read line by line" in signal.notes[0]
        assert time.monotonic() - started < 2


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("-:#[]{}&*!|>'\" \n\tabSIG0123.%@`")), max_size=300))
def test_no_front_matter_makes_the_reader_fail(body: str) -> None:
    result = parse_artifact(".intent/signals/SIG-065.md", f"---\n{body}\n---\n")
    assert isinstance(result, ArtifactFile | Skipped)


def test_a_key_given_twice_reads_the_last_and_says_so() -> None:
    signal = read(
        ".intent/signals/SIG-061-x.md", "---\nid: SIG-061\nstatus: active\nowner: a\nstatus: resolved\n---\n"
    )
    assert signal.status == "resolved"
    assert signal.notes == ("status: given 2 times; the last is read",)


def test_values_that_are_not_what_their_key_promises_are_left_out() -> None:
    signal = read(
        ".intent/signals/SIG-062-x.md",
        "---\nid: SIG-062\ntrust: high\nautonomy_level: L7\nstatus: [open]\ntitle:\n---\n"
        "# From the heading\n",
    )
    assert (signal.trust, signal.autonomy_level, signal.status) == (None, None, None)
    assert signal.title == "From the heading"
    assert len(signal.notes) == 3
    for bad in ("---\n- a list\n---\n", "---\njust text\n---\n"):
        assert "not a mapping" in skipped(".intent/signals/SIG-063.md", bad)


def test_statuses_that_close_and_statuses_that_do_not() -> None:
    def closed(status: str) -> bool:
        return read(".intent/signals/SIG-1.md", f"---\nid: SIG-1\nstatus: '{status}'\n---\n").closed

    assert [closed(s) for s in ("resolved", "Dismissed", "v1.0-shipped", "promoted", "done")] == [True] * 5
    assert [
        closed(s)
        for s in ("open", "captured", "accepted", "needs-shaping", "symptom-repaired, upstream-pending")
    ] == [False] * 5


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_repository_two_files_one_id_cluster_names_and_links_out(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    outside = tmp_path / "secret.md"
    outside.write_text("---\nid: SIG-999\n---\n")
    write(
        repo,
        {
            ".intent/intents/INT-013-first.md": "---\nid: INT-013\ntitle: First\n---\n",
            ".intent/intents/INT-013-second.md": "---\nid: INT-013\ntitle: Second\n---\n",
            ".intent/clusters/retries.md": "---\nid: CLU-002\nname: retries\n---\n",
            ".intent/signals/SIG-001.md": "---\nid: SIG-001\ncluster: retries\n---\n",
            ".intent/signals/SIG-002.md": "---\nid: SIG-002\ncluster: unknown-group\n---\n",
            ".intent/events/events.jsonl": "{}\n",
            ".intent/observe/store.db": "x",
            ".intent/config.toml": "x = 1\n",
        },
    )
    (repo / ".intent/signals/SIG-999.md").symlink_to(outside)
    artifacts, skips = read_artifacts(repo)
    by_path = {art.path: art for art in artifacts}
    assert [by_path[f".intent/intents/INT-013-{n}.md"].title for n in ("first", "second")] == [
        "First",
        "Second",
    ]
    assert by_path[".intent/signals/SIG-001.md"].links.cluster == ("CLU-002",)
    assert by_path[".intent/signals/SIG-002.md"].links.cluster == ("unknown-group",)
    assert {(s.path, s.reason.split(" (")[0]) for s in skips} == {
        (".intent/config.toml", "not under an artifact directory"),
        (".intent/signals/SIG-999.md", "a symbolic link"),
    }


# ------------------------------------------------------------------ the real tree
real_tree = pytest.mark.skipif(not REAL_TREE.is_dir(), reason="the real Intent tree is not on this machine")


@pytest.fixture(scope="module")
def real() -> tuple[list[ArtifactFile], list[Skipped]]:
    return read_artifacts(REAL_TREE)


@real_tree
def test_every_file_of_the_real_tree_is_read_or_skipped_with_a_reason(
    real: tuple[list[ArtifactFile], list[Skipped]],
) -> None:
    artifacts, skips = real
    # `find .intent -type f -not -path '.intent/events/*' | wc -l` → 266
    assert len(artifacts) + len(skips) == 266
    assert [(s.path, s.reason) for s in skips] == [
        (".intent/signals/external/README.md", "no front matter, and its name carries no id")
    ]
    kinds = Counter(art.kind.value for art in artifacts)
    # `ls` of each directory (signals/ with external/ minus its README)
    assert kinds == {"signal": 198, "decision": 36, "intent": 17, "spec": 8, "cluster": 6}


@real_tree
def test_the_real_trees_statuses_as_the_files_say(real: tuple[list[ArtifactFile], list[Skipped]]) -> None:
    signals = [art for art in real[0] if art.kind is ArtifactKind.SIGNAL]
    statuses = Counter(art.status for art in signals)
    # `grep -rhE '^status:' .intent/signals | sort | uniq -c`, less the four files whose front
    # matter gives `status:` twice, read as YAML reads them (the last): active→resolved twice,
    # resolved→promoted, resolved→open.
    assert statuses == {
        "resolved": 96,
        "promoted": 10,
        "active": 25,
        "captured": 25,
        "open": 20,
        "decided": 12,
        "symptom-repaired, upstream-pending": 7,
        "needs-shaping": 3,
    }
    assert sum(art.closed for art in signals) == 96 + 10
    intents = [art for art in real[0] if art.kind is ArtifactKind.INTENT]
    # `grep -h '^status:' .intent/intents/*`: 12 proposed, 4 accepted, 1 v1.0-shipped (INT-007)
    assert [art.id for art in intents if art.closed] == ["INT-007"]
    assert Counter(art.id for art in intents)["INT-013"] == 2  # two files, two artifacts


@real_tree
def test_the_real_trees_links_as_the_files_say(real: tuple[list[ArtifactFile], list[Skipped]]) -> None:
    specs = {art.id: art.links.intent for art in real[0] if art.kind is ArtifactKind.SPEC}
    # `grep -H '^intent:' .intent/specs/*`; SPEC-APPROVAL-GATE's `intent:` is a sentence
    assert specs == {
        "SPEC-001": ("INT-003",),
        "SPEC-002": ("INT-004",),
        "SPEC-003": ("INT-009",),
        "SPEC-004": ("INT-009",),
        "SPEC-005": ("INT-009",),
        "SPEC-APPROVAL-GATE": (),
        "SPEC-MCP-MIGRATION-2026-05-20": (),
        "SPEC-UPGRADE-PLAN-2026-05-20": (),
    }
    clusters = {art.id: (art.status, art.links.intent) for art in real[0] if art.kind is ArtifactKind.CLUSTER}
    # `grep -H '^status:\|^promoted_to:' .intent/clusters/*`
    assert {cid for cid, (status, _) in clusters.items() if status == "promoted"} == {"CLU-001", "CLU-003"}
    assert clusters["CLU-001"][1] == ("INT-001",) and clusters["CLU-003"][1] == ("INT-002",)
    # `grep -L '^id:\|^signal_id:' .intent/signals/*.md`: five signal files declare no id
    assert sum(art.id is None for art in real[0]) == 5
