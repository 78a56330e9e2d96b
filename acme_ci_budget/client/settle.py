"""Settling a call that was answered: its usage, its price, the settle with retries, and the journal.

Owns what happens to the money once the API has answered (or billed a reply that could not be
read): reading the reply's usage (input, output, cache write split by TTL, cache read), which model
it is priced as (the one that answered, when it has a price), the settle, retried while Redis is
unreachable (it is idempotent by reservation id), and, when Redis stays away or the call ran fail
open, the local journal (``ledger.journal``) that the next call reaching Redis replays. The caller
still gets the answer it paid for: an unrecorded settlement, never a lost one. A 200 whose body
could not be read was billed for unknown usage: it is charged at its hold (``charge_hold``).

It must not call the model, route, reserve, or decide what is transient (``ledger.errors`` does);
it logs only class names and figures, never an exception's text (it may carry a Redis URL).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acme_ci_budget.catalog.pricing import UnknownModelError, price_for
from acme_ci_budget.client.errors import unreadable_error
from acme_ci_budget.client.plan import Plan
from acme_ci_budget.client.result import ModelResponseError
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.ledger import journal
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Reservation, Settlement
from acme_ci_budget.ledger.errors import is_connection_error

log = logging.getLogger("acme_ci_budget.client")

SETTLE_ATTEMPTS = 4  # waits 0.1 + 0.3 + 0.9 s for Redis to come back before giving up

# (input, output, cache write, cache read, of the cache write those at the 1-hour TTL)
Usage = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Settled:
    """An answered call, settled: the settlement, the usage it was charged for, and what to warn about."""

    settlement: Settlement
    usage: Usage
    answered_by: str
    warnings: tuple[str, ...]


def reply_usage(message: Any) -> Usage | None:
    """(input, output, cache write, cache read, of the cache write those at the 1-hour TTL), or None
    when the reply carries no usage (a gateway stripped it): the caller charges the hold then.

    ``cache_creation.ephemeral_1h_input_tokens`` / ``ephemeral_5m_input_tokens`` split the cache
    write by TTL; without that breakdown every cache write is a 5-minute one.
    """
    usage = getattr(message, "usage", None)
    if usage is None or getattr(usage, "input_tokens", None) is None or getattr(usage, "output_tokens", None) is None:
        return None

    def get(source: Any, name: str) -> int:
        if source.__class__ is dict or isinstance(source, Mapping):  # exact type first: the ABC check costs more
            value = source.get(name)
        else:
            value = getattr(source, name, None)
        return max(int(value), 0) if value else 0

    written = get(usage, "cache_creation_input_tokens")
    split = getattr(usage, "cache_creation", None)
    one_hour = get(split, "ephemeral_1h_input_tokens") if split is not None else 0
    five_min = get(split, "ephemeral_5m_input_tokens") if split is not None else written
    written = max(written, one_hour + five_min)  # never below what the breakdown bills
    return (
        get(usage, "input_tokens"),
        get(usage, "output_tokens"),
        written,
        get(usage, "cache_read_input_tokens"),
        one_hour,
    )


def hold_usage(res: Reservation) -> Usage:
    """The hold's worst case as usage: what a call without usage is charged for."""
    cw = res.cache_write_tokens + res.cache_write_1h_tokens
    return (res.input_tokens - cw, res.max_output_tokens, cw, 0, res.cache_write_1h_tokens)


def priced_model(config: Config, answered_by: str, requested: str, warnings: list[str]) -> str:
    """Price as the model that answered when it has a price (gateways may swap); else as requested."""
    if answered_by == requested:
        return requested
    try:
        price_for(answered_by, config.pricing)
    except UnknownModelError:
        warnings.append(f"the API answered as {answered_by!r}, which has no price; priced as {requested!r}")
        return requested
    return answered_by


def settle_reply(config: Config, enforcer: BudgetEnforcer, plan: Plan, message: Any, latency_ms: int) -> Settled:
    """Settle an answered call at its reply's usage (its hold's worst case when the reply has none)."""
    res, decision = plan.reservation, plan.decision
    usage = reply_usage(message)
    answered_by = getattr(message, "model", None) or decision.model
    warnings = list(res.warnings)
    priced = priced_model(config, answered_by, decision.model, warnings)
    settlement = settle_with_retries(config, enforcer, res, usage, latency_ms, decision.reason, priced)
    if usage is None:
        warnings.append(f"the reply carried no usage: charged its hold's worst case {fmt_usd(settlement.cost_nano, 4)}")
        usage = hold_usage(res)
    if getattr(message, "stop_reason", None) == "max_tokens":
        warnings.append(f"the reply was cut at max_tokens={res.max_output_tokens}")
    return Settled(settlement, usage, answered_by, tuple(warnings))


def charge_hold(
    config: Config, enforcer: BudgetEnforcer, plan: Plan, exc: BaseException, latency_ms: int
) -> ModelResponseError | None:
    """A 200 whose body could not be read: the API billed it, for usage we cannot see. Charge the hold.

    The hold is the call's worst case (input, cache writes and max_tokens), the only figure known to cover the bill;
    releasing it instead would record a billed call as free. None when even that settle failed.
    """
    res, decision = plan.reservation, plan.decision
    try:  # usage None: charged exactly its hold and flagged usage_missing, as a reply without usage is
        settlement = settle_with_retries(config, enforcer, res, None, latency_ms, decision.reason, decision.model)
    except Exception as settle_exc:  # then the caller releases, so at least nothing stays held
        log.error("%s: could not charge unreadable reply (%s)", res.workflow_id, type(settle_exc).__name__)
        return None
    return unreadable_error(plan, exc, settlement.cost_nano)


def settle_with_retries(
    config: Config,
    enforcer: BudgetEnforcer,
    res: Reservation,
    usage: Usage | None,
    latency_ms: int,
    route_reason: str,
    model: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Settlement:
    """Settle; the money is spent, so a Redis blip is retried (settle is idempotent by reservation id).

    ``usage`` None (the reply had none, or could not be read): the call is charged its hold's
    worst case, flagged. When Redis stays unreachable (a fail-open call, or the retries ran out)
    the call goes to the local journal, replayed later under the same reservation id, and an
    unrecorded settlement is returned: the caller still gets the answer it paid for.
    """
    counts, one_hour = (usage[:4], usage[4]) if usage is not None else ((), 0)
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            settlement = enforcer.settle(
                res,
                *counts,
                latency_ms=latency_ms,
                route_reason=route_reason,
                model=model,
                cache_creation_1h_input_tokens=one_hour,
                usage_missing=usage is None,
            )
        except Exception as exc:
            if not is_connection_error(exc):
                log.error("%s: the call succeeded but its settle failed (%s)", res.workflow_id, type(exc).__name__)
                raise
            if attempt == SETTLE_ATTEMPTS - 1:
                return journal_call(config, enforcer, res, usage, latency_ms, route_reason, model, exc)
            sleep(0.1 * 3**attempt)
            continue
        if not settlement.recorded:
            return journal_call(config, enforcer, res, usage, latency_ms, route_reason, model, None)
        return settlement
    raise AssertionError("unreachable")  # pragma: no cover


def journal_call(
    config: Config,
    enforcer: BudgetEnforcer,
    res: Reservation,
    usage: Usage | None,
    latency_ms: int,
    route_reason: str,
    model: str,
    error: Exception | None,
) -> Settlement:
    """Keep a call the ledger could not record in the local journal; raise ``error`` if even that fails."""
    if usage is None:  # no usage: the hold's worst case is both the counts and the charge
        counts, model, cost = hold_usage(res), res.model, res.held_nano
    else:
        counts, cost = usage, enforcer.usage_cost(model, *usage)
    ledger = enforcer.ledger_id
    entry = journal.entry_for(
        res, config.namespace, ledger, model, counts, cost, latency_ms, route_reason, usage is None
    )
    try:
        path = journal.append(entry)
    except OSError as exc:
        log.critical(
            "%s: %s nano-USD spent and NOT RECORDED: the ledger is unreachable and the journal cannot be "
            "written (%s)",
            res.workflow_id,
            cost,
            type(exc).__name__,
        )
        if error is not None:
            raise error from None
        return Settlement(res.id, cost, 0, 0, 0, hold_found=False, recorded=False)
    journal.announce(entry, path)
    return Settlement(res.id, cost, 0, 0, 0, hold_found=False, recorded=False)


# Where each ledger handle's spend journal is, read from the environment on its first call rather than on
# every call (six variables, ~5 us a call); weak, so an enforcer's entry goes with it.
_JOURNALS: weakref.WeakKeyDictionary[Any, Path] = weakref.WeakKeyDictionary()


def journal_place(enforcer: BudgetEnforcer) -> Path:
    """Where ``enforcer``'s calls find the spend journal (``journal.journal_path``, looked up once per enforcer)."""
    try:
        path = _JOURNALS.get(enforcer)
        if path is None:
            path = _JOURNALS[enforcer] = journal.journal_path()
    except TypeError:  # a stand-in that takes no weak reference: the environment, every call
        return journal.journal_path()
    return path


def replay_journal(enforcer: BudgetEnforcer, fail_open: bool) -> None:
    """The reserve just reached Redis (``fail_open`` False): record what the journal kept while it could not."""
    if fail_open:
        return
    path = journal_place(enforcer)
    if not journal.has_pending(path):
        return
    try:
        journal.replay_pending(enforcer, path)
    except Exception as exc:  # the journal stays; the next call tries again
        log.warning("journal replay failed (%s); it is kept for the next call", type(exc).__name__)
