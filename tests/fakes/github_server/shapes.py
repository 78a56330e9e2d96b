"""The JSON bodies the fake GitHub answers with: users, repositories, pulls, labels, files, commits,
issue comments, review comments and reviews, with links pointing back at the fake.

Owns: turning state records into the REST shapes PyGithub parses. Must not: change state or decide
status codes.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

from tests.fakes.github_server.state import (
    API_PREFIX,
    _Pull,
    _Repo,
    _State,
)


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
