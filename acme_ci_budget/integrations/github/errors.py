"""GitHub API failures: ``GitHubError`` and the one translation of a PyGithub exception into it.

Owns the one-line message (the call, the status, GitHub's own message and first error detail) and
``call``, which runs one PyGithub call under that translation. It must never put a header or a token
in a message. PyGithub is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acme_ci_budget.core.errors import AcmeError


class GitHubError(AcmeError, RuntimeError):
    """A GitHub API call failed; the message names the call, the status and GitHub's own message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def describe(exc: BaseException, what: str) -> GitHubError:
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    message = data.get("message") if isinstance(data, Mapping) else None
    errors = data.get("errors") if isinstance(data, Mapping) else None
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, Mapping):  # {"field": "pull_request_review_thread.line", "message": "could not be ..."}
            detail = " ".join(str(p) for p in (first.get("field"), first.get("message") or first.get("code")) if p)
        else:
            detail = first
        if isinstance(detail, str) and detail:
            message = f"{message}: {detail}" if message else detail
    detail = f"{status} {message or ''}".strip() if status is not None else type(exc).__name__
    return GitHubError(f"GitHub API: {what} failed ({detail})", status if isinstance(status, int) else None)


def call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, a ``GithubException`` becoming a ``GitHubError`` naming ``what``."""
    from github import GithubException

    try:
        return fn(*args, **kwargs)
    except GithubException as exc:
        raise describe(exc, what) from None
