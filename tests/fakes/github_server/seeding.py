"""Seeding the fake GitHub: repositories, branches, files per ref, commits, pull requests, compares,
a merged base branch, existing comments.

Owns: ``_Seeding``, the add_* / set_* / update_* helpers ``FakeGitHubServer`` offers tests. Must not:
answer requests or shape JSON.

Fidelity notes:
- merge_base_into_pull(): the author merges the base branch in; compare from the old head then
  lists the base branch's files too, the PR's file list does not.
- forget_commit() makes a SHA unknown (history rewritten by a force-push): compare and contents 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tests.fakes.github_server.state import (
    _new_issue_comment,
    _now,
    _Pull,
    _Repo,
    _State,
)


class _Seeding:
    """The seeding half of FakeGitHubServer (``self._state`` is the fake's ``_State``)."""

    _state: _State

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        fork_of: str | None = None,
    ) -> None:
        """Create a repository (idempotent)."""
        with self._state.lock:
            if full_name not in self._state.repos:
                self._state.repos[full_name] = _Repo(next(self._state.ids), full_name, default_branch, private, fork_of)

    def _repo(self, full_name: str) -> _Repo:
        self.add_repo(full_name)
        return self._state.repos[full_name]

    def set_branch(self, full_name: str, branch: str, sha: str) -> None:
        with self._state.lock:
            repo = self._repo(full_name)
            repo.branches[branch] = sha
            repo.commits.setdefault(sha, {"message": f"commit {sha}", "parents": []})

    def set_file(self, full_name: str, ref: str, path: str, content: str | bytes) -> None:
        """Content of `path` at `ref` (a branch name or a SHA) for the contents endpoint."""
        data = content.encode() if isinstance(content, str) else content
        with self._state.lock:
            self._repo(full_name).trees.setdefault(ref, {})[path.strip("/")] = data

    def add_commit(
        self, full_name: str, sha: str, message: str = "", *, parents: Sequence[str] = (), author: str = "dev"
    ) -> None:
        with self._state.lock:
            repo = self._repo(full_name)
            repo.forgotten.discard(sha)
            repo.commits[sha] = {
                "message": message or f"commit {sha}",
                "parents": list(parents),
                "author": author,
            }

    def forget_commit(self, full_name: str, sha: str) -> None:
        """Make `sha` unknown (history rewritten by a force-push): compare and contents then 404."""
        with self._state.lock:
            repo = self._repo(full_name)
            repo.commits.pop(sha, None)
            repo.trees.pop(sha, None)
            repo.forgotten.add(sha)

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        title: str = "A change",
        body: str = "",
        user: str = "dev",
        head_sha: str = "head0000",
        head_ref: str = "feature",
        head_repo: str | None = None,
        base_sha: str = "base0000",
        base_ref: str = "main",
        draft: bool = False,
        state: str = "open",
        labels: Iterable[str] = (),
        files: Iterable[Mapping[str, Any]] = (),
        commits: Iterable[str] = (),
    ) -> None:
        """A pull request. head_repo other than full_name makes it a PR from a fork.
        `commits` defaults to [head_sha]."""
        with self._state.lock:
            repo = self._repo(full_name)
            source = self._repo(head_repo or full_name)
            if head_repo and head_repo != full_name and source.parent is None:
                source.parent = full_name
            repo.branches.setdefault(base_ref, base_sha)
            source.branches[head_ref] = head_sha
            commit_list = list(commits) or [head_sha]
            for sha in [base_sha, *commit_list, head_sha]:
                target = repo if sha == base_sha else source
                target.commits.setdefault(sha, {"message": f"commit {sha}", "parents": [], "author": user})
            repo.pulls[number] = _Pull(
                number,
                next(self._state.ids),
                title,
                body,
                user,
                state,
                draft,
                list(labels),
                head_ref,
                head_sha,
                source.full_name,
                base_ref,
                base_sha,
                [dict(f) for f in files],
                commit_list,
                _now(),
            )

    def update_pull(self, full_name: str, number: int, **changes: Any) -> None:
        """Change fields of a PR (e.g. head_sha=... for a new push, draft=False, files=[...])."""
        with self._state.lock:
            pull = self._state.repos[full_name].pulls[number]
            for key, value in changes.items():
                if not hasattr(pull, key):
                    raise AttributeError(f"pull request has no field {key!r}")
                setattr(pull, key, value)
            if "head_sha" in changes:
                source = self._repo(pull.head_repo)
                source.branches[pull.head_ref] = pull.head_sha
                source.commits.setdefault(pull.head_sha, {"message": "", "parents": [], "author": pull.user})
                source.forgotten.discard(pull.head_sha)
                if "commits" not in changes:
                    pull.commits.append(pull.head_sha)

    def add_pull_files(self, full_name: str, number: int, files: Iterable[Mapping[str, Any]]) -> None:
        with self._state.lock:
            self._state.repos[full_name].pulls[number].files.extend(dict(f) for f in files)

    def set_compare(
        self,
        full_name: str,
        base: str,
        head: str,
        *,
        files: Iterable[Mapping[str, Any]] = (),
        commits: Iterable[str] = (),
    ) -> None:
        """What compare/{base}...{head} returns (both refs become known)."""
        with self._state.lock:
            repo = self._repo(full_name)
            commit_list = list(commits) or [head]
            for sha in [base, *commit_list]:
                repo.forgotten.discard(sha)
                repo.commits.setdefault(sha, {"message": f"commit {sha}", "parents": [], "author": "dev"})
            repo.compares[(base, head)] = {"files": [dict(f) for f in files], "commits": commit_list}

    def merge_base_into_pull(
        self,
        full_name: str,
        number: int,
        *,
        merge_sha: str,
        base_sha: str,
        base_files: Iterable[Mapping[str, Any]],
    ) -> str:
        """The author merges the base branch (now at ``base_sha``) into the PR branch: a merge commit
        ``merge_sha`` becomes the head. Returns the previous head.

        As on GitHub: the PR's diff is three-dot, against the merge base, which the merge moves to
        ``base_sha``, so the PR's file list (``files``) does not change; ``compare/{previous
        head}...{merge_sha}`` does list what came in, ``base_files`` (the base branch's changes),
        with status "ahead". Inline comments are checked against the PR's list, so one on a line
        only the base branch changed is refused with 422. A later push on top of the merge is
        ``update_pull(head_sha=...)`` with ``set_compare`` listing both (a compare spans commits).
        """
        with self._state.lock:
            repo = self._state.repos[full_name]
            pull = repo.pulls[number]
            previous = pull.head_sha
            repo.branches[pull.base_ref] = base_sha
            repo.commits.setdefault(base_sha, {"message": f"commit {base_sha}", "parents": [], "author": "dev"})
            source = self._repo(pull.head_repo)
            source.commits[merge_sha] = {
                "message": f"Merge branch '{pull.base_ref}' into {pull.head_ref}",
                "parents": [previous, base_sha],
                "author": pull.user,
            }
            source.branches[pull.head_ref] = merge_sha
            pull.head_sha, pull.base_sha = merge_sha, base_sha
            pull.commits.append(merge_sha)
            repo.compares[(previous, merge_sha)] = {"files": [dict(f) for f in base_files], "commits": [merge_sha]}
        return previous

    def add_issue_comment(self, full_name: str, number: int, body: str, *, user: str | None = None) -> int:
        """Seed an existing comment on PR `number`; returns its id."""
        with self._state.lock:
            self._pull(self._state.repos[full_name], number)
            author = user or self._state.comment_author
            return _new_issue_comment(self._state, full_name, number, body, author)

    @staticmethod
    def _pull(repo: _Repo, number: int) -> _Pull:
        try:
            return repo.pulls[number]
        except KeyError:
            raise KeyError(f"{repo.full_name} has no pull request #{number}") from None
