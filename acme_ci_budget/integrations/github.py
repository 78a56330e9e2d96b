"""GitHub for the review: the PR from the event or the API, its files, base-branch files, the sticky comment.

Owns every PyGithub call the review makes: reading the Actions event, the pull request's
context and changed files (and the files of the commits since a reviewed head, for the
incremental review), files of the base branch (the budget config and the prompt templates are
read from there, never from the PR's head), the one sticky comment (found again by a hidden
marker and its author: our login when the token may read ``/user``, else the bot account an Actions
``GITHUB_TOKEN`` or a GitHub App posts as, ``$ACB_BOT_LOGIN``, default ``github-actions[bot]``), inline
review comments on added lines, and making model text safe to post (``neutralize``).

PyGithub is imported lazily. API failures become ``GitHubError`` with one line naming the call,
the status and GitHub's message, never a header or token. This module must not decide budgets,
call the model, or lay out the comment (``templates/review_comment.md.j2`` does); as an integration it
imports only ``core`` and the pure diff model (``diffs``), never config, ledger, client or runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from acme_ci_budget.core.errors import AcmeError, UsageError
from acme_ci_budget.core.files import MAX_EVENT_BYTES, read_bounded
from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.hunks import added_lines
from acme_ci_budget.diffs.scope import restrict_to_pull

log = logging.getLogger("acme_ci_budget.github")

DEFAULT_API_URL = "https://api.github.com"
MARKER_PREFIX = "acme-ci-budget:"
# GitHub refuses issue comments longer than this many characters.
COMMENT_LIMIT = 65_536
COMPARE_FILES_CAP = 300
# The author of comments made with an Actions GITHUB_TOKEN; a GitHub App posts as "<slug>[bot]".
ACTIONS_BOT_LOGIN = "github-actions[bot]"
BOT_LOGIN_ENV = "ACB_BOT_LOGIN"
BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new")
# Extra keyword arguments for github.Github(); tests switch PyGithub's request throttle off here.
CLIENT_OPTIONS: dict[str, Any] = {}

_STATE_RE = re.compile(r"<!-- acme-ci-budget:state reviewed=([A-Za-z0-9._-]{1,100}) -->")
_FINDING_RE = re.compile(r"<!-- acme-ci-budget:finding ([0-9a-f]{12}) -->")


class GitHubError(AcmeError, RuntimeError):
    """A GitHub API call failed; the message names the call, the status and GitHub's own message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _describe(exc: BaseException, what: str) -> GitHubError:
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


# --- markers and safe text ----------------------------------------------------------------------


def sticky_marker(workflow_id: str) -> str:
    """The hidden line that identifies a workflow's sticky comment."""
    return f"<!-- {MARKER_PREFIX}review workflow={workflow_id} -->"


def state_marker(reviewed_head: str | None) -> str:
    """The hidden line recording the last head SHA that was actually reviewed ("-" for none yet)."""
    return f"<!-- {MARKER_PREFIX}state reviewed={reviewed_head or '-'} -->"


def reviewed_head(body: str) -> str | None:
    match = _STATE_RE.search(body or "")
    if match is None or match.group(1) == "-":
        return None
    return match.group(1)


def finding_key(path: str, line: int | None, title: str) -> str:
    return hashlib.sha1(f"{path}\0{line}\0{title}".encode()).hexdigest()[:12]


def finding_marker(key: str) -> str:
    return f"<!-- {MARKER_PREFIX}finding {key} -->"


_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9])")
_RISKY_TAGS = re.compile(r"<(?=/?\s*(?:img|picture|source|video|audio|iframe|object|embed|details|summary|a)\b)",
                         re.IGNORECASE)
_IMAGE = re.compile(r"!\[")
_MARKER_WORD = re.compile(re.escape(MARKER_PREFIX), re.IGNORECASE)


def neutralize(text: str) -> str:
    """Model-written (or PR-written) text made safe to put in a comment.

    HTML comments are escaped, so the text can never carry (or fake) a hidden marker; the marker
    prefix is broken as well. @mentions get a zero-width space after the "@", so nobody is
    notified or pinged by a model. Images and raw media/link tags are defused: an injected image
    URL would otherwise make every reader's browser fetch it.
    """
    text = text or ""
    text = text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")
    text = _MARKER_WORD.sub("acme-ci-budget&#58;", text)
    text = _MENTION.sub("@\u200b", text)
    text = _RISKY_TAGS.sub("&lt;", text)
    return _IMAGE.sub("!\\[", text)


def md_code(text: str, limit: int = 200) -> str:
    """Untrusted short text (a file path) as one inline code span."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text)).replace("`", "'")
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f"`{clean}`"


def fit_comment(body: str, limit: int = COMMENT_LIMIT) -> str:
    """Cut a comment to GitHub's size limit, with a note, keeping the hidden markers at the top."""
    if len(body) <= limit:
        return body
    note = "\n\n_(comment cut to GitHub's 65,536-character limit)_\n"
    return body[: limit - len(note)] + note


# --- the Actions event --------------------------------------------------------------------------


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


# --- the API ------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class PullFiles:
    """The PR's files as the API lists them; ``total`` is GitHub's count (the list stops at 3,000)."""

    files: tuple[FileChange, ...]
    total: int

    @property
    def not_listed(self) -> int:
        return max(0, self.total - len(self.files))


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


def _file_change(raw: Mapping[str, Any]) -> FileChange:
    try:
        return FileChange.from_github(raw)
    except DiffError as exc:
        raise GitHubError(f"GitHub API: unexpected file entry: {exc}") from None


class PullRequestAPI:
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
        self._login: str | bool | None = False  # False: not looked up yet
        self._files: PullFiles | None = None

    # lookups

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self._call(f"GET repository {self.repo_name}", self.gh.get_repo, self.repo_name)
        return self._repo

    @property
    def pull(self) -> Any:
        if self._pull is None:
            self._pull = self._call(f"GET pull request #{self.number}", self.repo.get_pull, self.number)
        return self._pull

    @staticmethod
    def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from github import GithubException

        try:
            return fn(*args, **kwargs)
        except GithubException as exc:
            raise _describe(exc, what) from None

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
        )

    def files(self) -> PullFiles:
        """Every file the API lists (it stops at 3,000; ``total`` keeps the true count). Read once."""
        from github import GithubException

        if self._files is None:
            try:
                changes = tuple(_file_change(f.raw_data) for f in self.pull.get_files())
            except GithubException as exc:
                raise _describe(exc, f"list files of #{self.number}") from None
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
            raise _describe(exc, f"compare {base_sha[:12]}...{head_sha[:12]}") from None
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
            raise _describe(exc, f"read {path} at {ref}") from None
        if isinstance(content, list):
            raise GitHubError(f"{self.repo_name}@{ref}:{path} is a directory, not a file")
        try:
            return content.decoded_content.decode("utf-8")
        except (UnicodeDecodeError, AssertionError, TypeError):
            raise GitHubError(f"{self.repo_name}@{ref}:{path} is not UTF-8 text") from None

    # the sticky comment

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
            raise _describe(exc, f"list comments of #{self.number}") from None
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
            self._call(f"edit comment {sticky.comment.id}", sticky.comment.edit, body)
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
                self._call(f"delete comment {comment.id}", comment.delete)
        created = self._call(f"comment on #{self.number}", self.pull.create_issue_comment, body)
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
            existing = {m for c in self.pull.get_review_comments() for m in _FINDING_RE.findall(c.body or "")}
        except GithubException as exc:
            raise _describe(exc, f"list review comments of #{self.number}") from None
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
        commit = self._call(f"GET commit {head_sha[:12]}", self.repo.get_commit, head_sha)
        summary = f"acme-ci-budget: {len(comments)} inline finding(s); the review summary is in the PR conversation."
        try:
            self.pull.create_review(commit=commit, body=summary, event="COMMENT", comments=comments)
            return InlineResult(len(comments), skipped, duplicates)
        except GithubException as exc:
            if exc.status != 422:
                raise _describe(exc, f"create review on #{self.number}") from None
        posted, error = 0, ""
        for comment in comments:
            try:
                self.pull.create_review_comment(
                    comment["body"], commit, comment["path"], line=comment["line"], side="RIGHT"
                )
                posted += 1
            except GithubException as exc:
                error = str(_describe(exc, "inline comment"))
        return InlineResult(posted, skipped + len(comments) - posted, duplicates, error)


def changed_paths(files: Iterable[FileChange]) -> dict[str, str | None]:
    """path -> patch, for anchoring inline comments."""
    return {f.path: f.patch for f in files}
