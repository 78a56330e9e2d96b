"""The Actions event: the ``pull_request`` payload a workflow run was started by, read without an API call.

Owns reading ``$GITHUB_EVENT_PATH`` (bounded, one-line errors) and what the event says about the PR
(repository, number, draft, labels, fork, head), enough to skip a run before any API call. It must not
call GitHub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.files import MAX_EVENT_BYTES, read_bounded


@dataclass(frozen=True)
class EventPullRequest:
    """What the ``pull_request`` event says about the PR (enough to skip without an API call)."""

    repo: str
    number: int
    draft: bool
    labels: tuple[str, ...]
    is_fork: bool
    head_sha: str
    event_name: str = ""


def read_event(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The Actions event payload, or None outside Actions."""
    env = os.environ if env is None else env
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None

    text = read_bounded(path, MAX_EVENT_BYTES, f"GITHUB_EVENT_PATH {path}", kind="event file")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"GITHUB_EVENT_PATH {path}: cannot read the event ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise UsageError(f"GITHUB_EVENT_PATH {path}: the event is not a JSON object")
    return data


def pull_request_from_event(event: Mapping[str, Any], env: Mapping[str, str] | None = None) -> EventPullRequest | None:
    """The PR of a ``pull_request``-style event; None for other events (push, dispatch)."""
    env = os.environ if env is None else env
    pr = event.get("pull_request")
    if not isinstance(pr, Mapping):
        return None
    base_repo = ((pr.get("base") or {}).get("repo") or {}).get("full_name")
    repo = env.get("GITHUB_REPOSITORY") or base_repo or ((event.get("repository") or {}).get("full_name"))
    number = pr.get("number") or event.get("number")
    if not repo or not isinstance(number, int):
        raise UsageError("the pull_request event has no repository or number")
    head = pr.get("head") or {}
    head_repo = (head.get("repo") or {}).get("full_name") if isinstance(head.get("repo"), Mapping) else None
    # A deleted fork shows as head.repo = null: still a fork, still without secrets.
    is_fork = head_repo is None or head_repo != (base_repo or repo)
    labels = tuple(str(label.get("name")) for label in pr.get("labels") or () if isinstance(label, Mapping))
    return EventPullRequest(
        repo=str(repo),
        number=number,
        draft=bool(pr.get("draft")),
        labels=labels,
        is_fork=is_fork,
        head_sha=str(head.get("sha") or ""),
        event_name=env.get("GITHUB_EVENT_NAME", ""),
    )
