"""Tests for acme_ci_budget.diffs.parse (and render, read back): real git, format-patch and GNU diff output, errors."""

from __future__ import annotations

import pytest

from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.parse import parse_unified_diff
from acme_ci_budget.diffs.render import render_diff
from tests.diffs.samples import FORMAT_PATCH, GIT_DIFF, PLAIN_DIFF, by_path


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

