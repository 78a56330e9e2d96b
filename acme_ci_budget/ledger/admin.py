"""The ledger's admin: resetting a period's counters, and the inspection reads of one session, task or the holds.

Owns ``reset`` (zero the spent counters of a day or a month, for one workflow or all, in one step with
``reset.lua``: a month reset of one workflow takes its spend off the org's month total too, so the org
total stays the sum of the workflows'; of every workflow, it zeroes the org's and the capped
repositories'; the reset is logged as an ``admin_reset`` event with the amounts
zeroed; the month's stats and events are history and are kept) and the small reads an operator or a test
asks for: a session's tokens, a task's loop steps, the number of open holds. Functions taking a
``BudgetEnforcer``, which re-exposes them as methods. It must not reserve, settle or release, and must
not touch a hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.ledger.args import event_fields
from acme_ci_budget.ledger.errors import SettleError

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer


class ResetRefused(AcmeError, ValueError):
    """The reset would leave the org's month total below zero: the counters disagree already; nothing changed."""


@dataclass(frozen=True)
class ResetResult:
    """What a reset zeroed: each workflow's counter (nano-USD), and the org's month total before and after
    (equal for a day reset: the org counts months only)."""

    period: str
    label: str  # the day or month reset, e.g. "2026-11"
    zeroed: tuple[tuple[str, int], ...]
    org_before: int
    org_after: int

    @property
    def total_nano(self) -> int:
        return sum(amount for _, amount in self.zeroed)


def reset(
    enforcer: BudgetEnforcer, workflow_id: str | None, period: str, when: datetime | None = None
) -> ResetResult:
    """Zero the spent counters of ``period`` ('day' or 'month') for one workflow or all, atomically.

    A month reset of one workflow also takes its spend off the org's month total (the org is the sum of
    the workflows); of every workflow, it zeroes the org's too. Raises ``ResetRefused`` (nothing written)
    when the org's total is below the workflow's. Monthly stats and events are history and are kept; the
    reset is itself logged as an ``admin_reset`` event carrying the amounts.
    """
    if period not in ("day", "month"):
        raise SettleError(f"period must be 'day' or 'month', got {period!r}")
    day, month = enforcer.periods(when)
    label = day if period == "day" else month
    k = enforcer.keys
    ids = [workflow_id] if workflow_id else list(enforcer.config.workflows)
    for wid in ids:
        enforcer.config.workflow(wid)
    keys = [k.wf_spent_day(w, day) if period == "day" else k.wf_spent_month(w, month) for w in ids]
    mode = "keep" if period == "day" else ("adjust" if workflow_id else "zero")
    fields = event_fields(workflow=workflow_id or "*", reason=f"reset {period} {label}")
    now_ms = int(enforcer.now().timestamp() * 1000)
    # a month reset of every workflow starts the capped repositories' months again too
    repos = [k.repo_spent(repo, month) for repo in enforcer.config.repos] if mode == "zero" else []
    reply = enforcer._reset(
        keys=[k.events(), k.org_spent(month), *keys, *repos],
        args=[mode, now_ms, enforcer.config.ledger.retention_days * 86_400_000, fields, len(repos)],
    )
    status, *amounts = [v.decode() if isinstance(v, bytes) else str(v) for v in reply]
    if status == "refused":
        org, wanted = int(amounts[0]), int(amounts[1])
        raise ResetRefused(
            f"not reset: the org's {month} total ({fmt_usd(org, 4)}) is below {workflow_id}'s ({fmt_usd(wanted, 4)}), "
            "so taking it off would go below zero; the counters disagree already. Reset every workflow's month "
            "(--period month without --workflow) to start the month's counters again"
        )
    org_before, org_after, *zeroed = (int(v) for v in amounts)
    return ResetResult(period, label, tuple(zip(ids, zeroed, strict=True)), org_before, org_after)


def session_tokens(enforcer: BudgetEnforcer, session_id: str) -> int:
    """Tokens settled so far by one session (its holds are counted apart)."""
    return int(enforcer.redis.hget(enforcer.keys.session(session_id), "tokens") or 0)


def task_steps(enforcer: BudgetEnforcer, task_id: str) -> int:
    """Loop steps reserved so far by one task id."""
    return int(enforcer.redis.hget(enforcer.keys.task(task_id), "steps") or 0)


def open_holds(enforcer: BudgetEnforcer) -> int:
    """Holds in the ledger now, expired ones not yet purged included."""
    return int(enforcer.redis.zcard(enforcer.keys.holds()))
