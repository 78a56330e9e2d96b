"""The fake GitHub's public face: ``FakeGitHubServer`` (lifecycle, URLs, configuration, inspection).

Owns: starting and stopping the loopback server (tests/fakes/loopback.py) with the request handler,
who comments and who ``GET /user`` is, and reading back comments, reviews and recorded requests.
Seeding lives in seeding.py. Must not: answer requests itself or reach the network.

Fidelity notes:
- GET /user answers 403 "Resource not accessible by integration" (with GitHub's documentation_url)
  like an Actions GITHUB_TOKEN, unless `authenticated_user` is set. New comments are authored by `comment_author`.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.github_server.handler import _Handler
from tests.fakes.github_server.seeding import _Seeding
from tests.fakes.github_server.state import (
    API_PREFIX,
    RecordedRequest,
    _State,
)
from tests.fakes.loopback import LoopbackFake


class FakeGitHubServer(_Seeding, LoopbackFake):
    """The fake GitHub API. start()/stop(), or use as a context manager. Seed state with add_* / set_*."""

    handler = _Handler

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
