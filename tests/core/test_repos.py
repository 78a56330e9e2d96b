"""core.repos: the one rule for a repository name, and where a process's repository comes from."""

from __future__ import annotations

import pytest

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.repos import is_repo_name, resolve_repo


@pytest.mark.parametrize("name", ["acme/app", "Acme-2/web.site_x", "a/b", "o" * 39 + "/" + "n" * 100, "a/.github"])
def test_github_names_are_accepted(name):
    assert is_repo_name(name)


@pytest.mark.parametrize(
    "name", ["", "acme", "acme/", "/app", "acme/app/x", "-acme/app", "acme/a b", "o" * 40 + "/a", "a/" + "n" * 101,
             "acme/..", "acme/.", "ac:me/app", "{acme}/app", None, 3],
)
def test_anything_else_is_refused(name):
    assert not is_repo_name(name)


def test_resolve_repo_given_then_environment_then_none(monkeypatch):
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert resolve_repo(None) == ""
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    assert resolve_repo(None) == "acme/app"
    assert resolve_repo("acme/web") == "acme/web"
    with pytest.raises(UsageError, match=r"^--repo 'acme': expected OWNER/NAME"):
        resolve_repo("acme")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme")
    with pytest.raises(UsageError, match=r"^GITHUB_REPOSITORY 'acme': expected OWNER/NAME"):
        resolve_repo("")
