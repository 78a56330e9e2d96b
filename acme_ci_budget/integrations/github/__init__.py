"""GitHub for the review: the PR from the event or the API, its files, base-branch files, the sticky comment.

The one home of GitHub in the package (a package rather than one module only because one module passed
400 lines). Owns every PyGithub call the review makes, split by job: ``event`` (the Actions event:
the PR without an API call), ``api`` (``connect``; ``PullRequestAPI``: the PR's context, changed files,
files since a reviewed head, files of the base branch, from where the budget config and the prompt
templates are read, never from the PR's head), ``comments`` (the one sticky comment, found again by a
hidden marker and its author, and inline review comments on added lines: ``PullRequestAPI``'s comment
half), ``markup`` (the hidden markers and making model text safe to post: ``neutralize``) and ``errors``
(``GitHubError``).

PyGithub is imported lazily. API failures become ``GitHubError`` with one line naming the call,
the status and GitHub's message, never a header or token. This package must not decide budgets,
call the model, or lay out the comment (``templates/review_comment.md.j2`` does); as an integration it
imports only ``core`` and the pure diff model (``diffs``), never config, ledger, client or runs.
Every name is re-exported here: ``from acme_ci_budget.integrations.github import PullRequestAPI`` works.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "GitHubError": "errors",
        "MARKER_PREFIX": "markup",
        "COMMENT_LIMIT": "markup",
        "sticky_marker": "markup",
        "state_marker": "markup",
        "reviewed_head": "markup",
        "finding_key": "markup",
        "finding_marker": "markup",
        "neutralize": "markup",
        "md_code": "markup",
        "fit_comment": "markup",
        "EventPullRequest": "event",
        "read_event": "event",
        "pull_request_from_event": "event",
        "DEFAULT_API_URL": "api",
        "COMPARE_FILES_CAP": "api",
        "CLIENT_OPTIONS": "api",
        "connect": "api",
        "PullContext": "api",
        "PullFiles": "api",
        "PullRequestAPI": "api",
        "ACTIONS_BOT_LOGIN": "comments",
        "BOT_LOGIN_ENV": "comments",
        "BEHAVIORS": "comments",
        "Sticky": "comments",
        "InlineResult": "comments",
        "PullRequestComments": "comments",
        "changed_paths": "comments",
    },
)
