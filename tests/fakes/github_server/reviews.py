"""Fake GitHub routes for pull request reviews and review (inline) comments.

Owns: GET/POST pulls/{n}/comments and pulls/{n}/reviews, whether an inline comment targets the
PR's diff, and GitHub's error bodies when it does not. Must not: hold state of its own.

Fidelity notes:
- Review comments (single or inside a review) must target a path in the PR's files and a line
  inside a diff hunk on the given side (RIGHT by default), or a diff position; otherwise 422 with
  GitHub's bodies: inside a review, "Pull request review thread line must be part of the diff and
  Pull request review thread diff hunk can't be blank"; alone, field
  "pull_request_review_thread.line" "could not be resolved". commit_id must be the head or a PR commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.diffs import _diff_targets
from tests.fakes.github_server.handler_base import _HandlerBase
from tests.fakes.github_server.replies import _HttpError
from tests.fakes.github_server.shapes import (
    _review_comment_json,
    _review_json,
)
from tests.fakes.github_server.state import (
    _now,
    _Pull,
)

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
        {
            "resource": "PullRequestReviewComment",
            "code": "missing_field",
            "field": "pull_request_review_thread.diff_hunk",
        },
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


class _ReviewRoutes(_HandlerBase):
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
