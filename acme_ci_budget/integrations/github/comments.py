"""A pull request's comments: the one sticky comment (found again by its marker and author) and inline findings.

Owns ``PullRequestComments``, the comment half of ``PullRequestAPI``: whose comments are ours (our
login when the token may read ``/user``, else the bot account an Actions ``GITHUB_TOKEN`` or a GitHub
App posts as, ``$ACB_BOT_LOGIN``, default ``github-actions[bot]``), finding, writing, hiding or
deleting the sticky comment, and one review of inline comments on added lines, each posted once. It
must not read the PR's files or context (``api``) nor decide what to say. PyGithub is imported lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.hunks import added_lines
from acme_ci_budget.integrations.github.errors import call, describe
from acme_ci_budget.integrations.github.markup import (
    FINDING_RE,
    finding_key,
    finding_marker,
    fit_comment,
    reviewed_head,
    sticky_marker,
)

log = logging.getLogger("acme_ci_budget.github")

# The author of comments made with an Actions GITHUB_TOKEN; a GitHub App posts as "<slug>[bot]".
ACTIONS_BOT_LOGIN = "github-actions[bot]"
BOT_LOGIN_ENV = "ACB_BOT_LOGIN"
BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new")


@dataclass(frozen=True)
class Sticky:
    """The existing sticky comment (if any), and what its state marker recorded."""

    comment: Any = None
    reviewed_head: str | None = None
    others: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def body(self) -> str:
        return getattr(self.comment, "body", "") or "" if self.comment is not None else ""


@dataclass(frozen=True)
class InlineResult:
    posted: int = 0
    skipped: int = 0
    duplicates: int = 0
    error: str = ""



class PullRequestComments:
    """The sticky comment and inline comments of one pull request (mixed into ``PullRequestAPI``).

    It needs from the class it is mixed into: ``gh`` (the PyGithub client), ``repo`` and ``pull``
    (looked up once), ``number`` and ``bot_login``.
    """

    gh: Any
    repo: Any
    pull: Any
    number: int
    bot_login: str
    _login: str | bool | None = False  # False: not looked up yet

    def own_login(self) -> str | None:
        """Our login when the token may read it; None for an Actions GITHUB_TOKEN (403 on /user)."""
        if self._login is False:
            from github import GithubException

            # PyGithub logs every 403 at INFO to stderr; this one is expected in Actions and means nothing.
            retry_log = logging.getLogger("github.GithubRetry")
            previous = retry_log.level
            retry_log.setLevel(logging.WARNING)
            try:
                self._login = self.gh.get_user().login
            except GithubException:
                self._login = None
            finally:
                retry_log.setLevel(previous)
        return self._login or None

    def _trusted(self, comment: Any) -> bool:
        """Only our own comments count: anyone (another bot too) can paste the marker into a comment of theirs.

        With a token that may read /user, ours are the ones by that login. An Actions
        ``GITHUB_TOKEN`` (or an App installation token) gets 403 there, so ours are the bot
        account's: ``bot_login`` (``github-actions[bot]`` unless configured).
        """
        user = comment.user
        if user is None:
            return False
        login = self.own_login()
        if login is not None:
            return user.login == login
        return user.type == "Bot" and str(user.login or "").casefold() == self.bot_login.casefold()

    def find_sticky(self, workflow_id: str) -> Sticky:
        """The newest comment of ours carrying the workflow's marker, and any older ones."""
        marker = sticky_marker(workflow_id)
        from github import GithubException

        try:
            ours = [c for c in self.pull.get_issue_comments() if marker in (c.body or "") and self._trusted(c)]
        except GithubException as exc:
            raise describe(exc, f"list comments of #{self.number}") from None
        if not ours:
            return Sticky()
        newest = ours[-1]
        return Sticky(newest, reviewed_head(newest.body or ""), tuple(ours[:-1]))

    def write_sticky(self, body: str, sticky: Sticky, behavior: str = "update") -> str:
        """Post the comment as ``behavior`` says; returns its URL.

        update: edit the existing comment in place (create it the first time); new: always a new
        comment; hide-and-new: minimize the old ones as outdated, then a new one; delete-and-new:
        delete the old ones, then a new one.
        """
        if behavior not in BEHAVIORS:
            raise UsageError(f"comment behavior {behavior!r}: expected one of {', '.join(BEHAVIORS)}")
        body = fit_comment(body)
        if behavior == "update" and sticky.comment is not None:
            call(f"edit comment {sticky.comment.id}", sticky.comment.edit, body)
            return sticky.comment.html_url
        old = [*sticky.others, sticky.comment] if sticky.comment is not None else list(sticky.others)
        if behavior == "hide-and-new":
            for comment in old:
                try:
                    comment.minimize(reason="OUTDATED")
                except Exception as exc:  # hiding is cosmetic: the new comment matters more
                    log.warning("could not hide comment %s (%s)", comment.id, type(exc).__name__)
        elif behavior == "delete-and-new":
            for comment in old:
                call(f"delete comment {comment.id}", comment.delete)
        created = call(f"comment on #{self.number}", self.pull.create_issue_comment, body)
        return created.html_url

    # inline comments

    def post_inline(
        self,
        findings: Sequence[Any],
        head_sha: str,
        patches: Mapping[str, str | None],
        render: Any,
    ) -> InlineResult:
        """One review with a comment per finding that names an added line of a file in the diff.

        ``render(finding) -> str`` makes the comment text. Findings already posted (same path,
        line and title, recognised by a hidden key) are not posted again. If GitHub refuses the
        review as a whole, each comment is tried alone and the refused ones are counted as skipped.
        """
        from github import GithubException

        eligible = []
        skipped = 0
        for finding in findings:
            patch = patches.get(finding.path) if finding.path else None
            try:
                lines = added_lines(patch)
            except DiffError:
                lines = set()
            if finding.line is None or finding.line not in lines:
                skipped += 1
                continue
            eligible.append(finding)
        if not eligible:
            return InlineResult(0, skipped)
        try:
            existing = {m for c in self.pull.get_review_comments() for m in FINDING_RE.findall(c.body or "")}
        except GithubException as exc:
            raise describe(exc, f"list review comments of #{self.number}") from None
        comments, duplicates = [], 0
        for finding in eligible:
            key = finding_key(finding.path, finding.line, finding.title)
            if key in existing:
                duplicates += 1
                continue
            existing.add(key)
            text = f"{render(finding)}\n{finding_marker(key)}"
            comments.append({"path": finding.path, "line": finding.line, "side": "RIGHT", "body": text})
        if not comments:
            return InlineResult(0, skipped, duplicates)
        commit = call(f"GET commit {head_sha[:12]}", self.repo.get_commit, head_sha)
        summary = f"acme-ci-budget: {len(comments)} inline finding(s); the review summary is in the PR conversation."
        try:
            self.pull.create_review(commit=commit, body=summary, event="COMMENT", comments=comments)
            return InlineResult(len(comments), skipped, duplicates)
        except GithubException as exc:
            if exc.status != 422:
                raise describe(exc, f"create review on #{self.number}") from None
        posted, error = 0, ""
        for comment in comments:
            try:
                self.pull.create_review_comment(
                    comment["body"], commit, comment["path"], line=comment["line"], side="RIGHT"
                )
                posted += 1
            except GithubException as exc:
                error = str(describe(exc, "inline comment"))
        return InlineResult(posted, skipped + len(comments) - posted, duplicates, error)


def changed_paths(files: Iterable[FileChange]) -> dict[str, str | None]:
    """path -> patch, for anchoring inline comments."""
    return {f.path: f.patch for f in files}
