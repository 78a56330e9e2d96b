"""What every fake GitHub route shares: sending a raw reply with GitHub's headers, pagination, finding
a repository or pull, and resolving a ref.

Owns: ``_HandlerBase``. Must not: serve a route (the route modules do).

Fidelity notes:
- Pagination: page/per_page (default 30, capped at 100) with a Link header (first, prev, next,
  last) whose URLs PyGithub follows. Pages past the end are empty lists.
- Refs resolve as branch names, SHAs, refs/heads/x and pull/N/head; a fork PR's head SHA also
  resolves in the base repo (GitHub keeps refs/pull/N/head there); a forgotten SHA does not.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.github_server.replies import _HttpError, _Raw
from tests.fakes.github_server.state import (
    API_PREFIX,
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    _Pull,
    _Repo,
    _State,
)
from tests.fakes.loopback import LoopbackHandler


class _HandlerBase(LoopbackHandler):
    state: _State

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
