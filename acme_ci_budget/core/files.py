"""Reading the files a user names (diff, ticket, config, event payload), bounded before any check.

Owns the one way an input file is read: at most ``limit + 1`` bytes leave the file, so a
``/dev/zero`` or a multi-gigabyte file costs one bounded read and a one-line error naming the
limit and the file, never the machine's memory. It must not parse what it reads, and it must
not stat-and-trust: a FIFO or a device reports no useful size, so the read itself is the bound.
"""

from __future__ import annotations

import os

from acme_ci_budget.core.errors import UsageError

# Each limit is far above a real input of its kind and far below what would hurt a runner.
MAX_CONFIG_BYTES = 1024 * 1024  # a budget config is a few KB
MAX_DIFF_BYTES = 20 * 1024 * 1024  # a review sends at most per_task_tokens of it anyway
MAX_TICKET_BYTES = 1024 * 1024  # ~250k tokens: above every QA per-task limit
MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


def read_bounded(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    *,
    kind: str = "file",
    error: type[Exception] = UsageError,
) -> str:
    """The UTF-8 text of ``path``, reading at most ``limit + 1`` bytes.

    ``what`` starts every message (e.g. ``"--diff-file x.diff"``); ``kind`` names the file in
    it (``"file"``, ``"config file"``); ``error`` is the exception class raised, with one line.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{what}: {kind} not found") from None
    except OSError as exc:
        raise error(f"{what}: cannot read {kind} ({type(exc).__name__})") from None
    if len(data) > limit:
        raise error(f"{what}: {kind} is larger than the {limit:,}-byte limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what}: {kind} is not UTF-8 text (byte {exc.start:,})") from None
