"""Fake GitHub routes for pull requests: list, get (JSON or diff), files, commits, and the PR as an issue.

Owns: GET pulls, pulls/{n}, pulls/{n}/files, pulls/{n}/commits, issues/{n}. Must not: hold state of its own.

Fidelity notes:
- PR files list stops at 3000 files, as GitHub does ("lists a maximum of 3000 files"); the PR's
  `changed_files` still reports the true count, which is how a client can tell it was cut.
  PR commits list stops at 250.
- GET a pull with Accept: application/vnd.github.diff returns a unified diff built from the
  files' patches, or 406 "too_large" past 300 files, as GitHub does.
- Only pull requests exist as issues; plain issues are not served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.handler_base import _HandlerBase
from tests.fakes.github_server.replies import _HttpError, _Raw
from tests.fakes.github_server.shapes import (
    _commit_json,
    _file_json,
    _pull_json,
)
from tests.fakes.github_server.state import (
    DIFF_FILES_CAP,
    PR_COMMITS_CAP,
    PR_FILES_CAP,
)


class _PullRoutes(_HandlerBase):
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
