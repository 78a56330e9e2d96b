"""Which pull request a review run is about, whether to review it at all, and which part of it.

Owns finding the PR (``--repo``/``--pr``, or the Actions event), the skip policy (drafts, the skip
label, runs without secrets such as fork PRs: each a visible ``Stop`` with its skipped-reason, never a
silent success), and the scope (the whole PR, or only the commits since the head the sticky comment
recorded, for an incremental review). It must not read the budget config (``base_config`` does), call
the model, or post anything; its GitHub calls go through ``integrations.github``'s ``PullRequestAPI``.
"""

from __future__ import annotations

import os
from typing import Any

from acme_ci_budget.config import Config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.integrations.github import PullRequestAPI, connect, pull_request_from_event, read_event
from acme_ci_budget.runs.options import (
    NO_KEY_MESSAGE,
    SKIP_ALREADY,
    SKIP_DRAFT,
    SKIP_FORK,
    SKIP_LABEL,
    SKIP_NO_KEY,
    SKIP_NOT_PR,
    ReviewOptions,
    Stop,
)


def find_target(options: ReviewOptions) -> tuple[str, int, Any]:
    """(OWNER/NAME, number, the event's PR info or None): from ``--repo``/``--pr``, else the Actions event."""
    if options.repo or options.pr is not None:
        if not options.repo or options.pr is None:
            raise UsageError("--repo and --pr go together (or run inside a pull_request workflow)")
        if options.repo.count("/") != 1 or not all(options.repo.split("/")):
            raise UsageError(f"--repo {options.repo!r}: expected OWNER/NAME")
        return options.repo, options.pr, None
    event = read_event()
    if event is None:
        raise UsageError("no pull request: pass --repo OWNER/NAME --pr N, or --diff-file F, or run in Actions")
    info = pull_request_from_event(event)
    if info is None:
        name = os.environ.get("GITHUB_EVENT_NAME") or "this"
        raise Stop(SKIP_NOT_PR, f"the {name} event is not a pull request; nothing to review")
    return info.repo, info.number, info


def pull_request_api(gh: Any, options: ReviewOptions, repo: str, number: int) -> PullRequestAPI:
    """The PR's API: over ``gh`` when given (tests, a caller's client), else a new connection."""
    gh = gh if gh is not None else connect(options.github_token, options.api_url)
    return PullRequestAPI(gh, repo, number)


# --- the skip policy ----------------------------------------------------------------------------


def draft_stop(number: int) -> Stop:
    return Stop(SKIP_DRAFT, f"#{number} is a draft; it is reviewed once it is marked ready for review")


def no_secrets_stop(is_fork: bool) -> Stop:
    """No API key: a fork PR (GitHub gives it no secrets) is a notice, a missing secret a warning."""
    if is_fork:
        return Stop(
            SKIP_FORK,
            "pull request from a fork: GitHub gives its workflow runs no secrets (no ANTHROPIC_API_KEY), "
            "so the AI review is skipped; a maintainer can review it or re-run it from a branch",
            "notice",
        )
    return Stop(SKIP_NO_KEY, NO_KEY_MESSAGE, "warning")


def check_event(event: Any, number: int, has_key: bool) -> None:
    """Before any GitHub call: the event already says draft, or fork without secrets."""
    if event is None:
        return
    if event.draft:
        raise draft_stop(number)
    if event.is_fork and not has_key:
        raise no_secrets_stop(True)


def check_pull_request(ctx: Any, number: int, has_key: bool) -> None:
    """The PR as the API has it now (the event may be stale): a draft, or no key to review with."""
    if ctx.draft:
        raise draft_stop(number)
    if not has_key:
        raise no_secrets_stop(ctx.is_fork)


def check_label(config: Config, ctx: Any, number: int) -> None:
    """The base branch's config names the skip label; a PR carrying it is not reviewed."""
    skip_label = config.review.skip_label
    if skip_label in ctx.labels:
        raise Stop(SKIP_LABEL, f"#{number} has the label {skip_label!r}; no AI review")


# --- the scope ----------------------------------------------------------------------------------


def review_scope(api: Any, ctx: Any, sticky: Any, incremental: bool) -> tuple[tuple[Any, ...], dict[str, Any], int]:
    """(files, scope, files GitHub did not list): the whole PR, or only the commits since the reviewed head."""
    previous = sticky.reviewed_head if sticky is not None else None
    short = ctx.head_sha[:12]
    if incremental and previous:
        if previous == ctx.head_sha:
            raise Stop(SKIP_ALREADY, f"head {short} was already reviewed (see the PR comment)")
        since = api.files_since(previous, ctx.head_sha)
        if since is not None:
            text = f"Incremental review: commits {previous[:12]}..{short} only."
            return since, {
                "incremental": True,
                "since": previous,
                "text": text,
                "prompt": f"only the commits pushed since {previous[:12]} (the earlier commits were reviewed)",
            }, 0
        note = f"History changed since {previous[:12]} (force-push or rebase): the whole pull request was reviewed."
        listed = api.files()
        return listed.files, {"incremental": False, "text": note}, listed.not_listed
    listed = api.files()
    return listed.files, {"incremental": False, "text": f"Full review at {short}."}, listed.not_listed
