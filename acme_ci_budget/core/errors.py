"""The root of user-facing errors: the CLI prints them as one line and exits 2.

Every error a user can cause or fix (bad config, unknown model, Redis down,
bad input file, budget refused) subclasses ``AcmeError``, alongside the builtin
it semantically is (``ConfigError`` is also a ``ValueError``). Messages must
never carry a secret. This module imports nothing, so anything may import it.
"""

from __future__ import annotations


class AcmeError(Exception):
    """An error whose message is written for the user; no traceback needed."""


class UsageError(AcmeError, ValueError):
    """Bad command input that Click cannot see (a file's content, an event's shape)."""
