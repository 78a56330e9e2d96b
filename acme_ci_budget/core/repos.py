"""Repository names as the ledger attributes calls to them: ``owner/name``, as GitHub spells them.

Owns the one rule for a repository name (config's ``repos:`` keys, ``--repo``, ``$GITHUB_REPOSITORY``)
and where a process's repository comes from when none is given. It must not look anything up on
GitHub: a name is checked for shape only. The ledger's scripts check the same shape again before they
write (``repo_arg`` in ``ledger/lua/_args.lua``).
"""

from __future__ import annotations

import os
import re

from acme_ci_budget.core.errors import UsageError

# GitHub: an owner is up to 39 letters, digits or hyphens (not first); a name up to 100 of those, '.' or '_'.
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
REPO_ENV = "GITHUB_REPOSITORY"


def is_repo_name(value: object) -> bool:
    """True for ``owner/name`` as GitHub allows them."""
    return isinstance(value, str) and REPO_NAME.fullmatch(value) is not None and value.split("/")[1] not in (".", "..")


def resolve_repo(repo: str | None, where: str = "--repo") -> str:
    """The repository calls are attributed to: ``repo`` when given, else ``$GITHUB_REPOSITORY``, else ''
    (none known). A malformed name is a ``UsageError`` naming ``where`` (or the variable)."""
    if repo is None or repo == "":
        repo, where = os.environ.get(REPO_ENV, ""), REPO_ENV
    if repo and not is_repo_name(repo):
        raise UsageError(f"{where} {repo[:140]!r}: expected OWNER/NAME (a GitHub repository)")
    return repo
