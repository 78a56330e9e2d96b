"""The fake GitHub's in-memory state: repositories, pull requests, comments, reviews, recorded requests.

Owns: the API paths and the limits GitHub documents (page sizes, file and commit caps), the records
(``_Repo``, ``_Pull``, ``_State``, ``RecordedRequest``) and creating an issue comment record. Must not:
shape JSON (shapes.py) or answer requests (the route modules).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
REDACTED = "<redacted>"

PR_FILES_CAP = 3000
PR_COMMITS_CAP = 250
COMPARE_FILES_CAP = 300
DIFF_FILES_CAP = 300
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it: path without the /api/v3 prefix and without the query."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
