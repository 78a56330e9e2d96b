"""Hunks of a patch: splitting one into hunks, and the new-file lines an inline comment may target.

Owns the hunk header pattern and reading new-side line numbers (added lines, and added plus context
lines: what GitHub accepts on side RIGHT). It must not parse whole diffs (``parse`` does) nor call GitHub.
"""

from __future__ import annotations

import re

from acme_ci_budget.diffs.change import DiffError
from acme_ci_budget.diffs.render import strip_final_newline

HUNK_RE = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)\Z", re.DOTALL)


def split_hunks(patch: str) -> list[list[str]]:
    """Hunks as lists of lines (header first). A line starting with "@@" is always a header:
    hunk body lines start with ' ', '+', '-' or '\\'. Anything before the first header is kept
    as a chunk of its own so that nothing is silently lost."""
    hunks: list[list[str]] = []
    for line in strip_final_newline(patch).split("\n"):
        if line.startswith("@@") or not hunks:
            hunks.append([line])
        else:
            hunks[-1].append(line)
    return hunks


def has_addition(hunk: list[str]) -> bool:
    return any(line.startswith("+") for line in hunk[1:])


def _new_side_lines(patch: str | None, with_context: bool) -> set[int]:
    if not patch:
        return set()
    found: set[int] = set()
    for n, hunk in enumerate(split_hunks(patch), 1):
        m = HUNK_RE.match(hunk[0].rstrip("\r"))
        if m is None:
            raise DiffError(f"patch hunk {n}: malformed hunk header {hunk[0][:60]!r}")
        line_no = int(m.group(3))
        for line in hunk[1:]:
            c = line[:1]
            if c == "+":
                found.add(line_no)
                line_no += 1
            elif c == " " or line in ("", "\r"):
                if with_context:
                    found.add(line_no)
                line_no += 1
            elif c not in ("-", "\\"):
                raise DiffError(f"patch hunk {n}: line starting with {c!r} is not a diff line")
    return found


def added_lines(patch: str | None) -> set[int]:
    """New-file line numbers of the added ('+') lines: where an inline review comment about the
    change belongs (side RIGHT)."""
    return _new_side_lines(patch, with_context=False)


def right_side_lines(patch: str | None) -> set[int]:
    """Every new-file line number the diff shows (added and context lines): all the lines GitHub
    accepts for a comment on side RIGHT."""
    return _new_side_lines(patch, with_context=True)

