"""The ledger: the only owner of Redis keys, the Lua scripts (``lua/``), the store schemes, and the money.

``enforcer`` (reserve / settle / release, ``BudgetEnforcer``, the one handle), with beside it ``draft``
(checks and prices before Redis), ``args`` (the key schema, the scripts' keys and arguments),
``results`` (``Reservation`` / ``Settlement`` / ``Release``, the reasons), ``errors`` (the ledger's errors
and the one pair of Redis-error classifiers); ``status`` (status
and month reads), ``events`` (the event stream), ``lab`` (the lab's one-shot API), ``admin`` (reset,
inspection reads), ``claims`` (the alert module's claims, incidents and failure events), ``agent_runs`` (an
agent run's USD hold and per-model settle), ``scripts`` (loading and running the Lua scripts); ``store``
(connecting: ``redis://``, ``rediss://``, cluster, the embedded server), ``embedded`` (sharing the embedded
``redis-server`` between commands) and ``embedded_server`` (its process: layout, start, stop), ``journal``
(the fail-open journal of calls the ledger could not record). Layers above read and write the ledger
only through ``BudgetEnforcer``'s methods, never its keys or connection. It imports ``budget``,
``config``, ``catalog``, ``integrations`` and ``core``; never ``client``, ``alerts``, ``report`` or ``runs``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BudgetEnforcer": "enforcer",
        "Clock": "enforcer",
        "Keys": "args",
        "LedgerArgumentError": "errors",
        "LedgerUnavailable": "errors",
        "Release": "results",
        "Reservation": "results",
        "SettleError": "errors",
        "Settlement": "results",
        "RunUsage": "agent_runs",
        "RunSettlement": "agent_runs",
        "MonthFigures": "status",
        "StatusReads": "status",
        "is_connection_error": "errors",
        "is_ledger_error": "errors",
        "StoreError": "store",
        "connect": "store",
        "JournalEntry": "journal",
        "replay_pending": "journal",
    },
)
