"""The ledger: the only owner of Redis keys, the Lua scripts (``lua/``), the store schemes, and the money.

``enforcer`` (reserve / settle / release, ``BudgetEnforcer``), ``status`` (status reads), ``store``
(connecting: ``redis://``, ``rediss://``, cluster, the embedded server), ``embedded`` (the embedded
``redis-server``), ``journal`` (the fail-open journal of calls the ledger could not record), ``errors``
(``LedgerUnavailable`` and the one pair of Redis-error classifiers). It imports ``budget``, ``config``,
``catalog`` and ``core``; never ``client``, ``alerts``, ``report`` or ``runs``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BudgetEnforcer": "enforcer",
        "Clock": "enforcer",
        "Keys": "enforcer",
        "LedgerArgumentError": "enforcer",
        "LedgerUnavailable": "errors",
        "Release": "enforcer",
        "Reservation": "enforcer",
        "SettleError": "enforcer",
        "Settlement": "enforcer",
        "StatusReads": "status",
        "is_connection_error": "errors",
        "is_ledger_error": "errors",
        "StoreError": "store",
        "connect": "store",
        "JournalEntry": "journal",
        "replay_pending": "journal",
    },
)
