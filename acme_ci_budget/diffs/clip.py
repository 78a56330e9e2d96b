"""Clipping a pull request's files to a token budget: the diff text the review model sees, and why
every file left out was left out.

Owns the clipping strategy (after pr-agent's compression), given a token budget:

1. Files the policy excludes are omitted (lock files, generated or vendored
   files, user ``exclude`` globs, binaries, patches over the size cap). A user
   ``include`` glob wins over every name-based rule; it cannot conjure a patch
   for a binary, and it does not lift the size cap.
2. If the rest does not fit: hunks with no added line are dropped, removed files
   are omitted, files left with no hunk are omitted (a rename keeps its header).
3. If it still does not fit: whole files are taken by priority (source and
   security-sensitive files, then tests, then docs/config; most changed first;
   then path) while they fit; the others are omitted. A file larger than the
   whole budget on its own is the one exception: its leading hunks are kept, as
   many as fit, followed by a ``\\ acme-ci-budget: N more hunks ...`` marker line.
   A hunk is never split, so line numbers in what is sent stay true.
4. The estimate of the final text never exceeds the budget; if the estimator is
   ever changed so that pieces cost less than their sum, the lowest-priority
   files are dropped until it fits.

The text lists the chosen files in input order; the choice itself does not
depend on input order.

It must not call GitHub or the model, read configuration files, or estimate tokens any other way than
``acme_ci_budget.core.tokens`` (the one shared estimator).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The module, not the function: one estimator, and a test that swaps it for a
# stranger one reaches the clipper too.
from acme_ci_budget.core import tokens as _tokens
from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.hunks import has_addition, split_hunks
from acme_ci_budget.diffs.policy import DiffPolicy
from acme_ci_budget.diffs.render import file_header, render_file

REASON_REMOVED = "file removed"
REASON_DELETION_ONLY = "deletion-only hunks dropped"
REASON_BUDGET = "did not fit token budget"


@dataclass(frozen=True)
class ClippedDiff:
    """What to send, and an account of what was not sent.

    ``omitted`` holds (path, reason) in input order; every input path is in exactly one of
    ``included`` and ``omitted``. ``trimmed`` lists included paths sent only in part (hunks
    dropped in step 2 or 3). ``changed_lines`` counts additions + deletions of the files that
    survived the policy filter (step 1): the size of the reviewable change, before the budget.
    ``touches_security`` looks at every input file, excluded ones too (a changed ``*.pem`` matters
    even though it is never sent).
    """

    text: str
    included: tuple[str, ...]
    omitted: tuple[tuple[str, str], ...]
    tokens: int
    touches_security: bool
    changed_lines: int
    trimmed: tuple[str, ...] = ()
    security_paths: tuple[str, ...] = ()



def _truncation_marker(dropped: int) -> str:
    plural = "hunk" if dropped == 1 else "hunks"
    return f"\\ acme-ci-budget: {dropped} more {plural} of this file omitted to fit the token budget\n"


def _truncate(change: FileChange, patch: str, budget: int) -> str | None:
    """The header and as many leading hunks as fit ``budget`` with the marker; None if none fit."""
    estimate = _tokens.estimate_tokens
    hunks = split_hunks(patch)
    header = file_header(change, True)
    used = estimate(header)
    kept: list[str] = []
    for hunk in hunks:
        text = "\n".join(hunk) + "\n"
        cost = estimate(text)
        left_after = len(hunks) - len(kept) - 1
        marker_cost = estimate(_truncation_marker(left_after)) if left_after else 0
        if used + cost + marker_cost > budget:
            break
        kept.append(text)
        used += cost
    if not kept:
        return None
    dropped = len(hunks) - len(kept)
    return header + "".join(kept) + (_truncation_marker(dropped) if dropped else "")


def clip_diff(files: Iterable[FileChange], max_tokens: int, policy: DiffPolicy | None = None) -> ClippedDiff:
    """Fit a PR's files into ``max_tokens`` (see the module docstring for the strategy)."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise DiffError(f"max_tokens must be a non-negative integer, got {max_tokens!r}")
    policy = policy or DiffPolicy()
    estimate = _tokens.estimate_tokens
    changes = list(files)
    seen: set[str] = set()
    for change in changes:
        if not isinstance(change, FileChange):
            raise DiffError(f"clip_diff takes FileChange items, got {type(change).__name__}")
        if change.path in seen:
            raise DiffError(f"duplicate path {change.path!r} in the file list")
        seen.add(change.path)

    security_paths = tuple(c.path for c in changes if policy.is_security(c))
    omitted: dict[int, str] = {}
    patches: dict[int, str] = {}
    for idx, change in enumerate(changes):
        reason = policy.exclusion_reason(change)
        if reason is not None:
            omitted[idx] = reason
        else:
            patches[idx] = change.patch or ""
    changed_lines = sum(changes[i].changes for i in patches)
    blocks = {i: render_file(changes[i], patches[i]) for i in patches}
    cost = {i: estimate(blocks[i]) for i in blocks}
    trimmed: set[int] = set()

    def total() -> int:
        return sum(cost[i] for i in blocks)

    # Step 2: deletions are the cheapest thing to give up; the reviewer mostly needs new code.
    if total() > max_tokens:
        for i in list(blocks):
            change = changes[i]
            if change.status == "removed":
                omitted[i] = REASON_REMOVED
                del blocks[i]
                continue
            if not patches[i]:
                continue
            hunks = split_hunks(patches[i])
            kept = [h for h in hunks if has_addition(h)]
            if len(kept) == len(hunks):
                continue
            if not kept and change.status != "renamed":
                omitted[i] = REASON_DELETION_ONLY
                del blocks[i]
                continue
            patches[i] = "\n".join("\n".join(h) for h in kept)
            blocks[i] = render_file(change, patches[i]) if kept else file_header(change, False)
            cost[i] = estimate(blocks[i])
            trimmed.add(i)

    def priority(i: int) -> tuple[int, int, str]:
        return (policy.priority_class(changes[i]), -changes[i].changes, changes[i].path)

    order = sorted(blocks, key=priority)

    # Step 3: whole files by priority while they fit.
    if total() > max_tokens:
        remaining = max_tokens
        for i in order:
            if cost[i] <= remaining:
                remaining -= cost[i]
                continue
            too_big = cost[i] > max_tokens and bool(patches[i])
            block = _truncate(changes[i], patches[i], remaining) if too_big else None
            if block is not None:
                blocks[i] = block
                cost[i] = estimate(block)
                remaining -= cost[i]
                trimmed.add(i)
                continue
            omitted[i] = REASON_BUDGET
            del blocks[i]
        order = [i for i in order if i in blocks]

    # Step 4: the sum of the pieces bounds the whole for a sub-additive estimator (ours is);
    # this only trims if that ever stops being true.
    chosen = sorted(blocks)
    text = "".join(blocks[i] for i in chosen)
    tokens = estimate(text)
    while tokens > max_tokens and order:
        drop = order.pop()
        omitted[drop] = REASON_BUDGET
        del blocks[drop]
        chosen = sorted(blocks)
        text = "".join(blocks[i] for i in chosen)
        tokens = estimate(text)

    return ClippedDiff(
        text=text,
        included=tuple(changes[i].path for i in chosen),
        omitted=tuple((changes[i].path, omitted[i]) for i in sorted(omitted)),
        tokens=tokens,
        touches_security=bool(security_paths),
        changed_lines=changed_lines,
        trimmed=tuple(changes[i].path for i in chosen if i in trimmed),
        security_paths=security_paths,
    )
