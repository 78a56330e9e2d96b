"""The changed-file model: ``FileChange`` (one file of a pull request or a local diff) and ``DiffError``.

Owns what a changed file is (path, status, counts, patch hunks, previous path), its checks, and the
mapping from GitHub's "list pull request files" entries. It must not parse, render, filter or clip
(``parse``, ``render``, ``policy``, ``clip`` do), and it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUSES = ("added", "modified", "removed", "renamed")


class DiffError(ValueError):
    """Bad diff input or diff policy. The message is one line naming what is wrong and where."""



@dataclass(frozen=True)
class FileChange:
    """One changed file. ``patch`` holds hunks only (from the first ``@@``), as GitHub sends it;
    None means no text diff (binary, or too large for GitHub to show); "" means a change with no
    hunks (mode change, empty new file, pure rename)."""

    path: str
    status: str
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    previous_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise DiffError(f"file change has an empty or non-text path: {self.path!r}")
        if self.status not in STATUSES:
            raise DiffError(
                f"file {self.path!r}: unknown status {self.status!r} (expected one of {', '.join(STATUSES)})"
            )
        for name in ("additions", "deletions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DiffError(f"file {self.path!r}: {name} must be a non-negative integer, got {value!r}")
        if self.patch is not None and not isinstance(self.patch, str):
            kind = type(self.patch).__name__
            raise DiffError(f"file {self.path!r}: patch must be text or None, got {kind}")
        if self.status == "renamed" and not self.previous_path:
            raise DiffError(f"file {self.path!r}: status 'renamed' needs previous_path")

    @property
    def changes(self) -> int:
        return self.additions + self.deletions

    @classmethod
    def from_github(cls, data: Mapping[str, Any]) -> FileChange:
        """From one entry of GitHub's "list pull request files" response (a JSON object)."""
        status = str(data.get("status", ""))
        mapped = _GITHUB_STATUS.get(status)
        filename = data.get("filename")
        if mapped is None:
            raise DiffError(f"GitHub file {filename!r}: unknown status {status!r}")
        previous = data.get("previous_filename") if status in ("renamed", "copied") else None
        patch = data.get("patch")
        return cls(
            path=str(filename or ""),
            status=mapped,
            additions=int(data.get("additions") or 0),
            deletions=int(data.get("deletions") or 0),
            patch=None if patch is None else str(patch),
            previous_path=None if previous is None else str(previous),
        )


# A copy is a new file that happens to start from another; "changed" is a mode-only change.
_GITHUB_STATUS = {
    "added": "added", "removed": "removed", "modified": "modified", "renamed": "renamed",
    "copied": "added", "changed": "modified", "unchanged": "modified",
}

