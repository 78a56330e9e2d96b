"""Fake GitHub routes for the user, repositories, commits and compare.

Owns: GET /user, GET /repos/{o}/{r}, GET /repos/{o}/{r}/commits/{sha}, GET /repos/{o}/{r}/compare/{basehead}.
Must not: hold state of its own.

Fidelity notes:
- GET /user answers 403 "Resource not accessible by integration" like an Actions GITHUB_TOKEN
  unless `authenticated_user` is set.
- Compare /repos/{o}/{r}/compare/{base}...{head}: 404 when either side is unknown, e.g. after
  forget_commit() (history rewritten by a force-push). At most 300 files, commits paginated
  (default 250).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.handler_base import _HandlerBase
from tests.fakes.github_server.replies import _HttpError
from tests.fakes.github_server.shapes import (
    _commit_json,
    _file_json,
    _repo_json,
    _user_json,
)
from tests.fakes.github_server.state import (
    API_PREFIX,
    COMPARE_FILES_CAP,
)


class _RepoRoutes(_HandlerBase):
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

    def _get_commit(self, query: Mapping[str, str], body: Any, repo: str, sha: str) -> Any:
        state = self._get_repo_state(repo)
        for owner, key in self._ref_candidates(state, sha):
            resolved = owner.branches.get(key, key)
            if resolved in owner.commits:
                return 200, _commit_json(self.state, owner, resolved), None
        raise _HttpError(422, f"No commit found for SHA: {sha}")

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
