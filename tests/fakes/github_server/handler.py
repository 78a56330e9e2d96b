"""The fake GitHub's request handler: the routing table, dispatch, recording, authentication.

Owns: ``_ROUTES`` (method, path pattern, route name) and ``_Handler``, which reads a request, records
it (Authorization and Cookie redacted), runs the route under the state lock and writes the reply.
The routes themselves live in one module per resource family. Must not: reach the network.

Fidelity notes:
- Writes without an Authorization header get 401 "Requires authentication".
- Unknown paths get 404 "Not Found" with GitHub's error body.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.contents import _ContentsRoutes
from tests.fakes.github_server.graphql import _GraphQLRoutes
from tests.fakes.github_server.issue_comments import _IssueCommentRoutes
from tests.fakes.github_server.pulls import _PullRoutes
from tests.fakes.github_server.replies import _HttpError, _json_raw, _Raw
from tests.fakes.github_server.repos import _RepoRoutes
from tests.fakes.github_server.reviews import _ReviewRoutes
from tests.fakes.github_server.state import (
    API_PREFIX,
    GRAPHQL_PATH,
    REDACTED,
    RecordedRequest,
    _State,
)

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


class _Handler(_RepoRoutes, _PullRoutes, _IssueCommentRoutes, _ReviewRoutes, _ContentsRoutes, _GraphQLRoutes):
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
