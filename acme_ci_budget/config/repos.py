"""The ``repos:`` section: an optional monthly USD cap per repository (``owner/name``).

Owns the section's keys and bounds; the name rule is ``core.repos`` (the one the CLI and the ledger use).
The cap is enforced by the ledger's reserve script (``repo_limit_exceeded``). It must not read other
sections: a repository's cap is independent of the workflows' and the org's budgets.
"""

from __future__ import annotations

from typing import Any

from acme_ci_budget.config.fields import Fields
from acme_ci_budget.config.model import RepoBudget
from acme_ci_budget.core.repos import is_repo_name


def repos_section(v: Fields, value: Any) -> dict[str, RepoBudget]:
    body = v.mapping(value, "repos", set(value) if isinstance(value, dict) else set())
    out = {}
    for name, entry in body.items():
        where = f"repos.{name}"
        if not is_repo_name(name):
            raise v.fail(where, "repository names are OWNER/NAME (a GitHub repository)")
        entry = v.mapping(entry, where, {"monthly_usd"}, {"monthly_usd"})
        out[name] = RepoBudget(name, v.usd(entry["monthly_usd"], f"{where}.monthly_usd"))
    return out
