"""The ledger's errors, the one pair of Redis-error classifiers, and what an outage means for a reserve.

Owns ``LedgerUnavailable`` (Redis could not be reached and the config does not fail open),
``SettleError`` (a settle or release given something it cannot record) and ``LedgerArgumentError``
(a Lua script refused an argument before writing); the two questions every caller of the ledger
asks about an exception, answered once: ``is_connection_error`` (Redis could not be reached or did
not answer in time: transient, so a settle is retried and then journaled, a reserve fails open or
refuses, a read says "unreachable") and ``is_ledger_error`` (any failure of the ledger, unreachable
or refusing a write: a run stops on it instead of crashing); and ``reserve_outage``: a reserve
Redis could not answer is refused with ``LedgerUnavailable``, or, with ``ledger.fail_open``, let
through loudly, unbudgeted. It must not talk to Redis or hold any state, and never shows a password.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from acme_ci_budget.config import Config
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.ledger.results import LEDGER_DOWN, Reservation
from acme_ci_budget.ledger.store import StoreError

log = logging.getLogger("acme_ci_budget.ledger")


class LedgerUnavailable(AcmeError, ConnectionError):
    """Redis could not be reached and the config does not fail open."""


class SettleError(AcmeError, ValueError):
    """A settle or release was given something it cannot record (negative tokens, a foreign reservation)."""


class LedgerArgumentError(SettleError):
    """A ledger script refused an argument (out of range, malformed) before writing anything."""


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means Redis is unreachable (connection refused or lost, timed out), not a bug."""
    import redis as redis_lib

    return isinstance(exc, (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError))


def reserve_outage(config: Config, where: str, exc: Exception, draft: Reservation) -> Reservation:
    """What ``reserve`` answers when its script failed with ``exc`` (``where``: the redacted URL).

    Not an outage: ``exc`` is raised as it is. An outage: ``LedgerUnavailable``, unless the config
    fails open, when the draft is allowed unbudgeted (``fail_open``, reason ``LEDGER_DOWN``), with a
    warning logged and carried in its warnings.
    """
    if not is_connection_error(exc):
        raise exc
    if not config.ledger.fail_open:
        raise LedgerUnavailable(
            f"budget ledger unreachable at {where} ({exc.__class__.__name__}); refusing to spend without it "
            "(set ledger.fail_open: true to allow calls while Redis is down)"
        ) from None
    message = (
        f"LEDGER UNREACHABLE at {where}: fail_open is on, letting {draft.workflow_id} call {draft.model} UNBUDGETED"
    )
    log.warning(message)
    return replace(
        draft,
        id=f"failopen-{draft.id}",
        allowed=True,
        reason=LEDGER_DOWN,
        held_nano=0,
        warnings=(*draft.warnings, message),
        fail_open=True,
    )


def is_ledger_error(exc: BaseException) -> bool:
    """The ledger down or refusing a write: ours (``LedgerUnavailable``, ``StoreError``) or Redis' own errors."""
    if isinstance(exc, (LedgerUnavailable, StoreError)):
        return True
    import redis as redis_lib

    return isinstance(exc, redis_lib.RedisError)
