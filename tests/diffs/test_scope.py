"""Tests for acme_ci_budget.diffs.scope: the PR's own part of an incremental compare."""

from __future__ import annotations

from acme_ci_budget.diffs.change import FileChange
from acme_ci_budget.diffs.hunks import added_lines
from acme_ci_budget.diffs.parse import parse_unified_diff
from acme_ci_budget.diffs.render import render_diff
from acme_ci_budget.diffs.scope import restrict_to_pull


def _git(repo, *args: str) -> str:
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
           "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return done.stdout


def _as_github(diff: str) -> list[FileChange]:
    """``git diff`` output as GitHub lists files: hunks only, from the first @@."""
    return [f for f in parse_unified_diff(diff)]


def _write(repo, name: str, lines: list[str]) -> None:
    (repo / name).write_text("".join(f"{line}\n" for line in lines))


def test_a_merge_of_the_base_branch_is_cut_out_of_the_incremental_compare(tmp_path) -> None:
    """A real git history: reviewed head R, then main merged in (M), then one more PR commit (H)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shared = [f"line {i}" for i in range(1, 41)]
    _write(repo, "shared.py", shared)
    _write(repo, "pr_only.py", ["a = 1"])
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "feature")
    _write(repo, "shared.py", [*shared[:4], "pr change 1", *shared[5:]])  # the PR edits line 5
    _git(repo, "commit", "-qam", "pr 1")
    reviewed = _git(repo, "rev-parse", "HEAD").strip()
    _git(repo, "checkout", "-q", "main")
    main_shared = [*shared[:29], "main change 30", *shared[30:]]  # main edits line 30 ...
    _write(repo, "shared.py", main_shared)
    _write(repo, "main_only.py", ["from main import x", "x()"])  # ... and adds a file
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "main moves on")
    _git(repo, "checkout", "-q", "feature")
    _git(repo, "merge", "-q", "--no-edit", "main")
    merged = (repo / "shared.py").read_text().splitlines()
    # one more PR commit: a line right after main's change, one far from it, and a deletion
    merged = [*merged[:30], "pr change 31", *merged[30:]]
    merged = [line for line in merged if line != "line 20"]
    merged[1] = "pr change 2"
    _write(repo, "shared.py", merged)
    _write(repo, "pr_only.py", ["a = 2"])
    _git(repo, "commit", "-qam", "pr 2")
    since = _as_github(_git(repo, "diff", f"{reviewed}..HEAD"))  # what compare/{reviewed}...{head} lists
    pull = _as_github(_git(repo, "diff", "main...HEAD"))  # what pulls/N/files lists (three-dot)
    assert {f.path for f in since} == {"shared.py", "pr_only.py", "main_only.py"}

    scoped = {f.path: f for f in restrict_to_pull(since, pull)}
    assert set(scoped) == {"shared.py", "pr_only.py"}  # main's new file is not the PR's
    text = scoped["shared.py"].patch
    assert "main change 30" not in [line[1:] for line in text.splitlines() if line[:1] in "+-"]
    assert "+pr change 31" in text and "+pr change 2" in text and "-line 20" in text
    assert "+pr change 1" not in text  # reviewed before: not in the new commits
    own = {f.path: f for f in pull}
    # every added line kept is one GitHub accepts an inline comment on, at the same number
    assert added_lines(text) <= added_lines(own["shared.py"].patch)
    final = (repo / "shared.py").read_text().splitlines()
    assert {final[n - 1] for n in added_lines(text)} == {"pr change 2", "pr change 31"}
    assert scoped["shared.py"].additions == 2 and scoped["shared.py"].deletions == 2  # line 2 and line 20
    assert scoped["pr_only.py"] == next(f for f in since if f.path == "pr_only.py")
    # the cut patch still reads back as a well-formed diff
    (back,) = parse_unified_diff(render_diff([scoped["shared.py"]]))
    assert back.additions == 2 and back.deletions == 2


def test_a_compare_hunk_mixing_base_and_pr_lines_is_split_with_true_numbers() -> None:
    since = FileChange(
        "a.py", "modified", 2, 1,
        "@@ -10,4 +10,5 @@ def f():\n ctx10\n-old11\n+base11\n+pr12\n ctx13\n ctx14",
    )
    pull = FileChange("a.py", "modified", 1, 0, "@@ -11,3 +11,4 @@ def f():\n base11\n+pr12\n ctx13\n ctx14")
    (scoped,) = restrict_to_pull([since], [pull])
    # base's -old11/+base11 cut out; the piece before it is context alone, so it goes too
    assert scoped.patch == "@@ -12,2 +12,3 @@ def f():\n+pr12\n ctx13\n ctx14"
    assert (scoped.additions, scoped.deletions) == (1, 0)
    assert added_lines(scoped.patch) == {12}


def test_a_file_only_the_base_changed_and_unknown_patches() -> None:
    base_only = FileChange("main.py", "added", 1, 0, "@@ -0,0 +1 @@\n+x")
    binary = FileChange("logo.png", "modified", 0, 0, None)
    assert restrict_to_pull([base_only, binary], [FileChange("logo.png", "modified", 0, 0, None)]) == (binary,)
    # a file new since the reviewed head only because the merge brought it in keeps the PR's status
    since = FileChange("cfg.py", "added", 2, 0, "@@ -0,0 +1,2 @@\n+from_main = 1\n+from_pr = 2")
    pull = FileChange("cfg.py", "modified", 1, 0, "@@ -1 +1,2 @@\n from_main = 1\n+from_pr = 2")
    (scoped,) = restrict_to_pull([since], [pull])
    assert scoped.status == "modified" and scoped.patch == "@@ -0,0 +2,1 @@\n+from_pr = 2"
