"""Tests for acme_ci_budget.diffs.clip: clipping to a token budget, and its properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acme_ci_budget.core import tokens
from acme_ci_budget.core.tokens import estimate_tokens
from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.clip import REASON_BUDGET, REASON_DELETION_ONLY, REASON_REMOVED, ClippedDiff, clip_diff
from acme_ci_budget.diffs.hunks import added_lines
from acme_ci_budget.diffs.parse import parse_unified_diff
from acme_ci_budget.diffs.policy import (
    REASON_BINARY,
    REASON_GENERATED,
    REASON_LOCK,
    DiffPolicy,
)
from acme_ci_budget.diffs.render import render_diff
from tests.diffs.samples import GIT_DIFF, added_file, change, make_patch


def test_everything_fits_nothing_changes() -> None:
    files = parse_unified_diff(GIT_DIFF)
    clipped = clip_diff(files, 100_000)
    assert isinstance(clipped, ClippedDiff)
    sendable = [f for f in files if f.path != "logo.png"]
    assert clipped.text == render_diff(sendable)
    assert clipped.included == tuple(f.path for f in sendable)
    assert clipped.omitted == (("logo.png", REASON_BINARY),)
    assert clipped.trimmed == ()
    assert clipped.tokens == estimate_tokens(clipped.text)
    assert "-line 30" in clipped.text  # deletions are kept while there is room
    assert clipped.changed_lines == sum(f.changes for f in sendable)


def test_changed_lines_ignores_excluded_files() -> None:
    files = [added_file("src/a.py", 4), added_file("yarn.lock", 500), added_file("dist/b.js", 70)]
    clipped = clip_diff(files, 100_000)
    assert clipped.changed_lines == 4
    assert clipped.omitted == (("yarn.lock", REASON_LOCK), ("dist/b.js", REASON_GENERATED))


def test_deletion_only_hunks_dropped_when_over_budget() -> None:
    mixed = change("src/mixed.py", [
        ["-dead_code_" + "x" * 40 + str(i) for i in range(20)],
        [" keep", "-old", "+new"],
    ])
    only_deletions = change("src/shrink.py", [["-gone " + "y" * 40 + str(i) for i in range(20)]])
    removed = change("src/removed.py", [["-bye " + "z" * 40 + str(i) for i in range(20)]], status="removed")
    renamed = change("src/new_home.py", [["-trim " + "w" * 40 + str(i) for i in range(5)]],
                     status="renamed", previous_path="src/old_home.py")
    added = added_file("src/feature.py", 10)
    files = [mixed, only_deletions, removed, renamed, added]
    full = clip_diff(files, 100_000)
    budget = full.tokens - 1
    clipped = clip_diff(files, budget)
    assert clipped.tokens <= budget
    assert clipped.included == ("src/mixed.py", "src/new_home.py", "src/feature.py")
    assert clipped.omitted == (("src/shrink.py", REASON_DELETION_ONLY), ("src/removed.py", REASON_REMOVED))
    assert clipped.trimmed == ("src/mixed.py", "src/new_home.py")
    assert "dead_code_" not in clipped.text and "-old\n+new" in clipped.text
    assert "rename from src/old_home.py\nrename to src/new_home.py\n" in clipped.text
    assert "-trim" not in clipped.text
    # the compressed text is still a diff a parser (or a model) can read
    assert [f.path for f in parse_unified_diff(clipped.text)] == list(clipped.included)


def test_priority_source_then_tests_then_docs_most_changed_first() -> None:
    src_small = added_file("src/small.py", 10)
    src_big = added_file("src/big.py", 20)
    test = added_file("tests/test_big.py", 20)
    doc = added_file("docs/guide.md", 20)
    cfg = added_file("config/settings.yaml", 20)
    workflow = added_file(".github/workflows/deploy.yml", 20)  # security-sensitive: ranks with source
    files = [doc, cfg, test, src_small, workflow, src_big]
    cost = {f.path: estimate_tokens(render_diff([f])) for f in files}
    budget = cost["src/big.py"] + cost[".github/workflows/deploy.yml"] + cost["src/small.py"] + cost[
        "tests/test_big.py"] + 5
    clipped = clip_diff(files, budget)
    assert set(clipped.included) == {"src/big.py", ".github/workflows/deploy.yml", "src/small.py",
                                     "tests/test_big.py"}
    assert clipped.included == ("tests/test_big.py", "src/small.py", ".github/workflows/deploy.yml",
                                "src/big.py")  # emitted in input order
    assert dict(clipped.omitted) == {"docs/guide.md": REASON_BUDGET, "config/settings.yaml": REASON_BUDGET}
    assert clipped.tokens <= budget

    # Within the source class the most-changed file wins the space.
    only_one = clip_diff([src_small, src_big], cost["src/big.py"] + 2)
    assert only_one.included == ("src/big.py",)
    assert only_one.omitted == (("src/small.py", REASON_BUDGET),)


def test_smaller_lower_priority_file_fills_leftover_budget() -> None:
    big_src = added_file("src/big.py", 40)
    mid_src = added_file("src/mid.py", 30)
    tiny_doc = added_file("README.md", 1)
    cost = {f.path: estimate_tokens(render_diff([f])) for f in (big_src, mid_src, tiny_doc)}
    budget = cost["src/big.py"] + cost["README.md"] + 1  # mid does not fit after big; the tiny doc does
    clipped = clip_diff([big_src, mid_src, tiny_doc], budget)
    assert clipped.included == ("src/big.py", "README.md")
    assert clipped.omitted == (("src/mid.py", REASON_BUDGET),)


def test_file_larger_than_budget_is_cut_at_a_hunk_boundary() -> None:
    hunks = [[f"+h{h} line {i} " + "q" * 30 for i in range(10)] for h in range(8)]
    giant = change("src/giant.py", hunks)
    small_test = added_file("tests/test_x.py", 3)
    whole = estimate_tokens(render_diff([giant]))
    budget = whole // 2
    clipped = clip_diff([giant, small_test], budget)
    assert clipped.tokens <= budget
    assert "src/giant.py" in clipped.included and "src/giant.py" in clipped.trimmed
    (sent,) = [f for f in parse_unified_diff(clipped.text) if f.path == "src/giant.py"]
    kept = sent.patch.count("\n@@") + 1
    assert 1 <= kept < 8
    assert sent.additions == 10 * kept  # whole hunks only
    assert f"\\ acme-ci-budget: {8 - kept} more hunks of this file omitted" in clipped.text
    assert added_lines(sent.patch) <= added_lines(giant.patch)  # line numbers stay true


def test_single_hunk_larger_than_budget_is_omitted() -> None:
    giant = added_file("src/giant.py", 200)
    small = added_file("src/small.py", 2)
    budget = estimate_tokens(render_diff([small])) + 10
    clipped = clip_diff([giant, small], budget)
    assert clipped.included == ("src/small.py",)
    assert clipped.omitted == (("src/giant.py", REASON_BUDGET),)


def test_zero_budget_and_bad_arguments() -> None:
    clipped = clip_diff(parse_unified_diff(GIT_DIFF), 0)
    assert (clipped.text, clipped.tokens, clipped.included) == ("", 0, ())
    assert len(clipped.omitted) == 9
    with pytest.raises(DiffError, match="max_tokens must be a non-negative integer"):
        clip_diff([], -1)
    with pytest.raises(DiffError, match=r"duplicate path 'a\.py'"):
        clip_diff([added_file("a.py", 1), added_file("a.py", 2)], 100)


def test_security_detection_sees_excluded_files() -> None:
    files = [added_file("src/app.py", 3), FileChange("deploy/tls.pem", "added", 0, 0, None)]
    clipped = clip_diff(files, 100_000)
    assert clipped.touches_security is True
    assert clipped.security_paths == ("deploy/tls.pem",)
    assert ("deploy/tls.pem", REASON_BINARY) in clipped.omitted
    plain = clip_diff([added_file("src/author.py", 3)], 100_000)
    assert plain.touches_security is False and plain.security_paths == ()


def test_order_of_input_does_not_change_the_choice() -> None:
    rng = random.Random(7)
    files = [added_file(f"src/m{i}.py", rng.randint(1, 30)) for i in range(60)]
    files += [added_file(f"tests/test_m{i}.py", rng.randint(1, 30)) for i in range(20)]
    first = clip_diff(files, 3000)
    shuffled = files[:]
    rng.shuffle(shuffled)
    second = clip_diff(shuffled, 3000)
    assert set(first.included) == set(second.included)
    assert set(first.omitted) == set(second.omitted)
    assert first.tokens == second.tokens


def test_five_thousand_file_pr_is_clipped_within_budget() -> None:
    files: list[FileChange] = []
    for i in range(4000):
        files.append(added_file(f"pkg{i % 40}/mod_{i}.py", 1 + i % 37))
    for i in range(500):
        files.append(added_file(f"tests/pkg{i % 40}/test_mod_{i}.py", 5))
    for i in range(300):
        files.append(added_file(f"docs/page_{i}.md", 5))
    for i in range(100):
        files.append(added_file(f"svc{i}/package-lock.json", 50))
    for i in range(100):
        files.append(added_file(f"vendor/lib{i}/x.go", 50))
    max_tokens = 50_000
    clipped = clip_diff(files, max_tokens)
    assert clipped.tokens <= max_tokens
    assert clipped.tokens == estimate_tokens(clipped.text)
    assert clipped.tokens > max_tokens * 0.95  # the budget is used, not wasted
    paths = [f.path for f in files]
    accounted = list(clipped.included) + [p for p, _ in clipped.omitted]
    assert sorted(accounted) == sorted(paths)
    reasons = dict(clipped.omitted)
    assert sum(r == REASON_LOCK for r in reasons.values()) == 100
    assert sum(r == REASON_GENERATED for r in reasons.values()) == 100
    assert sum(r == REASON_BUDGET for r in reasons.values()) == 4800 - len(clipped.included)
    # source outranks tests and docs; the most-changed sources are sent
    assert all(not p.startswith(("tests/", "docs/")) for p in clipped.included)
    assert {f.path for f in files[:4000] if f.changes == 37} <= set(clipped.included)
    assert [f.path for f in parse_unified_diff(clipped.text)] == list(clipped.included)


def test_step_four_guard_holds_for_a_superadditive_estimator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pieces that cost less than their sum would let the greedy pass overshoot; the final check
    # must still hold the line by dropping the lowest-priority files.
    monkeypatch.setattr(tokens, "estimate_tokens", lambda text: len(text) + len(text) ** 2 // 20_000)
    files = [added_file(f"src/m{i}.py", 10 + i) for i in range(30)]
    clipped = clip_diff(files, 4000)
    assert clipped.tokens <= 4000
    assert clipped.tokens == tokens.estimate_tokens(clipped.text)
    assert clipped.included and len(clipped.included) + len(clipped.omitted) == 30


# ---------------------------------------------------------------------------
# property: never over budget, every file accounted for exactly once

_DIRS = ["src", "src/auth", "tests", "docs", "vendor/x", "lib/deep/er", ""]
_NAMES = ["a.py", "b.go", "test_c.py", "README.md", "d.min.js", "e.png", "yarn.lock", "my file.txt", "f.ts"]
_TEXTS = ["", "x", "return value", "def f(a, b):", "    total += price * quantity  # noqa", "é" * 30, "z" * 80]


@st.composite
def _file_changes(draw: st.DrawFn) -> list[FileChange]:
    count = draw(st.integers(0, 25))
    out: list[FileChange] = []
    used: set[str] = set()
    for n in range(count):
        name = draw(st.sampled_from(_NAMES))
        folder = draw(st.sampled_from(_DIRS))
        path = f"{folder}/{n}{name}" if folder else f"{n}{name}"
        if path in used:
            continue
        used.add(path)
        status = draw(st.sampled_from(["added", "modified", "removed", "renamed"]))
        kind = draw(st.sampled_from(["patch", "patch", "patch", "none", "empty"]))
        if kind == "none":
            patch = None
            adds = dels = 0 if draw(st.booleans()) else draw(st.integers(1, 50))
        elif kind == "empty":
            patch, adds, dels = "", 0, 0
        else:
            # each int picks a line kind and a text: flat ints keep generation (and shrinking) cheap
            hunks = draw(st.lists(st.lists(st.integers(0, 3 * len(_TEXTS) - 1), min_size=1, max_size=15),
                                  min_size=1, max_size=6))
            body = [[" +-"[k % 3] + _TEXTS[k // 3] for k in h] for h in hunks]
            patch = make_patch(body)
            adds = sum(1 for h in body for line in h if line[0] == "+")
            dels = sum(1 for h in body for line in h if line[0] == "-")
        previous = f"old/{n}.py" if status == "renamed" else None
        out.append(FileChange(path, status, adds, dels, patch, previous))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=_file_changes(), max_tokens=st.integers(0, 3000), cap=st.sampled_from([None, 400, 100_000]))
def test_clip_never_exceeds_budget_and_accounts_for_every_file(
    files: list[FileChange], max_tokens: int, cap: int | None
) -> None:
    clipped = clip_diff(files, max_tokens, DiffPolicy(max_file_bytes=cap))
    assert clipped.tokens <= max_tokens
    assert clipped.tokens == estimate_tokens(clipped.text)
    included = list(clipped.included)
    omitted = [path for path, _ in clipped.omitted]
    assert len(included) == len(set(included)) and len(omitted) == len(set(omitted))
    assert not set(included) & set(omitted)
    assert sorted(included + omitted) == sorted(f.path for f in files)
    assert set(clipped.trimmed) <= set(included)
    # what is sent is a readable diff of exactly the included files, in input order
    assert [f.path for f in parse_unified_diff(clipped.text)] == included
    order = {f.path: i for i, f in enumerate(files)}
    assert included == sorted(included, key=order.__getitem__)

