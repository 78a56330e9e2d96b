"""Fake GitHub routes for issue comments on a pull request: list, create, get, edit, delete.

Owns: issues/{n}/comments and issues/comments/{id}, with GitHub's 422 bodies for a missing or too long
(over 65536 characters) body. Must not: hold state of its own; minimizing is GraphQL (graphql.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.handler_base import _HandlerBase
from tests.fakes.github_server.replies import _HttpError
from tests.fakes.github_server.shapes import (
    _issue_comment_json,
)
from tests.fakes.github_server.state import (
    _new_issue_comment,
    _now,
)


class _IssueCommentRoutes(_HandlerBase):
    def _list_issue_comments(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        self._get_pull_state(state, number)
        comments = [c for c in self.state.issue_comments.values() if c["repo"] == repo and c["number"] == int(number)]
        chunk, link = self._paginate(f"/repos/{repo}/issues/{number}/comments", query, comments)
        return 200, [_issue_comment_json(self.state, c) for c in chunk], link

    def _create_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, number: str) -> Any:
        state = self._get_repo_state(repo)
        self._get_pull_state(state, number)
        text = _comment_text(body)
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
        text = _comment_text(body)
        comment["body"] = text
        comment["updated_at"] = _now()
        return 200, _issue_comment_json(self.state, comment), None

    def _delete_issue_comment(self, query: Mapping[str, str], body: Any, repo: str, id: str) -> Any:
        comment = self._find_issue_comment(repo, id)
        del self.state.issue_comments[comment["id"]]
        return 204, None, None


def _comment_text(body: Any) -> str:
    """The ``body`` of a create/edit request, or GitHub's 422 missing_field when it is absent or empty."""
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        raise _HttpError(
            422,
            "Validation Failed",
            errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
        )
    return text
