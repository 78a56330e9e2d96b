"""Loopback fake of the GitHub REST (and a sliver of GraphQL) API, for real PyGithub in tests.

Owns: a loopback server (tests/fakes/loopback.py: 127.0.0.1, free port, one thread per connection) serving a GitHub
Enterprise style API under /api/v3 (GraphQL at /api/graphql), in-memory repositories, pull
requests, files per ref, commits, issue comments, review comments and reviews, seeding helpers,
and a record of every request with the Authorization value redacted.

Must not: reach the network, know anything about acme_ci_budget, or keep tokens.

Usage::

    with FakeGitHubServer() as gh:
        gh.add_repo("acme/app")
        gh.add_pull("acme/app", 7, head_sha="h1", base_sha="b1",
                    files=[pr_file("a.py", "@@ -1 +1 @@\\n-x\\n+y")])
        g = github.Github(base_url=gh.url, auth=github.Auth.Token("t"))   # or GITHUB_API_URL=gh.url
        pr = g.get_repo("acme/app").get_pull(7)

Mimicked GitHub behaviour (and where the fake stops):
- Pagination: page/per_page (default 30, capped at 100) with a Link header (first, prev, next,
  last) whose URLs PyGithub follows. Pages past the end are empty lists.
- PR files list stops at 3000 files, as GitHub does ("lists a maximum of 3000 files"); the PR's
  `changed_files` still reports the true count, which is how a client can tell it was cut.
  PR commits list stops at 250. Compare returns at most 300 files, commits paginated (default 250).
- GET a pull with Accept: application/vnd.github.diff returns a unified diff built from the
  files' patches, or 406 "too_large" past 300 files, as GitHub does.
- Contents: GET /repos/{o}/{r}/contents/{path}?ref= resolves branch names, SHAs, refs/heads/x
  and pull/N/head; a fork PR's head SHA also resolves in the base repo (GitHub keeps
  refs/pull/N/head there). Unknown ref -> 404 "No commit found for the ref X".
  Files are base64 with a git blob SHA; large-file ("encoding: none") handling is not mimicked.
- Compare /repos/{o}/{r}/compare/{base}...{head}: 404 when either side is unknown, e.g. after
  forget_commit() (history rewritten by a force-push).
- Review comments (single or inside a review) must target a path in the PR's files and a line
  inside a diff hunk on the given side (RIGHT by default), or a diff position; otherwise 422 with
  GitHub's bodies: inside a review, "Pull request review thread line must be part of the diff and
  Pull request review thread diff hunk can't be blank"; alone, field
  "pull_request_review_thread.line" "could not be resolved". commit_id must be the head or a PR commit.
- merge_base_into_pull(): the author merges the base branch in; compare from the old head then
  lists the base branch's files too, the PR's file list does not.
- GraphQL: only minimizeComment / unminimizeComment (what IssueComment.minimize() sends:
  `mutation Mutation($input: MinimizeCommentInput!) { minimizeComment(input: $input) {...} }`
  with variables {"input": {"subjectId": node_id, "classifier": "OUTDATED"}}). REST bodies do
  not show the minimized state (GitHub's don't either); read it with issue_comments().
- GET /user answers 403 "Resource not accessible by integration" (with GitHub's documentation_url)
  like an Actions GITHUB_TOKEN, unless `authenticated_user` is set. New comments are authored by `comment_author`.
- Writes without an Authorization header get 401 "Requires authentication".
Only pull requests exist as issues; plain issues, labels edits, checks and statuses are not served.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import LoopbackFake, LoopbackHandler

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
REDACTED = "<redacted>"
DOCS_URL = "https://docs.github.com/rest"

PR_FILES_CAP = 3000
PR_COMMITS_CAP = 250
COMPARE_FILES_CAP = 300
DIFF_FILES_CAP = 300
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
MINIMIZE_CLASSIFIERS = frozenset({"SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED"})


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it: path without the /api/v3 prefix and without the query."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any


class _HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS_URL, "status": str(status), **extra}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pr_file(
    filename: str,
    patch: str | None = None,
    *,
    status: str = "modified",
    additions: int | None = None,
    deletions: int | None = None,
    previous_filename: str | None = None,
) -> dict[str, Any]:
    """A PR/compare file entry; additions and deletions are counted from the patch unless given.
    patch=None means GitHub sent no patch (binary, or too large)."""
    lines = (patch or "").splitlines()
    if additions is None:
        additions = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    if deletions is None:
        deletions = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    entry: dict[str, Any] = {
        "filename": filename,
        "status": status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
    }
    if patch is not None:
        entry["patch"] = patch
    if previous_filename is not None:
        entry["previous_filename"] = previous_filename
    return entry


def _diff_targets(patch: str | None) -> tuple[set[int], set[int], int]:
    """Lines commentable on the RIGHT and LEFT sides of a patch, and its number of diff positions."""
    right: set[int] = set()
    left: set[int] = set()
    if not patch:
        return right, left, 0
    lines = patch.splitlines()
    old = new = 0
    for line in lines:
        hunk = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
        elif line.startswith("+"):
            right.add(new)
            new += 1
        elif line.startswith("-"):
            left.add(old)
            old += 1
        elif line.startswith("\\"):
            continue
        else:
            right.add(new)
            left.add(old)
            old += 1
            new += 1
    # Position 1 is the line below the first @@; later @@ lines count as positions too.
    return right, left, max(0, len(lines) - 1)


@dataclass
class _Pull:
    number: int
    id: int
    title: str
    body: str
    user: str
    state: str
    draft: bool
    labels: list[str]
    head_ref: str
    head_sha: str
    head_repo: str
    base_ref: str
    base_sha: str
    files: list[dict[str, Any]]
    commits: list[str]
    created_at: str


@dataclass
class _Repo:
    id: int
    full_name: str
    default_branch: str
    private: bool
    parent: str | None
    branches: dict[str, str] = field(default_factory=dict)
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    pulls: dict[int, _Pull] = field(default_factory=dict)
    compares: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ids = itertools.count(1001)
        self.repos: dict[str, _Repo] = {}
        self.issue_comments: dict[int, dict[str, Any]] = {}
        self.review_comments: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.base = ""  # http://127.0.0.1:port, set on start
        self.comment_author = "github-actions[bot]"
        self.authenticated_user: str | None = None


class FakeGitHubServer(LoopbackFake):
    """The fake GitHub API. start()/stop(), or use as a context manager. Seed state with add_* / set_*."""

    thread_name = "fake-github"

    def __init__(self) -> None:
        super().__init__(_State())

    # ---- lifecycle ----------------------------------------------------------------------------

    def _after_start(self) -> None:
        self._state.base = self.origin  # the links in every body point back here

    @property
    def url(self) -> str:
        """REST base URL, GitHub Enterprise style: Github(base_url=...) or GITHUB_API_URL."""
        return self.origin + API_PREFIX

    @property
    def graphql_url(self) -> str:
        """GraphQL endpoint (what PyGithub derives from url; GITHUB_GRAPHQL_URL in Actions)."""
        return self.url.removesuffix("/v3") + "/graphql"

    # ---- configuration ------------------------------------------------------------------------

    @property
    def comment_author(self) -> str:
        return self._state.comment_author

    @comment_author.setter
    def comment_author(self, login: str) -> None:
        self._state.comment_author = login

    @property
    def authenticated_user(self) -> str | None:
        return self._state.authenticated_user

    @authenticated_user.setter
    def authenticated_user(self, login: str | None) -> None:
        self._state.authenticated_user = login

    # ---- seeding ------------------------------------------------------------------------------

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        fork_of: str | None = None,
    ) -> None:
        """Create a repository (idempotent)."""
        with self._state.lock:
            if full_name not in self._state.repos:
                self._state.repos[full_name] = _Repo(next(self._state.ids), full_name, default_branch, private, fork_of)

    def _repo(self, full_name: str) -> _Repo:
        self.add_repo(full_name)
        return self._state.repos[full_name]

    def set_branch(self, full_name: str, branch: str, sha: str) -> None:
        with self._state.lock:
            repo = self._repo(full_name)
            repo.branches[branch] = sha
            repo.commits.setdefault(sha, {"message": f"commit {sha}", "parents": []})

    def set_file(self, full_name: str, ref: str, path: str, content: str | bytes) -> None:
        """Content of `path` at `ref` (a branch name or a SHA) for the contents endpoint."""
        data = content.encode() if isinstance(content, str) else content
        with self._state.lock:
            self._repo(full_name).trees.setdefault(ref, {})[path.strip("/")] = data

    def add_commit(
        self, full_name: str, sha: str, message: str = "", *, parents: Sequence[str] = (), author: str = "dev"
    ) -> None:
        with self._state.lock:
            repo = self._repo(full_name)
            repo.forgotten.discard(sha)
            repo.commits[sha] = {
                "message": message or f"commit {sha}",
                "parents": list(parents),
                "author": author,
            }

    def forget_commit(self, full_name: str, sha: str) -> None:
        """Make `sha` unknown (history rewritten by a force-push): compare and contents then 404."""
        with self._state.lock:
            repo = self._repo(full_name)
            repo.commits.pop(sha, None)
            repo.trees.pop(sha, None)
            repo.forgotten.add(sha)

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        title: str = "A change",
        body: str = "",
        user: str = "dev",
        head_sha: str = "head0000",
        head_ref: str = "feature",
        head_repo: str | None = None,
        base_sha: str = "base0000",
        base_ref: str = "main",
        draft: bool = False,
        state: str = "open",
        labels: Iterable[str] = (),
        files: Iterable[Mapping[str, Any]] = (),
        commits: Iterable[str] = (),
    ) -> None:
        """A pull request. head_repo other than full_name makes it a PR from a fork.
        `commits` defaults to [head_sha]."""
        with self._state.lock:
            repo = self._repo(full_name)
            source = self._repo(head_repo or full_name)
            if head_repo and head_repo != full_name and source.parent is None:
                source.parent = full_name
            repo.branches.setdefault(base_ref, base_sha)
            source.branches[head_ref] = head_sha
            commit_list = list(commits) or [head_sha]
            for sha in [base_sha, *commit_list, head_sha]:
                target = repo if sha == base_sha else source
                target.commits.setdefault(sha, {"message": f"commit {sha}", "parents": [], "author": user})
            repo.pulls[number] = _Pull(
                number,
                next(self._state.ids),
                title,
                body,
                user,
                state,
                draft,
                list(labels),
                head_ref,
                head_sha,
                source.full_name,
                base_ref,
                base_sha,
                [dict(f) for f in files],
                commit_list,
                _now(),
            )

    def update_pull(self, full_name: str, number: int, **changes: Any) -> None:
        """Change fields of a PR (e.g. head_sha=... for a new push, draft=False, files=[...])."""
        with self._state.lock:
            pull = self._state.repos[full_name].pulls[number]
            for key, value in changes.items():
                if not hasattr(pull, key):
                    raise AttributeError(f"pull request has no field {key!r}")
                setattr(pull, key, value)
            if "head_sha" in changes:
                source = self._repo(pull.head_repo)
                source.branches[pull.head_ref] = pull.head_sha
                source.commits.setdefault(pull.head_sha, {"message": "", "parents": [], "author": pull.user})
                source.forgotten.discard(pull.head_sha)
                if "commits" not in changes:
                    pull.commits.append(pull.head_sha)

    def add_pull_files(self, full_name: str, number: int, files: Iterable[Mapping[str, Any]]) -> None:
        with self._state.lock:
            self._state.repos[full_name].pulls[number].files.extend(dict(f) for f in files)

    def set_compare(
        self,
        full_name: str,
        base: str,
        head: str,
        *,
        files: Iterable[Mapping[str, Any]] = (),
        commits: Iterable[str] = (),
    ) -> None:
        """What compare/{base}...{head} returns (both refs become known)."""
        with self._state.lock:
            repo = self._repo(full_name)
            commit_list = list(commits) or [head]
            for sha in [base, *commit_list]:
                repo.forgotten.discard(sha)
                repo.commits.setdefault(sha, {"message": f"commit {sha}", "parents": [], "author": "dev"})
            repo.compares[(base, head)] = {"files": [dict(f) for f in files], "commits": commit_list}

    def merge_base_into_pull(
        self,
        full_name: str,
        number: int,
        *,
        merge_sha: str,
        base_sha: str,
        base_files: Iterable[Mapping[str, Any]],
    ) -> str:
        """The author merges the base branch (now at ``base_sha``) into the PR branch: a merge commit
        ``merge_sha`` becomes the head. Returns the previous head.

        As on GitHub: the PR's diff is three-dot, against the merge base, which the merge moves to
        ``base_sha``, so the PR's file list (``files``) does not change; ``compare/{previous
        head}...{merge_sha}`` does list what came in, ``base_files`` (the base branch's changes),
        with status "ahead". Inline comments are checked against the PR's list, so one on a line
        only the base branch changed is refused with 422. A later push on top of the merge is
        ``update_pull(head_sha=...)`` with ``set_compare`` listing both (a compare spans commits).
        """
        with self._state.lock:
            repo = self._state.repos[full_name]
            pull = repo.pulls[number]
            previous = pull.head_sha
            repo.branches[pull.base_ref] = base_sha
            repo.commits.setdefault(base_sha, {"message": f"commit {base_sha}", "parents": [], "author": "dev"})
            source = self._repo(pull.head_repo)
            source.commits[merge_sha] = {
                "message": f"Merge branch '{pull.base_ref}' into {pull.head_ref}",
                "parents": [previous, base_sha],
                "author": pull.user,
            }
            source.branches[pull.head_ref] = merge_sha
            pull.head_sha, pull.base_sha = merge_sha, base_sha
            pull.commits.append(merge_sha)
            repo.compares[(previous, merge_sha)] = {"files": [dict(f) for f in base_files], "commits": [merge_sha]}
        return previous

    def add_issue_comment(self, full_name: str, number: int, body: str, *, user: str | None = None) -> int:
        """Seed an existing comment on PR `number`; returns its id."""
        with self._state.lock:
            self._pull(self._state.repos[full_name], number)
            author = user or self._state.comment_author
            return _new_issue_comment(self._state, full_name, number, body, author)

    # ---- inspection ---------------------------------------------------------------------------

    def issue_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """Comments on PR `number`, oldest first; each has body, user, minimized_reason (None or e.g.
        "OUTDATED"), id, node_id."""
        with self._state.lock:
            return [
                dict(c) for c in self._state.issue_comments.values() if c["repo"] == full_name and c["number"] == number
            ]

    def review_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        with self._state.lock:
            return [
                dict(c)
                for c in self._state.review_comments.values()
                if c["repo"] == full_name and c["number"] == number
            ]

    def reviews(self, full_name: str, number: int) -> list[dict[str, Any]]:
        with self._state.lock:
            return [dict(r) for r in self._state.reviews.values() if r["repo"] == full_name and r["number"] == number]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    @staticmethod
    def _pull(repo: _Repo, number: int) -> _Pull:
        try:
            return repo.pulls[number]
        except KeyError:
            raise KeyError(f"{repo.full_name} has no pull request #{number}") from None


# ---- JSON shapes ------------------------------------------------------------------------------


def _user_json(state: _State, login: str) -> dict[str, Any]:
    user_id = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_fake{user_id}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "url": f"{state.base}{API_PREFIX}/users/{urllib.parse.quote(login)}",
        "html_url": f"{state.base}/{login}",
        "avatar_url": f"{state.base}/avatars/{login}",
        "site_admin": False,
    }


def _repo_json(state: _State, repo: _Repo) -> dict[str, Any]:
    owner, name = repo.full_name.split("/", 1)
    api = f"{state.base}{API_PREFIX}/repos/{repo.full_name}"
    data = {
        "id": repo.id,
        "node_id": f"R_fake{repo.id}",
        "name": name,
        "full_name": repo.full_name,
        "owner": _user_json(state, owner),
        "private": repo.private,
        "fork": repo.parent is not None,
        "url": api,
        "html_url": f"{state.base}/{repo.full_name}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "default_branch": repo.default_branch,
        "visibility": "private" if repo.private else "public",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {"admin": False, "push": True, "pull": True},
    }
    if repo.parent is not None and repo.parent in state.repos:
        parent = state.repos[repo.parent]
        data["parent"] = {
            "id": parent.id,
            "full_name": parent.full_name,
            "url": f"{state.base}{API_PREFIX}/repos/{parent.full_name}",
        }
    return data


def _pull_json(state: _State, repo: _Repo, pull: _Pull) -> dict[str, Any]:
    api = f"{state.base}{API_PREFIX}/repos/{repo.full_name}"
    head_repo = state.repos[pull.head_repo]
    head_owner = pull.head_repo.split("/", 1)[0]
    base_owner = repo.full_name.split("/", 1)[0]
    comments = sum(
        1 for c in state.issue_comments.values() if c["repo"] == repo.full_name and c["number"] == pull.number
    )
    return {
        "id": pull.id,
        "node_id": f"PR_fake{pull.id}",
        "number": pull.number,
        "url": f"{api}/pulls/{pull.number}",
        "html_url": f"{state.base}/{repo.full_name}/pull/{pull.number}",
        "diff_url": f"{state.base}/{repo.full_name}/pull/{pull.number}.diff",
        "patch_url": f"{state.base}/{repo.full_name}/pull/{pull.number}.patch",
        "issue_url": f"{api}/issues/{pull.number}",
        "commits_url": f"{api}/pulls/{pull.number}/commits",
        "review_comments_url": f"{api}/pulls/{pull.number}/comments",
        "comments_url": f"{api}/issues/{pull.number}/comments",
        "statuses_url": f"{api}/statuses/{pull.head_sha}",
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "body": pull.body,
        "user": _user_json(state, pull.user),
        "labels": [_label_json(state, repo, name) for name in pull.labels],
        "draft": pull.draft,
        "merged": False,
        "mergeable": True,
        "merge_commit_sha": None,
        "created_at": pull.created_at,
        "updated_at": pull.created_at,
        "closed_at": None,
        "merged_at": None,
        "author_association": "CONTRIBUTOR",
        "head": {
            "label": f"{head_owner}:{pull.head_ref}",
            "ref": pull.head_ref,
            "sha": pull.head_sha,
            "user": _user_json(state, head_owner),
            "repo": _repo_json(state, head_repo),
        },
        "base": {
            "label": f"{base_owner}:{pull.base_ref}",
            "ref": pull.base_ref,
            "sha": pull.base_sha,
            "user": _user_json(state, base_owner),
            "repo": _repo_json(state, repo),
        },
        "comments": comments,
        "review_comments": sum(
            1 for c in state.review_comments.values() if c["repo"] == repo.full_name and c["number"] == pull.number
        ),
        "commits": len(pull.commits),
        "additions": sum(f.get("additions", 0) for f in pull.files),
        "deletions": sum(f.get("deletions", 0) for f in pull.files),
        "changed_files": len(pull.files),
    }


def _label_json(state: _State, repo: _Repo, name: str) -> dict[str, Any]:
    label_id = int(hashlib.sha1(f"{repo.full_name}/{name}".encode()).hexdigest()[:7], 16)
    return {
        "id": label_id,
        "node_id": f"LA_fake{label_id}",
        "name": name,
        "color": "ededed",
        "default": False,
        "description": None,
        "url": f"{state.base}{API_PREFIX}/repos/{repo.full_name}/labels/{urllib.parse.quote(name)}",
    }


def _file_json(state: _State, repo_name: str, ref: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    name = entry["filename"]
    quoted = urllib.parse.quote(name)
    data = {
        "sha": entry.get("sha") or hashlib.sha1(f"{ref}:{name}".encode()).hexdigest(),
        "blob_url": f"{state.base}/{repo_name}/blob/{ref}/{quoted}",
        "raw_url": f"{state.base}/{repo_name}/raw/{ref}/{quoted}",
        "contents_url": f"{state.base}{API_PREFIX}/repos/{repo_name}/contents/{quoted}?ref={ref}",
    }
    data.update(entry)
    return data


def _commit_json(state: _State, repo: _Repo, sha: str) -> dict[str, Any]:
    info = repo.commits.get(sha, {"message": f"commit {sha}", "parents": [], "author": "dev"})
    api = f"{state.base}{API_PREFIX}/repos/{repo.full_name}"
    who = {
        "name": info.get("author", "dev"),
        "email": f"{info.get('author', 'dev')}@example.com",
        "date": "2024-01-01T00:00:00Z",
    }
    return {
        "sha": sha,
        "node_id": f"C_fake{sha}",
        "url": f"{api}/commits/{sha}",
        "html_url": f"{state.base}/{repo.full_name}/commit/{sha}",
        "commit": {
            "message": info["message"],
            "author": who,
            "committer": who,
            "tree": {"sha": hashlib.sha1(sha.encode()).hexdigest(), "url": f"{api}/git/trees/{sha}"},
            "url": f"{api}/git/commits/{sha}",
            "comment_count": 0,
        },
        "author": _user_json(state, info.get("author", "dev")),
        "committer": _user_json(state, info.get("author", "dev")),
        "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in info.get("parents", [])],
    }


def _issue_comment_json(state: _State, comment: Mapping[str, Any]) -> dict[str, Any]:
    api = f"{state.base}{API_PREFIX}/repos/{comment['repo']}"
    return {
        "id": comment["id"],
        "node_id": comment["node_id"],
        "url": f"{api}/issues/comments/{comment['id']}",
        "html_url": f"{state.base}/{comment['repo']}/pull/{comment['number']}#issuecomment-{comment['id']}",
        "issue_url": f"{api}/issues/{comment['number']}",
        "body": comment["body"],
        "user": _user_json(state, comment["user"]),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "author_association": "NONE",
    }


def _review_comment_json(state: _State, comment: Mapping[str, Any]) -> dict[str, Any]:
    api = f"{state.base}{API_PREFIX}/repos/{comment['repo']}"
    data = {
        "id": comment["id"],
        "node_id": comment["node_id"],
        "url": f"{api}/pulls/comments/{comment['id']}",
        "html_url": f"{state.base}/{comment['repo']}/pull/{comment['number']}#discussion_r{comment['id']}",
        "pull_request_url": f"{api}/pulls/{comment['number']}",
        "pull_request_review_id": comment.get("review_id"),
        "user": _user_json(state, comment["user"]),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "author_association": "NONE",
    }
    data.update(
        {
            k: comment.get(k)
            for k in (
                "body",
                "path",
                "line",
                "side",
                "start_line",
                "start_side",
                "position",
                "commit_id",
                "diff_hunk",
                "subject_type",
            )
        }
    )
    data["original_commit_id"] = comment.get("commit_id")
    data["original_line"] = comment.get("line")
    data["original_position"] = comment.get("position")
    return data


def _review_json(state: _State, review: Mapping[str, Any]) -> dict[str, Any]:
    api = f"{state.base}{API_PREFIX}/repos/{review['repo']}"
    return {
        "id": review["id"],
        "node_id": review["node_id"],
        "user": _user_json(state, review["user"]),
        "body": review["body"],
        "state": review["state"],
        "commit_id": review["commit_id"],
        "html_url": f"{state.base}/{review['repo']}/pull/{review['number']}#pullrequestreview-{review['id']}",
        "pull_request_url": f"{api}/pulls/{review['number']}",
        "submitted_at": review["submitted_at"],
        "author_association": "NONE",
    }


def _new_issue_comment(state: _State, repo_name: str, number: int, body: str, user: str) -> int:
    comment_id = next(state.ids)
    now = _now()
    state.issue_comments[comment_id] = {
        "id": comment_id,
        "node_id": f"IC_fake{comment_id}",
        "repo": repo_name,
        "number": number,
        "body": body,
        "user": user,
        "created_at": now,
        "updated_at": now,
        "minimized_reason": None,
    }
    return comment_id


# ---- request handling -------------------------------------------------------------------------


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern + r"\Z"), name)
    for method, pattern, name in [
        ("GET", r"/user", "get_user"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)", "get_repo"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls", "list_pulls"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)", "get_pull"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/files", "pull_files"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/commits", "pull_commits"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/comments", "list_review_comments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/comments", "create_review_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/reviews", "list_reviews"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<number>\d+)/reviews", "create_review"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)", "get_issue"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments", "list_issue_comments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments", "create_issue_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "get_issue_comment"),
        ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "edit_issue_comment"),
        ("DELETE", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "delete_issue_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/compare/(?P<basehead>.+)", "compare"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/contents(?:/(?P<path>.*))?", "contents"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[^/]+)", "get_commit"),
    ]
]


class _Handler(LoopbackHandler):
    server_version = "FakeGitHub/1.0"
    state: _State

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    # plumbing

    def _dispatch(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()}
        headers = {
            k.lower(): (REDACTED if k.lower() in ("authorization", "cookie") else v) for k, v in self.headers.items()
        }
        shown_path = split.path.removeprefix(API_PREFIX)
        # State is read and changed under one lock; the answer is written after releasing it.
        with self.state.lock:
            self.state.requests.append(RecordedRequest(self.command, shown_path, query, headers, body))
            try:
                answer = self._route(split.path, query, body)
            except _HttpError as exc:
                answer = _json_raw(exc.status, exc.body)
        self._reply_raw(answer)

    def _route(self, raw_path: str, query: Mapping[str, str], body: Any) -> _Raw:
        if self.command != "GET" and not self.headers.get("authorization"):
            raise _HttpError(401, "Requires authentication")
        if raw_path == GRAPHQL_PATH and self.command == "POST":
            return _json_raw(200, self._graphql(body))
        if not raw_path.startswith(API_PREFIX + "/"):
            raise _HttpError(404, "Not Found")
        path = raw_path.removeprefix(API_PREFIX)
        for method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match and method == self.command:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v is not None}
                result = getattr(self, "_" + name)(query=query, body=body, **params)
                if isinstance(result, _Raw):
                    return result
                status, payload, link = result
                return _json_raw(status, payload, link)
        raise _HttpError(404, "Not Found")

    def _reply_raw(self, raw: _Raw) -> None:
        try:
            self.send_response(raw.status)
            if raw.status != 204:
                self.send_header("content-type", raw.content_type)
            self.send_header("content-length", str(len(raw.data)))
            self.send_header("x-github-request-id", f"FAKE:{next(self.state.ids)}")
            self.send_header("x-ratelimit-limit", "5000")
            self.send_header("x-ratelimit-remaining", "4999")
            self.send_header("x-ratelimit-reset", str(int(time.time()) + 3600))
            self.send_header("x-ratelimit-resource", "core")
            for name, value in raw.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw.data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _paginate(
        self,
        path: str,
        query: Mapping[str, str],
        items: Sequence[Any],
        *,
        default_per_page: int = DEFAULT_PER_PAGE,
        max_per_page: int = MAX_PER_PAGE,
    ) -> tuple[list[Any], str | None]:
        try:
            per_page = min(max(int(query.get("per_page", default_per_page)), 1), max_per_page)
        except ValueError:
            per_page = default_per_page
        try:
            page = max(int(query.get("page", 1)), 1)
        except ValueError:
            page = 1
        last = max(1, -(-len(items) // per_page))
        chunk = list(items[(page - 1) * per_page : page * per_page])

        def link_to(target: int) -> str:
            params = {**query, "per_page": str(per_page), "page": str(target)}
            return f"<{self.state.base}{API_PREFIX}{path}?{urllib.parse.urlencode(params)}>"

        links = []
        if page < last:
            links += [f'{link_to(page + 1)}; rel="next"', f'{link_to(last)}; rel="last"']
        if page > 1:
            links += [f'{link_to(1)}; rel="first"', f'{link_to(min(page - 1, last))}; rel="prev"']
        return chunk, ", ".join(links) or None

    def _get_repo_state(self, repo: str) -> _Repo:
        found = self.state.repos.get(repo)
        if found is None:
            raise _HttpError(404, "Not Found")
        return found

    def _get_pull_state(self, repo: _Repo, number: str) -> _Pull:
        found = repo.pulls.get(int(number))
        if found is None:
            raise _HttpError(404, "Not Found")
        return found

    # refs

    def _ref_candidates(self, repo: _Repo, ref: str) -> list[tuple[_Repo, str]]:
        """(repo, key) pairs to look a ref up in, best first; empty when the ref is unknown."""
        ref = ref.removeprefix("refs/heads/").removeprefix("refs/")
        pull_ref = re.fullmatch(r"pull/(\d+)/(head|merge)", ref)
        if pull_ref and int(pull_ref.group(1)) in repo.pulls:
            pull = repo.pulls[int(pull_ref.group(1))]
            return [(self.state.repos[pull.head_repo], pull.head_sha)]
        if ref in repo.forgotten:
            return []
        candidates: list[tuple[_Repo, str]] = []
        if ref in repo.trees or ref in repo.commits:
            candidates.append((repo, ref))
        if ref in repo.branches:
            candidates += [(repo, ref), (repo, repo.branches[ref])]
        candidates += [(repo, name) for name, sha in repo.branches.items() if sha == ref]
        # GitHub keeps refs/pull/N/head in the base repo, so a fork PR's head SHA resolves there.
        for pull in repo.pulls.values():
            if pull.head_sha == ref and pull.head_repo != repo.full_name:
                source = self.state.repos[pull.head_repo]
                candidates += [(source, ref), (source, pull.head_ref)]
        return candidates

    # routes

    def _get_user(self, query: Mapping[str, str], body: Any) -> tuple[int, Any, None]:
        if self.state.authenticated_user is None:
            # What an Actions GITHUB_TOKEN (an App installation token) gets, body as GitHub sends it.
            raise _HttpError(
                403,
                "Resource not accessible by integration",
                documentation_url="https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )
        return 200, _user_json(self.state, self.state.authenticated_user), None

    def _get_repo(self, query: Mapping[str, str], body: Any, repo: str) -> tuple[int, Any, None]:
        return 200, _repo_json(self.state, self._get_repo_state(repo)), None

    def _list_pulls(self, query: Mapping[str, str], body: Any, repo: str) -> tuple[int, Any, str | None]:
        state = self._get_repo_state(repo)
        wanted = query.get("state", "open")
        pulls = [
            p for p in sorted(state.pulls.values(), key=lambda p: -p.number) if wanted == "all" or p.state == wanted
        ]
        chunk, link = self._paginate(f"/repos/{repo}/pulls", query, pulls)
        return 200, [_pull_json(self.state, state, p) for p in chunk], link

    def _get_pull(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        accept = self.headers.get("accept", "")
        if "diff" in accept:
            if len(pull.files) > DIFF_FILES_CAP:
                raise _HttpError(
                    406,
                    f"Sorry, the diff exceeded the maximum number of files ({DIFF_FILES_CAP}). Consider "
                    "using 'List pull requests files' API or locally cloning the repository instead.",
                    errors=[{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                )
            parts = []
            for f in pull.files:
                old = f.get("previous_filename", f["filename"])
                parts.append(
                    f"diff --git a/{old} b/{f['filename']}\n--- a/{old}\n+++ b/{f['filename']}\n{f.get('patch', '')}\n"
                )
            return _Raw(200, "".join(parts).encode(), "application/vnd.github.diff; charset=utf-8", {})
        return 200, _pull_json(self.state, state, pull), None

    def _pull_files(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        files = pull.files[:PR_FILES_CAP]
        chunk, link = self._paginate(f"/repos/{repo}/pulls/{number}/files", query, files)
        return 200, [_file_json(self.state, pull.head_repo, pull.head_sha, f) for f in chunk], link

    def _pull_commits(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        source = self.state.repos[pull.head_repo]
        chunk, link = self._paginate(f"/repos/{repo}/pulls/{number}/commits", query, pull.commits[:PR_COMMITS_CAP])
        return 200, [_commit_json(self.state, source, sha) for sha in chunk], link

    def _get_commit(self, query: Mapping[str, str], body: Any, repo: str, sha: str) -> Any:
        state = self._get_repo_state(repo)
        for owner, key in self._ref_candidates(state, sha):
            resolved = owner.branches.get(key, key)
            if resolved in owner.commits:
                return 200, _commit_json(self.state, owner, resolved), None
        raise _HttpError(422, f"No commit found for SHA: {sha}")

    def _get_issue(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        pr = _pull_json(self.state, state, pull)
        issue = {
            k: pr[k]
            for k in (
                "id",
                "node_id",
                "number",
                "title",
                "body",
                "user",
                "labels",
                "state",
                "locked",
                "comments",
                "created_at",
                "updated_at",
                "closed_at",
                "author_association",
                "html_url",
            )
        }
        issue.update(
            url=pr["issue_url"],
            comments_url=pr["comments_url"],
            pull_request={
                "url": pr["url"],
                "html_url": pr["html_url"],
                "diff_url": pr["diff_url"],
                "patch_url": pr["patch_url"],
            },
        )
        return 200, issue, None

    def _list_issue_comments(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        self._get_pull_state(state, number)
        comments = [c for c in self.state.issue_comments.values() if c["repo"] == repo and c["number"] == int(number)]
        chunk, link = self._paginate(f"/repos/{repo}/issues/{number}/comments", query, comments)
        return 200, [_issue_comment_json(self.state, c) for c in chunk], link

    def _create_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        self._get_pull_state(state, number)
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            raise _HttpError(
                422,
                "Validation Failed",
                errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        if len(text) > 65536:
            raise _HttpError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            )
        comment_id = _new_issue_comment(self.state, repo, int(number), text, self.state.comment_author)
        return 201, _issue_comment_json(self.state, self.state.issue_comments[comment_id]), None

    def _find_issue_comment(self, repo: str, comment_id: str) -> dict[str, Any]:
        comment = self.state.issue_comments.get(int(comment_id))
        if comment is None or comment["repo"] != repo:
            raise _HttpError(404, "Not Found")
        return comment

    def _get_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, id: str) -> Any:
        return 200, _issue_comment_json(self.state, self._find_issue_comment(repo, id)), None

    def _edit_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, id: str) -> Any:
        comment = self._find_issue_comment(repo, id)
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            raise _HttpError(
                422,
                "Validation Failed",
                errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        comment["body"] = text
        comment["updated_at"] = _now()
        return 200, _issue_comment_json(self.state, comment), None

    def _delete_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, id: str) -> Any:
        comment = self._find_issue_comment(repo, id)
        del self.state.issue_comments[comment["id"]]
        return 204, None, None

    def _list_review_comments(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        self._get_pull_state(self._get_repo_state(repo), number)
        comments = [c for c in self.state.review_comments.values() if c["repo"] == repo and c["number"] == int(number)]
        chunk, link = self._paginate(f"/repos/{repo}/pulls/{number}/comments", query, comments)
        return 200, [_review_comment_json(self.state, c) for c in chunk], link

    def _list_reviews(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        self._get_pull_state(self._get_repo_state(repo), number)
        reviews = [r for r in self.state.reviews.values() if r["repo"] == repo and r["number"] == int(number)]
        chunk, link = self._paginate(f"/repos/{repo}/pulls/{number}/reviews", query, reviews)
        return 200, [_review_json(self.state, r) for r in chunk], link

    def _check_review_target(self, pull: _Pull, spec: Mapping[str, Any]) -> str | None:
        """Why GitHub would refuse this inline comment ("path", "line", "start_line"), or None.

        Checked against the PR's own diff (``pulls/N/files``): a line only a merge of the base
        branch changed is not in it, as on GitHub.
        """
        entry = next((f for f in pull.files if f["filename"] == spec.get("path")), None)
        if entry is None:
            return "path"
        if spec.get("subject_type") == "file":
            return None
        right, left, positions = _diff_targets(entry.get("patch"))
        if spec.get("line") is None:
            position = spec.get("position")
            if isinstance(position, int) and 1 <= position <= positions:
                return None
            return "line"
        lines = left if spec.get("side", "RIGHT") == "LEFT" else right
        if spec["line"] not in lines:
            return "line"
        start = spec.get("start_line")
        if start is not None:
            start_lines = left if spec.get("start_side", spec.get("side", "RIGHT")) == "LEFT" else right
            if start not in start_lines or start > spec["line"]:
                return "start_line"
        return None

    def _store_review_comment(
        self, repo: str, pull: _Pull, spec: Mapping[str, Any], commit_id: str, review_id: int | None
    ) -> dict[str, Any]:
        comment_id = next(self.state.ids)
        now = _now()
        entry = next(f for f in pull.files if f["filename"] == spec["path"])
        comment = {
            "id": comment_id,
            "node_id": f"PRRC_fake{comment_id}",
            "repo": repo,
            "number": pull.number,
            "review_id": review_id,
            "user": self.state.comment_author,
            "created_at": now,
            "updated_at": now,
            "commit_id": commit_id,
            "diff_hunk": entry.get("patch", ""),
            "minimized_reason": None,
            "subject_type": spec.get("subject_type", "line"),
            "side": spec.get("side", "RIGHT") if spec.get("line") is not None else None,
        }
        for key in ("body", "path", "line", "start_line", "start_side", "position"):
            comment[key] = spec.get(key)
        self.state.review_comments[comment_id] = comment
        return comment

    def _create_review_comment(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        spec = body if isinstance(body, dict) else {}
        for name in ("body", "commit_id", "path"):
            if not spec.get(name):
                raise _HttpError(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "PullRequestReviewComment", "code": "missing_field", "field": name}],
                )
        if spec["commit_id"] not in (pull.head_sha, *pull.commits):
            raise _HttpError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequestReviewComment",
                        "code": "custom",
                        "field": "commit_id",
                        "message": "commit_id is not part of the pull request",
                    }
                ],
            )
        problem = self._check_review_target(pull, spec)
        if problem is not None:
            raise _HttpError(
                422,
                "Validation Failed",
                errors=_SINGLE_COMMENT_ERRORS[problem],
                documentation_url="https://docs.github.com/rest/pulls/comments#create-a-review-comment-for-a-pull-request",
            )
        comment = self._store_review_comment(repo, pull, spec, spec["commit_id"], None)
        return 201, _review_comment_json(self.state, comment), None

    def _create_review(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        pull = self._get_pull_state(state, number)
        spec = body if isinstance(body, dict) else {}
        commit_id = spec.get("commit_id") or pull.head_sha
        if commit_id not in (pull.head_sha, *pull.commits):
            raise _HttpError(422, "Unprocessable Entity", errors=["Commit not found in pull request"])
        event = spec.get("event")
        states = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
            None: "PENDING",
        }
        if event not in states:
            raise _HttpError(422, "Unprocessable Entity", errors=[f"Unknown event {event!r}"])
        comments = spec.get("comments") or []
        if event in ("REQUEST_CHANGES", "COMMENT") and not spec.get("body") and not comments:
            raise _HttpError(
                422, "Unprocessable Entity", errors=[f"Review body is required for {event.lower()} events"]
            )
        problems = sorted({p for p in (self._check_review_target(pull, c) for c in comments) if p})
        if problems:
            # GitHub joins its sentences into one string ("... and ...").
            raise _HttpError(
                422,
                "Unprocessable Entity",
                errors=[" and ".join(_REVIEW_ERRORS[p] for p in problems) + " and " + _BLANK_HUNK],
                documentation_url="https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
            )
        review_id = next(self.state.ids)
        review = {
            "id": review_id,
            "node_id": f"PRR_fake{review_id}",
            "repo": repo,
            "number": pull.number,
            "user": self.state.comment_author,
            "body": spec.get("body", ""),
            "state": states[event],
            "commit_id": commit_id,
            "submitted_at": _now() if event else None,
        }
        self.state.reviews[review_id] = review
        for c in comments:
            self._store_review_comment(repo, pull, c, commit_id, review_id)
        return 200, _review_json(self.state, review), None

    def _compare(self, query: Mapping[str, str], body: Any, repo: str, basehead: str) -> Any:
        state = self._get_repo_state(repo)
        if "..." not in basehead:
            raise _HttpError(404, "Not Found")
        base, head = (side.split(":", 1)[-1] for side in basehead.split("...", 1))
        if not self._ref_candidates(state, base) or not self._ref_candidates(state, head):
            raise _HttpError(404, "Not Found")
        known = state.compares.get((base, head))
        if known is None:
            pull = next(
                (
                    p
                    for p in state.pulls.values()
                    if (base, head) in ((p.base_sha, p.head_sha), (p.base_ref, p.head_ref))
                ),
                None,
            )
            known = {"files": pull.files, "commits": pull.commits} if pull else {"files": [], "commits": []}
        commits = known["commits"] if base != head else []
        chunk, link = self._paginate(
            f"/repos/{repo}/compare/{basehead}", query, commits, default_per_page=250, max_per_page=1000
        )
        api = f"{self.state.base}{API_PREFIX}/repos/{repo}"
        data = {
            "url": f"{api}/compare/{basehead}",
            "html_url": f"{self.state.base}/{repo}/compare/{basehead}",
            "permalink_url": f"{self.state.base}/{repo}/compare/{basehead}",
            "diff_url": f"{self.state.base}/{repo}/compare/{basehead}.diff",
            "patch_url": f"{self.state.base}/{repo}/compare/{basehead}.patch",
            "base_commit": _commit_json(self.state, state, base),
            "merge_base_commit": _commit_json(self.state, state, base),
            "status": "identical" if not commits else "ahead",
            "ahead_by": len(commits),
            "behind_by": 0,
            "total_commits": len(commits),
            "commits": [_commit_json(self.state, state, sha) for sha in chunk],
            "files": [_file_json(self.state, repo, head, f) for f in known["files"][:COMPARE_FILES_CAP]],
        }
        return 200, data, link

    def _contents(self, query: Mapping[str, str], body: Any, repo: str, path: str = "") -> Any:
        state = self._get_repo_state(repo)
        ref = query.get("ref") or state.default_branch
        candidates = self._ref_candidates(state, ref)
        if not candidates:
            raise _HttpError(404, f"No commit found for the ref {ref}")
        path = path.strip("/")
        for owner, key in candidates:
            tree = owner.trees.get(key, {})
            if path in tree:
                return 200, self._content_json(repo, ref, path, tree[path]), None
            prefix = f"{path}/" if path else ""
            children = sorted(
                {
                    p[len(prefix) :].split("/", 1)[0] + ("/" if "/" in p[len(prefix) :] else "")
                    for p in tree
                    if p.startswith(prefix)
                }
            )
            if children:
                entries = []
                for child in children:
                    name = child.rstrip("/")
                    child_path = f"{prefix}{name}"
                    if child.endswith("/"):
                        entries.append(self._content_json(repo, ref, child_path, None))
                    else:
                        entry = self._content_json(repo, ref, child_path, tree[child_path])
                        entry.pop("content")
                        entry.pop("encoding")
                        entries.append(entry)
                return 200, entries, None
        raise _HttpError(404, "Not Found")

    def _content_json(self, repo: str, ref: str, path: str, data: bytes | None) -> dict[str, Any]:
        quoted = urllib.parse.quote(path)
        api = f"{self.state.base}{API_PREFIX}/repos/{repo}"
        sha = _blob_sha(data) if data is not None else hashlib.sha1(f"tree:{ref}:{path}".encode()).hexdigest()
        entry: dict[str, Any] = {
            "type": "file" if data is not None else "dir",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(data) if data is not None else 0,
            "url": f"{api}/contents/{quoted}?ref={urllib.parse.quote(ref)}",
            "html_url": f"{self.state.base}/{repo}/blob/{ref}/{quoted}",
            "git_url": f"{api}/git/blobs/{sha}",
            "download_url": f"{self.state.base}/{repo}/raw/{ref}/{quoted}" if data is not None else None,
        }
        entry["_links"] = {"self": entry["url"], "git": entry["git_url"], "html": entry["html_url"]}
        if data is not None:
            encoded = base64.b64encode(data).decode()
            # GitHub wraps base64 content at 60 characters.
            entry["content"] = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
            entry["encoding"] = "base64"
        return entry

    # graphql

    def _graphql(self, body: Any) -> dict[str, Any]:
        query = body.get("query", "") if isinstance(body, dict) else ""
        variables = (body.get("variables") or {}) if isinstance(body, dict) else {}
        match = re.search(r"\b(minimizeComment|unminimizeComment)\s*\(", query)
        if match is None:
            return {"errors": [{"message": "fake GitHub GraphQL supports only minimizeComment and unminimizeComment"}]}
        mutation = match.group(1)
        arguments = variables.get("input") or {}
        subject = arguments.get("subjectId")
        comment = next(
            (
                c
                for c in [*self.state.issue_comments.values(), *self.state.review_comments.values()]
                if c["node_id"] == subject
            ),
            None,
        )
        if comment is None:
            return {
                "data": {mutation: None},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": [mutation],
                        "message": f"Could not resolve to a node with the global id of '{subject}'",
                    }
                ],
            }
        if mutation == "minimizeComment":
            classifier = arguments.get("classifier")
            if classifier not in MINIMIZE_CLASSIFIERS:
                message = (
                    f"Argument 'classifier' on InputObject 'MinimizeCommentInput' has an invalid "
                    f"value ({classifier}). Expected type 'ReportedContentClassifiers!'."
                )
                return {"errors": [{"message": message}]}
            comment["minimized_reason"] = classifier
            result = {"isMinimized": True, "minimizedReason": classifier.lower()}
            return {"data": {mutation: {"minimizedComment": result}}}
        comment["minimized_reason"] = None
        return {"data": {mutation: {"unminimizedComment": {"isMinimized": False, "minimizedReason": None}}}}


# What GitHub answers for an inline comment outside the PR's diff (bodies seen from api.github.com):
# inside a review (POST pulls/N/reviews) one joined sentence; alone (POST pulls/N/comments) an error object.
_BLANK_HUNK = "Pull request review thread diff hunk can't be blank"
_REVIEW_ERRORS = {
    "path": "Pull request review thread path is invalid",
    "line": "Pull request review thread line must be part of the diff",
    "start_line": "Pull request review thread start line must be part of the same hunk as the line.",
}
_SINGLE_COMMENT_ERRORS: dict[str, list[dict[str, str]]] = {
    "path": [
        {"resource": "PullRequestReviewComment", "code": "invalid", "field": "pull_request_review_thread.path"},
        {"resource": "PullRequestReviewComment", "code": "missing_field", "field": "pull_request_review_thread.diff_hunk"},
    ],
    "line": [
        {
            "resource": "PullRequestReviewComment",
            "code": "custom",
            "field": "pull_request_review_thread.line",
            "message": "could not be resolved",
        }
    ],
    "start_line": [
        {
            "resource": "PullRequestReviewComment",
            "code": "custom",
            "field": "pull_request_review_thread.start_line",
            "message": "could not be resolved",
        }
    ],
}


FakeGitHubServer.handler = _Handler  # the handler comes after the fake, with the routes it serves


@dataclass(frozen=True)
class _Raw:
    status: int
    data: bytes
    content_type: str
    headers: Mapping[str, str]


def _json_raw(status: int, payload: Any, link: str | None = None) -> _Raw:
    data = b"" if status == 204 else json.dumps(payload).encode()
    return _Raw(status, data, "application/json; charset=utf-8", {"link": link} if link else {})

