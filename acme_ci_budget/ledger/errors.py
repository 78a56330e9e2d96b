"""What a ledger failure is: ``LedgerUnavailable`` and the one pair of Redis-error classifiers.

Owns the two questions every caller of the ledger asks about an exception, answered once:
``is_connection_error`` (Redis could not be reached or did not answer in time: transient, so a
settle is retried and then journaled, a reserve fails open or refuses, a read says "unreachable")
and ``is_ledger_error`` (any failure of the ledger, unreachable or refusing a write: a run stops
on it instead of crashing). It must not retry, log or reword anything, and imports ``redis`` only
inside the classifiers (it is a dependency, but ``--help`` need not load it).
"""

from __future__ import annotations

from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.ledger.store import StoreError


class LedgerUnavailable(AcmeError, ConnectionError):
    """Redis could not be reached and the config does not fail open."""


def is_connection_error(exc: BaseException) -> bool:
    """Redis unreachable or too slow (its connection and timeout errors, or a socket's ``OSError``)."""
    import redis

    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError))


def is_ledger_error(exc: BaseException) -> bool:
    """The ledger down or refusing a write: ours (``LedgerUnavailable``, ``StoreError``) or Redis' own errors."""
    if isinstance(exc, (LedgerUnavailable, StoreError)):
        return True
    import redis

    return isinstance(exc, redis.RedisError)
