"""Tests for acme_ci_budget.diffs.change: FileChange checks and GitHub status mapping."""

from __future__ import annotations

import pytest

from acme_ci_budget.diffs.change import DiffError, FileChange


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

