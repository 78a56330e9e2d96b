"""The ledger's side of reconcile: its spend events for a period, the adjustments, the month's figure.

Owns the reads and writes reconcile makes in Redis: the call and adjustment events of a UTC period
(through ``ledger.events``), each adjustment written by ``lua/adjust.lua`` (counters, stats and the
``adjustment`` event in one script, so the ledger still equals the sum of its events; idempotent by a
deterministic id per (period, day, model) kept in ``Keys.adjustments``), and the month's last
reconcile figures in its stats hash (``reconcile_ledger_nano``, ``reconcile_provider_nano``,
``reconcile_at_ms``), which the report reads with the rest of the month's stats.

An adjustment whose usage maps to no workflow is charged to the org's month alone: the org's month
then exceeds the sum of its workflows' by exactly the stats' ``adjust_nano|org`` minus the workflows'
``adjust_nano|<wf>``, and every counter still equals the sum of its events (calls and adjustments).

It must not compare anything (``budget.reconcile`` does) or fetch the provider's reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from acme_ci_budget.budget.reconcile import (
    CACHE_1H,
    CACHE_5M,
    CACHE_READ,
    LEDGER_TYPES,
    OUTPUT,
    STAT_AT,
    STAT_LEDGER,
    STAT_PROVIDER,
    UNCACHED,
    Adjustment,
)
from acme_ci_budget.ledger.scripts import load_script, run_script

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

DAY_MS = 86_400_000
NOON_MS = DAY_MS // 2


@dataclass(frozen=True)
class Recorded:
    """One adjustment and what became of it: written now, or already there from an earlier run."""

    adjustment: Adjustment
    id: str
    written: bool
    workflow: str | None
    nano: int  # what the ledger holds for this id (the earlier run's amount on a duplicate)


def spend_events(enforcer: BudgetEnforcer, since_ms: int, until_ms: int) -> Iterator[dict[str, Any]]:
    """The calls and adjustments whose ledger time falls in [since_ms, until_ms), oldest first."""
    return enforcer.events(since_ms, until_ms=until_ms, types=LEDGER_TYPES)


def adjustment_id(period: str, day: str, model: str) -> str:
    """The same (period, day, model) always gets the same id: a second run finds it and writes nothing."""
    return f"{period}|{day}|{model}"


def _event_fields(adj: Adjustment, period: str, month: str) -> str:
    writes = adj.tokens[CACHE_5M] + adj.tokens[CACHE_1H]
    fields = {
        "model": adj.model,
        "day": adj.day,
        "month": month,
        "period": period,
        "reason": "reconcile",
        "input_tokens": adj.tokens[UNCACHED],
        "output_tokens": adj.tokens[OUTPUT],
        "cache_creation_input_tokens": writes,
        "cache_creation_1h_input_tokens": adj.tokens[CACHE_1H],
        "cache_read_input_tokens": adj.tokens[CACHE_READ],
    }
    return json.dumps({k: str(v) for k, v in fields.items()}, separators=(",", ":"))


def record_adjustments(enforcer: BudgetEnforcer, period: str, adjustments: Sequence[Adjustment]) -> list[Recorded]:
    """Write one ``adjustment`` event per (day, model), charged to the org's month of that UTC day (and to
    the adjustment's workflow's month and day when it names one); an id already recorded is left as it is."""
    script = load_script(enforcer.redis, "adjust.lua")
    keys, retention = enforcer.keys, enforcer.config.ledger.retention_days * DAY_MS
    now_ms = int(enforcer.now().timestamp() * 1000)
    out = []
    for adj in adjustments:
        month = adj.day[:7]
        start = int(datetime.fromisoformat(adj.day).replace(tzinfo=UTC).timestamp() * 1000)
        ident = adjustment_id(period, adj.day, adj.model)
        wf = adj.workflow or ""
        reply = run_script(
            script,
            [
                keys.adjustments(),
                keys.org_spent(month),
                keys.stats(month),
                keys.events(),
                keys.wf_spent_month(wf or "-", month),
                keys.wf_spent_day(wf or "-", adj.day),
            ],
            [
                ident,
                adj.nano,
                wf,
                adj.day[-2:],
                now_ms,
                retention,
                retention,
                _event_fields(adj, period, month),
                start + NOON_MS,
            ],
        )
        status = _text(reply[0])
        nano = adj.nano if status == "ok" else int(_text(reply[1]))
        out.append(Recorded(adj, ident, status == "ok", adj.workflow, nano))
    return out


def record_result(enforcer: BudgetEnforcer, month: str, ledger_nano: int, provider_nano: int) -> None:
    """Keep the month's last reconcile figures in its stats hash, for the report's drift line."""
    at_ms = int(enforcer.now().timestamp() * 1000)
    enforcer.redis.hset(
        enforcer.keys.stats(month),
        mapping={STAT_LEDGER: ledger_nano, STAT_PROVIDER: provider_nano, STAT_AT: at_ms},
    )


def recorded_adjustments(enforcer: BudgetEnforcer) -> Mapping[str, int]:
    """Every adjustment id recorded so far and its amount (nano-USD)."""
    raw = enforcer.redis.hgetall(enforcer.keys.adjustments())
    return {_text(k): int(_text(v)) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
