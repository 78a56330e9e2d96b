"""Alerts: the conditions, their dedup, and delivery to Slack and PagerDuty.

``manager`` (``AlertManager``: which conditions hold, which are new, delivering them once, failure
events, scrubbing) and ``delivery`` (one webhook POST with the receiver's retry rules, and the
per-channel claim values). It reads the ledger through ``BudgetEnforcer`` (its status reads and
events), never by composing Redis keys of its own for spend; it imports ``ledger``, ``budget``,
``config``, ``integrations`` and ``core``, never ``client``, ``report`` or ``runs``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Alert": "manager",
        "AlertError": "manager",
        "AlertManager": "manager",
        "Delivery": "delivery",
    },
)
