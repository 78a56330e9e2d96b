"""Compatibility shim (a package, so git follows router.py to client/router.py): ``acme_ci_budget.router`` is
now ``acme_ci_budget.client.router``.

Kept so the lab's ``from acme_ci_budget.router import TaskRouter`` keeps working. It must not grow
code of its own; import from ``acme_ci_budget.client.router`` in new code.
"""

from __future__ import annotations

from acme_ci_budget.client.router import RouteDecision, TaskRouter

__all__ = ["RouteDecision", "TaskRouter"]
