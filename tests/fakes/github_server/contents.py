"""Fake GitHub route for repository contents: a file (base64) or a directory listing at a ref.

Owns: GET /repos/{o}/{r}/contents/{path}?ref= and the git blob SHA. Must not: hold state of its own.

Fidelity notes:
- Contents: GET /repos/{o}/{r}/contents/{path}?ref= resolves branch names, SHAs, refs/heads/x
  and pull/N/head; a fork PR's head SHA also resolves in the base repo (GitHub keeps
  refs/pull/N/head there). Unknown ref -> 404 "No commit found for the ref X".
  Files are base64 with a git blob SHA; large-file ("encoding: none") handling is not mimicked.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.handler_base import _HandlerBase
from tests.fakes.github_server.replies import _HttpError
from tests.fakes.github_server.state import (
    API_PREFIX,
)


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _ContentsRoutes(_HandlerBase):
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
