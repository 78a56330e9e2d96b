"""Pull request file entries and the lines a review comment may target in their patches.

Owns: ``pr_file`` (a PR/compare file entry, additions/deletions counted from the patch) and
``_diff_targets`` (commentable lines per side, and diff positions). Must not: know about the server.
"""

from __future__ import annotations

import re
from typing import Any


def pr_file(
    filename: str,
    patch: str | None = None,
    *,
    status: str = "modified",
    additions: int | None = None,
    deletions: int | None = None,
    previous_filename: str | None = None,
) -> dict[str, Any]:
    """A PR/compare file entry; additions and deletions are counted from the patch unless given.
    patch=None means GitHub sent no patch (binary, or too large)."""
    lines = (patch or "").splitlines()
    if additions is None:
        additions = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    if deletions is None:
        deletions = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    entry: dict[str, Any] = {
        "filename": filename,
        "status": status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
    }
    if patch is not None:
        entry["patch"] = patch
    if previous_filename is not None:
        entry["previous_filename"] = previous_filename
    return entry


def _diff_targets(patch: str | None) -> tuple[set[int], set[int], int]:
    """Lines commentable on the RIGHT and LEFT sides of a patch, and its number of diff positions."""
    right: set[int] = set()
    left: set[int] = set()
    if not patch:
        return right, left, 0
    lines = patch.splitlines()
    old = new = 0
    for line in lines:
        hunk = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
        elif line.startswith("+"):
            right.add(new)
            new += 1
        elif line.startswith("-"):
            left.add(old)
            old += 1
        elif line.startswith("\\"):
            continue
        else:
            right.add(new)
            left.add(old)
            old += 1
            new += 1
    # Position 1 is the line below the first @@; later @@ lines count as positions too.
    return right, left, max(0, len(lines) - 1)
