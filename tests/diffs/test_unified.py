"""Tests for acme_ci_budget.diffs.unified: parsing, filtering, clipping and comment-line mapping."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acme_ci_budget.core import tokens
from acme_ci_budget.core.tokens import estimate_tokens
from acme_ci_budget.diffs.unified import (
    REASON_BINARY,
    REASON_BUDGET,
    REASON_DELETION_ONLY,
    REASON_EXCLUDED,
    REASON_GENERATED,
    REASON_LOCK,
    REASON_NO_PATCH,
    REASON_REMOVED,
    REASON_SIZE,
    ClippedDiff,
    DiffError,
    DiffPolicy,
    FileChange,
    added_lines,
    clip_diff,
    glob_regex,
    parse_unified_diff,
    path_matches,
    render_diff,
    right_side_lines,
)

# Produced by `git diff --cached -M` (git 2.39) on a scratch repository. <TAB> stands for the tab git
# puts after a file name that contains a space; the octal escapes are git's quoting of "café.md".
GIT_DIFF = r"""diff --git "a/caf\303\251.md" "b/caf\303\251.md"
index 1cd909e..0df425e 100644
--- "a/caf\303\251.md"
+++ "b/caf\303\251.md"
@@ -1 +1 @@
-bonjour
+bonjour!
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index de98044..0000000
--- a/gone.txt
+++ /dev/null
@@ -1,3 +0,0 @@
-a
-b
-c
diff --git a/logo.png b/logo.png
index c866266..5663091 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/my file.txt b/my file.txt
index ce01362..3b18e51 100644
--- a/my file.txt<TAB>
+++ b/my file.txt<TAB>
@@ -1 +1 @@
-hello
+hello world
diff --git a/noeol.txt b/noeol.txt
index 1b32298..6e94b48 100644
--- a/noeol.txt
+++ b/noeol.txt
@@ -1,2 +1,2 @@
 x
-y
\ No newline at end of file
+z
\ No newline at end of file
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git a/src/app.py b/src/app.py
index bab081f..1860470 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,8 +1,9 @@
 line 1
 line 2
-line 3
+line 3 changed
 line 4
 line 5
+inserted
 line 6
 line 7
 line 8
@@ -27,14 +28,13 @@ line 26
 line 27
 line 28
 line 29
-line 30
 line 31
 line 32
 line 33
 line 34
 line 35
 line 36
-line 37
+line 38 changed
 line 38
 line 39
 line 40
diff --git a/src/auth/new.py b/src/auth/new.py
new file mode 100644
index 0000000..8740298
--- /dev/null
+++ b/src/auth/new.py
@@ -0,0 +1,3 @@
+import os
+
+TOKEN = os.environ['T']
diff --git a/src/old_name.py b/src/new_name.py
similarity index 93%
rename from src/old_name.py
rename to src/new_name.py
index 34dceb9..5262d54 100644
--- a/src/old_name.py
+++ b/src/new_name.py
@@ -5,7 +5,7 @@ def f1():
 def f2():
     return 2
 def f3():
-    return 3
+    return 33
 def f4():
     return 4
 def f5():
""".replace("<TAB>", "\t")

# `git format-patch --binary` of a commit with a binary new file, an empty new file and a pure rename.
FORMAT_PATCH = r"""From 9b5ffbaecd5803d3d5c5d2ffff90e0d79d1c6453 Mon Sep 17 00:00:00 2001
From: t <a@b>
Date: Sun, 29 Nov 2026 01:11:01 +0000
Subject: [PATCH] three

---
 data.bin                  | Bin 0 -> 3 bytes
 empty.py                  |   0
 run.sh => scripts_run.sh  |   0
 3 files changed, 0 insertions(+), 0 deletions(-)

diff --git a/data.bin b/data.bin
new file mode 100644
index 0000000000000000000000000000000000000000..8352675d67aed6625ece79af41c27fdb4ee2e867
GIT binary patch
literal 3
KcmZQzWC8#H2LJ>B

literal 0
HcmV?d00001

diff --git a/empty.py b/empty.py
new file mode 100644
index 0000000..e69de29
diff --git a/run.sh b/scripts_run.sh
similarity index 100%
rename from run.sh
rename to scripts_run.sh
--
2.39.5

""".replace("\n--\n2.39", "\n-- \n2.39")

# `diff -ruN old new` (GNU diffutils): no git header, timestamps after a tab, and -N shows the
# missing side of a new file as an empty file rather than /dev/null.
PLAIN_DIFF = """diff -ruN old/added.txt new/added.txt
--- old/added.txt\t1970-01-01 00:00:00.000000000 +0000
+++ new/added.txt\t2026-11-29 01:12:53.497154012 +0000
@@ -0,0 +1 @@
+n
diff -ruN old/f.txt new/f.txt
--- old/f.txt\t2026-11-29 01:12:53.497154012 +0000
+++ new/f.txt\t2026-11-29 01:12:53.497154012 +0000
@@ -1,3 +1,3 @@
 a
-b
+B
 c
"""

APP_PATCH = parse_unified_diff(GIT_DIFF)[6].patch


def by_path(files: list[FileChange]) -> dict[str, FileChange]:
    return {f.path: f for f in files}


def make_patch(hunks: list[list[str]], start: int = 1) -> str:
    """A valid patch from hunks given as body lines (' x', '+x', '-x'); headers are computed."""
    out: list[str] = []
    old_line = new_line = start
    for body in hunks:
        old_len = sum(1 for line in body if line[0] in " -")
        new_len = sum(1 for line in body if line[0] in " +")
        out.append(f"@@ -{old_line},{old_len} +{new_line},{new_len} @@")
        out.extend(body)
        old_line += old_len + 10
        new_line += new_len + 10
    return "\n".join(out)


def change(path: str, hunks: list[list[str]], status: str = "modified", **kw: object) -> FileChange:
    patch = make_patch(hunks)
    adds = sum(1 for h in hunks for line in h if line.startswith("+"))
    dels = sum(1 for h in hunks for line in h if line.startswith("-"))
    return FileChange(path, status, adds, dels, patch, **kw)  # type: ignore[arg-type]


def added_file(path: str, n_lines: int, width: int = 30) -> FileChange:
    return change(path, [[f"+{'x' * width} {i}" for i in range(n_lines)]], status="added")


# ---------------------------------------------------------------------------
# parse_unified_diff


def test_parse_real_git_diff_every_kind_of_file() -> None:
    files = parse_unified_diff(GIT_DIFF)
    assert [f.path for f in files] == [
        "café.md", "gone.txt", "logo.png", "my file.txt", "noeol.txt", "run.sh",
        "src/app.py", "src/auth/new.py", "src/new_name.py",
    ]
    f = by_path(files)
    assert f["café.md"].patch == "@@ -1 +1 @@\n-bonjour\n+bonjour!"
    assert (f["gone.txt"].status, f["gone.txt"].additions, f["gone.txt"].deletions) == ("removed", 0, 3)
    assert f["logo.png"].status == "modified" and f["logo.png"].patch is None
    assert f["my file.txt"].patch == "@@ -1 +1 @@\n-hello\n+hello world"
    assert f["noeol.txt"].patch.count("\\ No newline at end of file") == 2
    assert (f["noeol.txt"].additions, f["noeol.txt"].deletions) == (1, 1)
    assert f["run.sh"] == FileChange("run.sh", "modified", 0, 0, "")  # mode change only
    assert (f["src/app.py"].additions, f["src/app.py"].deletions) == (3, 3)
    assert f["src/app.py"].patch.count("\n@@ ") == 1 and f["src/app.py"].patch.startswith("@@ -1,8 +1,9 @@")
    new = f["src/auth/new.py"]
    assert (new.status, new.additions, new.deletions, new.previous_path) == ("added", 3, 0, None)
    renamed = f["src/new_name.py"]
    assert (renamed.status, renamed.previous_path, renamed.additions, renamed.deletions) == (
        "renamed", "src/old_name.py", 1, 1)
    # GitHub's shape: hunks only, no trailing newline.
    for fc in files:
        if fc.patch:
            assert fc.patch.startswith("@@") and not fc.patch.endswith("\n")


def test_parse_format_patch_binary_literal_empty_file_and_pure_rename() -> None:
    files = parse_unified_diff(FORMAT_PATCH)
    assert files == [
        FileChange("data.bin", "added", 0, 0, None),
        FileChange("empty.py", "added", 0, 0, ""),
        FileChange("scripts_run.sh", "renamed", 0, 0, "", previous_path="run.sh"),
    ]


def test_parse_plain_gnu_diff() -> None:
    files = parse_unified_diff(PLAIN_DIFF)
    assert files == [
        FileChange("added.txt", "added", 1, 0, "@@ -0,0 +1 @@\n+n"),
        FileChange("f.txt", "modified", 1, 1, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c"),
    ]


def test_parse_keeps_crlf_content_and_accepts_crlf_headers() -> None:
    text = "diff --git a/w.bat b/w.bat\r\n--- a/w.bat\r\n+++ b/w.bat\r\n@@ -1 +1 @@\r\n-echo a\r\n+echo b\r\n"
    (f,) = parse_unified_diff(text)
    assert (f.path, f.additions, f.deletions) == ("w.bat", 1, 1)
    assert f.patch == "@@ -1 +1 @@\r\n-echo a\r\n+echo b\r"


def test_parse_empty_input_is_no_files() -> None:
    assert parse_unified_diff("") == []
    assert parse_unified_diff("\n\n") == []


def test_render_then_parse_round_trips() -> None:
    files = parse_unified_diff(GIT_DIFF) + parse_unified_diff(FORMAT_PATCH)
    copied = FileChange("b.py", "added", 1, 0, "@@ -1 +1,2 @@\n x\n+y", previous_path="a.py")
    tab = FileChange('we"ird\tname.py', "modified", 1, 0, "@@ -0,0 +1 @@\n+q")
    assert parse_unified_diff(render_diff([*files, copied, tab])) == [*files, copied, tab]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @\n-a\n+b\n", 4, "malformed hunk header"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n", 4,
         "declares 3 old and 3 new lines but the diff ends after 2 old and 1 new"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n*b\n", 6, "line starting with '*'"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n", 7, "outside any hunk"),
        ("diff --git a/x b/x\n--- a/x\n@@ -1 +1 @@\n-a\n+b\n", 2, "'---' line not followed by a '+++'"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\ndiff --git a/y b/y\n", 3, "'+++' line not followed by a hunk"),
        ("diff --git a/x b/x\nsomething odd\n", 2, "unexpected line in the header of the diff that starts "
                                                   "at line 1"),
        ("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n", 2, "hunk without '---'/'+++' lines"),
        ("diff --cc a.py\n", 1, "combined (merge) diffs are not supported"),
        ('diff --git "a/x b/x\n', 1, "quoted path has no closing quote"),
        ("just some text\nthat is not a diff\n", 1, "no file header found"),
        ("\x1b[1mdiff --git a/x b/x\x1b[m\n", 1, "looks coloured"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\nhello\n", 7, "unexpected text outside a hunk"),
    ],
)
def test_parse_errors_name_the_line(text: str, line: int, what: str) -> None:
    with pytest.raises(DiffError) as info:
        parse_unified_diff(text)
    message = str(info.value)
    assert message.startswith(f"diff line {line}: ")
    assert what in message
    assert "\n" not in message


def test_diff_error_is_a_value_error_and_hides_hunk_content() -> None:
    secret = "sk-ant-" + "9" * 20
    with pytest.raises(ValueError) as info:
        parse_unified_diff(f"diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-A=1\n+K={secret}\nX\n")
    assert secret not in str(info.value)


# ---------------------------------------------------------------------------
# FileChange


def test_file_change_validation() -> None:
    with pytest.raises(DiffError, match="unknown status 'deleted'"):
        FileChange("a.py", "deleted")
    with pytest.raises(DiffError, match="additions must be a non-negative integer"):
        FileChange("a.py", "modified", additions=-1)
    with pytest.raises(DiffError, match="needs previous_path"):
        FileChange("a.py", "renamed")
    with pytest.raises(DiffError, match="empty"):
        FileChange("", "added")


def test_from_github_maps_statuses() -> None:
    gh = FileChange.from_github(
        {"filename": "b.py", "status": "copied", "additions": 2, "deletions": 0, "patch": "@@ -0,0 +1,2 @@\n+a\n+b",
         "previous_filename": "a.py"}
    )
    assert gh == FileChange("b.py", "added", 2, 0, "@@ -0,0 +1,2 @@\n+a\n+b", previous_path="a.py")
    big = FileChange.from_github({"filename": "big.sql", "status": "modified", "additions": 9000, "deletions": 1})
    assert big.patch is None
    assert FileChange.from_github({"filename": "s.sh", "status": "changed"}).status == "modified"
    with pytest.raises(DiffError, match="unknown status 'weird'"):
        FileChange.from_github({"filename": "x", "status": "weird"})


# ---------------------------------------------------------------------------
# Globs and policy


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("package-lock.json", "package-lock.json", True),
        ("web/app/package-lock.json", "package-lock.json", True),  # no slash: any depth
        ("vendor/a/b.go", "vendor/**", True),
        ("src/vendor/a.go", "vendor/**", False),  # a slash anchors at the root
        ("src/vendor/a.go", "**/vendor/**", True),
        ("vendor.go", "**/vendor/**", False),
        ("a/b/c/d.py", "a/**/d.py", True),
        ("a/d.py", "a/**/d.py", True),  # ** is zero or more directories
        ("src/x.py", "*.py", True),
        ("src/x.py", "src/*.py", True),
        ("src/sub/x.py", "src/*.py", False),  # * stays within a segment
        ("docs/x.md", "docs/", True),  # trailing slash: everything below
        ("src/author.py", "**/auth/**", False),
        ("src/author.py", "auth.*", False),  # no substring matching
        ("f1.txt", "f[0-9].txt", True),
        ("fa.txt", "f[!0-9].txt", True),
        ("f1.txt", "f[!0-9].txt", False),
        ("a.txt", "?.txt", True),
        ("ab.txt", "?.txt", False),
        ("x[1.txt", "x[1.txt", True),  # an unclosed bracket is literal
        ("/abs.py", "/abs.py", False),
        ("abs.py", "/abs.py", True),
    ],
)
def test_glob_semantics(path: str, pattern: str, expected: bool) -> None:
    assert path_matches(path, [pattern]) is expected


def test_glob_rejects_empty_pattern() -> None:
    with pytest.raises(DiffError, match="empty glob"):
        glob_regex("")


@pytest.mark.parametrize(
    "path",
    ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Pipfile.lock", "uv.lock", "Cargo.lock",
     "go.sum", "composer.lock", "Gemfile.lock", "services/api/poetry.lock"],
)
def test_lock_files_are_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) == REASON_LOCK


@pytest.mark.parametrize(
    "path",
    ["vendor/github.com/x/y.go", "web/node_modules/left-pad/index.js", "dist/app.js", "packages/ui/dist/i.js",
     "build/out.js", "static/app.min.js", "static/site.min.css", "proto/api_pb2.py", "api/v1/api.pb.go",
     "src/schema.generated.ts", "src/__snapshots__/App.test.tsx.snap"],
)
def test_generated_and_vendored_files_are_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) == REASON_GENERATED


@pytest.mark.parametrize("path", ["src/builder.py", "src/build/steps.py", "lib/distance.js", "api/pb.go"])
def test_ordinary_source_is_not_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) is None


def test_binary_rules() -> None:
    policy = DiffPolicy()
    assert policy.exclusion_reason(FileChange("img/logo.png", "modified", 0, 0, None)) == REASON_BINARY
    assert policy.exclusion_reason(FileChange("data/blob", "added", 0, 0, None)) == REASON_BINARY
    # a binary extension is left out even if something produced a text patch for it
    assert policy.exclusion_reason(added_file("assets/Font.WOFF2", 2)) == REASON_BINARY
    # GitHub omits the patch of a text file too large to show: not a binary, still not sendable
    assert policy.exclusion_reason(FileChange("db/dump.sql", "modified", 9000, 10, None)) == REASON_NO_PATCH
    # a pure rename has no patch and needs none
    assert policy.exclusion_reason(FileChange("b.py", "renamed", 0, 0, None, previous_path="a.py")) is None


def test_size_cap_counts_utf8_bytes() -> None:
    policy = DiffPolicy(max_file_bytes=100)
    ascii_ok = FileChange("a.py", "added", 1, 0, "@@ -0,0 +1 @@\n+" + "a" * 60)
    wide = FileChange("b.py", "added", 1, 0, "@@ -0,0 +1 @@\n+" + "é" * 60)  # 60 chars, 120 bytes
    assert policy.exclusion_reason(ascii_ok) is None
    assert policy.exclusion_reason(wide) == REASON_SIZE
    assert DiffPolicy(max_file_bytes=None).exclusion_reason(wide) is None


def test_user_exclude_and_include_wins() -> None:
    policy = DiffPolicy(exclude=["migrations/**", "*.sql"], include=["migrations/important/**", "yarn.lock"])
    assert policy.exclusion_reason(added_file("migrations/0001_init.py", 2)) == REASON_EXCLUDED
    assert policy.exclusion_reason(added_file("db/seed.sql", 2)) == REASON_EXCLUDED
    assert policy.exclusion_reason(added_file("migrations/important/0002.py", 2)) is None
    assert policy.exclusion_reason(added_file("yarn.lock", 2)) is None  # include beats the lock rule
    # include cannot create a patch for a binary, and does not lift the size cap
    only_images = DiffPolicy(include=["*.png"], max_file_bytes=50)
    assert only_images.exclusion_reason(FileChange("a.png", "added", 0, 0, None)) == REASON_BINARY
    big = DiffPolicy(include=["big.py"], max_file_bytes=50)
    assert big.exclusion_reason(added_file("big.py", 10)) == REASON_SIZE


def test_policy_validation() -> None:
    assert DiffPolicy(exclude=["a", "b"]).exclude == ("a", "b")
    with pytest.raises(DiffError, match=r"DiffPolicy\.exclude must be a list of strings"):
        DiffPolicy(exclude="*.lock")  # type: ignore[arg-type]
    with pytest.raises(DiffError, match=r"DiffPolicy\.include: empty"):
        DiffPolicy(include=[""])
    with pytest.raises(DiffError, match="max_file_bytes"):
        DiffPolicy(max_file_bytes=0)


@pytest.mark.parametrize(
    ("path", "previous", "expected"),
    [
        ("src/auth/login.py", None, True),
        ("services/api/security/csrf.py", None, True),
        ("deploy/server.pem", None, True),
        ("Dockerfile", None, True),
        ("docker/Dockerfile.prod", None, True),
        (".github/workflows/release.yml", None, True),
        ("src/users/profile.py", "src/auth/profile.py", True),  # moved out of auth/
        ("src/author.py", None, False),
        ("docs/designated.md", None, False),
        ("src/authority/list.py", None, False),
    ],
)
def test_security_paths(path: str, previous: str | None, expected: bool) -> None:
    status = "renamed" if previous else "modified"
    fc = FileChange(path, status, 1, 0, "@@ -1 +1,2 @@\n x\n+y", previous_path=previous)
    assert DiffPolicy().is_security(fc) is expected


# ---------------------------------------------------------------------------
# added_lines / right_side_lines


def test_added_lines_multi_hunk_numbering() -> None:
    assert added_lines(APP_PATCH) == {3, 6, 37}
    assert right_side_lines(APP_PATCH) == set(range(1, 10)) | set(range(28, 41))


def test_added_lines_ignores_no_newline_markers_and_handles_empty() -> None:
    noeol = by_path(parse_unified_diff(GIT_DIFF))["noeol.txt"].patch
    assert added_lines(noeol) == {2}
    assert right_side_lines(noeol) == {1, 2}
    assert added_lines(None) == set() and added_lines("") == set()
    assert added_lines("@@ -0,0 +1,3 @@\n+a\n+\n+c") == {1, 2, 3}


def test_added_lines_rejects_malformed_patch() -> None:
    with pytest.raises(DiffError, match="patch hunk 2: malformed hunk header"):
        added_lines("@@ -1 +1 @@\n-a\n+b\n@@ nonsense")


# ---------------------------------------------------------------------------
# clip_diff


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


# --- the PR's own part of an incremental compare (after a merge of the base branch) -------------

from acme_ci_budget.diffs.scope import restrict_to_pull  # noqa: E402


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
