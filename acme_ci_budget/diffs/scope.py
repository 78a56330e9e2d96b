"""The pull request's own part of an incremental compare (after the author merged the base branch in).

Owns one pure transformation: given the files of ``compare/{reviewed head}...{head}`` and the
PR's own file list (``pulls/N/files``, a three-dot diff against the merge base), keep only what
the pull request itself changes. Once the author merges the base branch into the PR branch, the
compare from the last reviewed head also lists the base branch's changes: reviewing them costs
money, says nothing about the PR, and inline comments on them are refused with 422 ("line must
be part of the diff").

Both diffs end at the same head, so their new-side line numbers agree. A compare file the PR's
list does not name is dropped. In the others a compare line is kept when the PR's diff has it
too: an added line by its new-side number, a removed line by its position and text; a line of
the base branch's is cut out and its hunk split there, every piece with a header whose numbers
stay true (so inline comments still land). A file left with no change is dropped.

It must not call GitHub, read configuration or estimate tokens (``diffs.clip`` and ``integrations.github`` do).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.hunks import HUNK_RE, split_hunks


def restrict_to_pull(since: Iterable[FileChange], pull: Iterable[FileChange]) -> tuple[FileChange, ...]:
    """The compare files ``since`` cut down to the changes the PR's own diff (``pull``) also shows.

    A file without a patch on either side (binary, or too large for GitHub to show) is kept as the
    compare lists it when the PR lists it: which of its lines are the PR's cannot be told.
    """
    own = {f.path: f for f in pull}
    out = []
    for change in since:
        mine = own.get(change.path)
        if mine is None:
            continue  # only the base branch touched it
        if change.patch is None or mine.patch is None:
            out.append(change)
            continue
        kept = _restrict_patch(change.patch, mine.patch)
        if kept is None:
            continue  # every change in it came from the base branch
        patch, additions, deletions = kept
        if (additions, deletions) == _counts(change.patch) and change.status == mine.status:
            out.append(change)  # all of it is the PR's: keep GitHub's text as it came
            continue
        status, previous = change.status, change.previous_path
        if status == "added" and mine.status != "added":
            # New since the reviewed head only because the merge brought it in: the PR's base has it.
            status, previous = mine.status, mine.previous_path
        out.append(replace(change, status=status, previous_path=previous, patch=patch,
                           additions=additions, deletions=deletions))
    return tuple(out)


def _counts(patch: str) -> tuple[int, int]:
    lines = patch.split("\n")
    return sum(1 for line in lines if line[:1] == "+"), sum(1 for line in lines if line[:1] == "-")


def _pull_marks(patch: str) -> tuple[set[int], set[tuple[int, str]]]:
    """The PR diff's added new-side line numbers, and its removed lines as (new-side position, text)."""
    added: set[int] = set()
    removed: set[tuple[int, str]] = set()
    for n, hunk in enumerate(split_hunks(patch), 1):
        m = HUNK_RE.match(hunk[0].rstrip("\r"))
        if m is None:
            raise DiffError(f"patch hunk {n}: malformed hunk header {hunk[0][:60]!r}")
        new = int(m.group(3)) if m.group(4) != "0" else int(m.group(3)) + 1
        for line in hunk[1:]:
            c = line[:1]
            if c == "+":
                added.add(new)
                new += 1
            elif c == "-":
                removed.add((new, line[1:]))
            elif c != "\\":
                new += 1
    return added, removed


def _restrict_patch(patch: str, pull_patch: str) -> tuple[str, int, int] | None:
    """``patch`` with the lines ``pull_patch`` does not change cut out; (patch, additions, deletions) or None."""
    added, removed = _pull_marks(pull_patch)
    pieces: list[list[str]] = []
    additions = deletions = 0
    for n, hunk in enumerate(split_hunks(patch), 1):
        m = HUNK_RE.match(hunk[0].rstrip("\r"))
        if m is None:
            raise DiffError(f"patch hunk {n}: malformed hunk header {hunk[0][:60]!r}")
        old = int(m.group(1)) if m.group(2) != "0" else int(m.group(1)) + 1
        new = int(m.group(3)) if m.group(4) != "0" else int(m.group(3)) + 1
        section = m.group(5)
        piece: list[str] = []
        start = (old, new)
        for line in hunk[1:]:
            c = line[:1]
            if c == "+":
                ours = new in added
            elif c == "-":
                ours = (new, line[1:]) in removed
            else:
                ours = c != "\\" or bool(piece)  # context; a "\ No newline" note only after a kept line
            if not ours:
                _close(pieces, start, piece, section)
                piece = []
                if c == "-":
                    old += 1
                elif c == "+":
                    new += 1
                continue
            if not piece:
                start = (old, new)
            piece.append(line)
            if c == "+":
                new += 1
                additions += 1
            elif c == "-":
                old += 1
                deletions += 1
            elif c != "\\":
                old += 1
                new += 1
        _close(pieces, start, piece, section)
    if not pieces:
        return None
    return "\n".join("\n".join(p) for p in pieces), additions, deletions


def _close(pieces: list[list[str]], start: tuple[int, int], piece: list[str], section: str) -> None:
    """Keep ``piece`` as a hunk of its own if it changes anything (context alone says nothing)."""
    if any(line[:1] in ("+", "-") for line in piece):
        pieces.append([_header(start, piece, section), *piece])


def _header(start: tuple[int, int], lines: list[str], section: str) -> str:
    old_len = sum(1 for line in lines if line[:1] in (" ", "-") or line in ("", "\r"))
    new_len = sum(1 for line in lines if line[:1] in (" ", "+") or line in ("", "\r"))
    # A side with no lines names the line before the change, as diff does ("-0,0" for a new file).
    old_start = start[0] if old_len else start[0] - 1
    new_start = start[1] if new_len else start[1] - 1
    return f"@@ -{old_start},{old_len} +{new_start},{new_len} @@{section}"


__all__ = ["restrict_to_pull"]
