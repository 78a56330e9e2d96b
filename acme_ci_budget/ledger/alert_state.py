"""What the alert module is given of the ledger's Redis for its own state, and nothing more.

The alert module keeps its dedup claims, open incidents and blocked-seen marks in the ledger's
Redis, under the ledger's namespace (so one namespace is one budget, alerts included). Owns the
two things it is handed for that: ``alert_key(enforcer, *parts)``, the key of one piece of that
state (``Keys.alert``; ``reserve`` reads the incidents' count from the same key), and
``alert_store(enforcer)``, the connection it lives on. Functions taking a ``BudgetEnforcer``,
which re-exposes them as methods. What alerts read of the money (spend, holds, month stats) goes
through ``ledger.status`` (``month_figures``); the delivery-failure event through
``ledger.events``. It must not hand out a money-path key, and must not read or write anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer


def alert_key(enforcer: BudgetEnforcer, *parts: str) -> str:
    """The key of one piece of the alert module's state in the enforcer's namespace (``prefix`` + ``alert:a:b``)."""
    return enforcer.keys.alert(*parts)


def alert_store(enforcer: BudgetEnforcer) -> Any:
    """The Redis client the alert module keeps its state on: the ledger's own connection."""
    return enforcer.redis
