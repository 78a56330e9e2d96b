"""acme-ci-budget: spending guardrails for Claude-powered agents in CI and daily tools.

The public names are imported lazily (PEP 562), so ``import acme_ci_budget`` and
the CLI's ``--help`` do not pay for Redis, Jinja or the model SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_config": "acme_ci_budget.config",
    "Config": "acme_ci_budget.config",
    "ConfigError": "acme_ci_budget.config",
    "calculate_cost": "acme_ci_budget.catalog.pricing",
    "build_estimate": "acme_ci_budget.budget.estimate",
    "BudgetEnforcer": "acme_ci_budget.ledger.enforcer",
    "TaskRouter": "acme_ci_budget.client.router",
    "BudgetedClient": "acme_ci_budget.client.budgeted",
    "AcmeBudgetedClient": "acme_ci_budget.client.budgeted",
    "AlertManager": "acme_ci_budget.alerts.manager",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'acme_ci_budget' has no attribute {name!r}")
    return getattr(import_module(module), name)
