"""One pull request through PyGithub: connecting, its context, its files, and files of its base branch.

Owns ``connect`` and ``PullRequestAPI``'s reads: the PR's context, the changed files (and the files of
the commits since a reviewed head, for the incremental review), and files of the base branch (the
budget config and the prompt templates are read from there, never from the PR's head). Its comments are
``comments.PullRequestComments``, mixed in. It must not decide budgets or call the model. PyGithub is
imported lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.scope import restrict_to_pull
from acme_ci_budget.integrations.github.comments import ACTIONS_BOT_LOGIN, BOT_LOGIN_ENV, PullRequestComments
from acme_ci_budget.integrations.github.errors import GitHubError, call, describe

log = logging.getLogger("acme_ci_budget.github")

DEFAULT_API_URL = "https://api.github.com"
COMPARE_FILES_CAP = 300
# Extra keyword arguments for github.Github(); tests switch PyGithub's request throttle off here.
CLIENT_OPTIONS: dict[str, Any] = {}


def connect(token: str | None, api_url: str | None = None, **options: Any) -> Any:
    """A PyGithub client for ``api_url`` (GitHub Enterprise: ``$GITHUB_API_URL``); anonymous without a token."""
    import github

    kwargs: dict[str, Any] = {"base_url": (api_url or DEFAULT_API_URL).rstrip("/"), "per_page": 100, "timeout": 30}
    kwargs.update(CLIENT_OPTIONS)
    kwargs.update(options)
    if token:
        kwargs["auth"] = github.Auth.Token(token)
    return github.Github(**kwargs)


@dataclass(frozen=True)
class PullContext:
    repo: str
    number: int
    title: str
    body: str
    author: str
    draft: bool
    labels: tuple[str, ...]
    head_sha: str
    base_ref: str
    base_sha: str
    head_repo: str | None
    is_fork: bool
    html_url: str
    changed_files: int
    created_ms: int | None = None  # when the PR was opened (epoch ms): nothing of it is older


@dataclass(frozen=True)
class PullFiles:
    """The PR's files as the API lists them; ``total`` is GitHub's count (the list stops at 3,000)."""

    files: tuple[FileChange, ...]
    total: int

    @property
    def not_listed(self) -> int:
        return max(0, self.total - len(self.files))


def _file_change(raw: Mapping[str, Any]) -> FileChange:
    try:
        return FileChange.from_github(raw)
    except DiffError as exc:
        raise GitHubError(f"GitHub API: unexpected file entry: {exc}") from None


class PullRequestAPI(PullRequestComments):
    """One pull request through PyGithub: context, files, base-branch files, the sticky comment, inline comments."""

    def __init__(self, gh: Any, repo: str, number: int, *, bot_login: str | None = None) -> None:
        self.gh = gh
        self.repo_name = repo
        self.number = number
        # Whose comments are ours when the token cannot read /user: $ACB_BOT_LOGIN (a GitHub App's
        # "<slug>[bot]") or the Actions GITHUB_TOKEN's author.
        self.bot_login = (bot_login or os.environ.get(BOT_LOGIN_ENV) or ACTIONS_BOT_LOGIN).strip()
        self._repo: Any = None
        self._pull: Any = None
        self._login = False  # not looked up yet
        self._files: PullFiles | None = None

    # lookups

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = call(f"GET repository {self.repo_name}", self.gh.get_repo, self.repo_name)
        return self._repo

    @property
    def pull(self) -> Any:
        if self._pull is None:
            self._pull = call(f"GET pull request #{self.number}", self.repo.get_pull, self.number)
        return self._pull

    def context(self) -> PullContext:
        pr = self.pull
        head_repo = pr.head.repo.full_name if pr.head.repo is not None else None
        base_repo = pr.base.repo.full_name if pr.base.repo is not None else self.repo_name
        return PullContext(
            repo=self.repo_name,
            number=pr.number,
            title=pr.title or "",
            body=pr.body or "",
            author=pr.user.login if pr.user is not None else "",
            draft=bool(pr.draft),
            labels=tuple(label.name for label in pr.labels),
            head_sha=pr.head.sha,
            base_ref=pr.base.ref,
            base_sha=pr.base.sha,
            head_repo=head_repo,
            is_fork=head_repo != base_repo,
            html_url=pr.html_url or "",
            changed_files=int(pr.changed_files or 0),
            created_ms=int(pr.created_at.timestamp() * 1000) if pr.created_at is not None else None,
        )

    def files(self) -> PullFiles:
        """Every file the API lists (it stops at 3,000; ``total`` keeps the true count). Read once."""
        from github import GithubException

        if self._files is None:
            try:
                changes = tuple(_file_change(f.raw_data) for f in self.pull.get_files())
            except GithubException as exc:
                raise describe(exc, f"list files of #{self.number}") from None
            total = max(int(self.pull.changed_files or 0), len(changes))
            self._files = PullFiles(changes, total)
        return self._files

    def files_since(self, base_sha: str, head_sha: str) -> tuple[FileChange, ...] | None:
        """The PR's own changes in the commits from ``base_sha`` to ``head_sha``; None when that cannot be
        told (history rewritten by a force-push, diverged, more files than compare lists, or a PR file
        list GitHub cut short): review all.

        Compare also lists what a merge of the base branch brought in; only files and lines the
        PR's own diff (``pulls/N/files``) has are kept (``diff_scope.restrict_to_pull``).
        """
        from github import GithubException


        try:
            comparison = self.repo.compare(base_sha, head_sha)
            status = comparison.status
            raw_files = [f.raw_data for f in comparison.files]
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise describe(exc, f"compare {base_sha[:12]}...{head_sha[:12]}") from None
        if status == "identical":
            return ()
        if status != "ahead" or len(raw_files) >= COMPARE_FILES_CAP:
            return None
        listed = self.files()
        if listed.not_listed:
            return None  # a compare file missing from a cut list may still be the PR's own
        try:
            return restrict_to_pull((_file_change(raw) for raw in raw_files), listed.files)
        except DiffError as exc:  # a patch we cannot read: the whole PR is reviewed instead
            log.warning("compare %s...%s: %s; reviewing the whole pull request", base_sha[:12], head_sha[:12], exc)
            return None

    def base_file(self, path: str, ref: str) -> str | None:
        """Text of ``path`` on ``ref`` (the base branch); None when it does not exist there."""
        from github import GithubException

        try:
            content = self.repo.get_contents(path, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise describe(exc, f"read {path} at {ref}") from None
        if isinstance(content, list):
            raise GitHubError(f"{self.repo_name}@{ref}:{path} is a directory, not a file")
        try:
            return content.decoded_content.decode("utf-8")
        except (UnicodeDecodeError, AssertionError, TypeError):
            raise GitHubError(f"{self.repo_name}@{ref}:{path} is not UTF-8 text") from None

