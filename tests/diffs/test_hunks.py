"""Tests for acme_ci_budget.diffs.hunks: the new-file lines an inline comment may target."""

from __future__ import annotations

import pytest

from acme_ci_budget.diffs.change import DiffError
from acme_ci_budget.diffs.hunks import added_lines, right_side_lines
from acme_ci_budget.diffs.parse import parse_unified_diff
from tests.diffs.samples import APP_PATCH, GIT_DIFF, by_path


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

