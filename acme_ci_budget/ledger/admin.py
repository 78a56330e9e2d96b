"""The ledger's admin: resetting a period's counters, and the inspection reads of one session, task or the holds.

Owns ``reset`` (zero the spent counters of a day or a month, for one workflow or all (a whole month's
reset zeroes the org's and the capped repositories' too), logging the
reset as an ``admin_reset`` event; the month's stats and events are history and are kept) and the
small reads an operator or a test asks for: a session's tokens, a task's loop steps, the number of
open holds. Functions taking a ``BudgetEnforcer``, which re-exposes them as methods. It must not
reserve, settle or release, and must not touch a hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from acme_ci_budget.ledger.args import event_dict
from acme_ci_budget.ledger.errors import SettleError

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer


def reset(enforcer: BudgetEnforcer, workflow_id: str | None, period: str, when: datetime | None = None) -> list[str]:
    """Zero the spent counters of ``period`` ('day' or 'month') for one workflow or all; returns keys removed.

    Monthly stats and events are history and are kept; the reset is itself logged as an event.
    """
    if period not in ("day", "month"):
        raise SettleError(f"period must be 'day' or 'month', got {period!r}")
    day, month = enforcer.periods(when)
    k = enforcer.keys
    ids = [workflow_id] if workflow_id else list(enforcer.config.workflows)
    for wid in ids:
        enforcer.config.workflow(wid)
    keys = [k.wf_spent_day(w, day) for w in ids] if period == "day" else [k.wf_spent_month(w, month) for w in ids]
    if period == "month" and workflow_id is None:
        keys.append(k.org_spent(month))
        keys += [k.repo_spent(repo, month) for repo in enforcer.config.repos]  # the capped repositories' too
    pipe = enforcer.redis.pipeline(transaction=False)
    for key in keys:
        pipe.delete(key)
    pipe.xadd(
        k.events(),
        event_dict(
            type="admin_reset",
            ts_ms=int(enforcer.now().timestamp() * 1000),
            workflow=workflow_id or "*",
            reason=f"reset {period} {day if period == 'day' else month}",
        ),
    )
    pipe.execute()
    return keys


def session_tokens(enforcer: BudgetEnforcer, session_id: str) -> int:
    """Tokens settled so far by one session (its holds are counted apart)."""
    return int(enforcer.redis.hget(enforcer.keys.session(session_id), "tokens") or 0)


def task_steps(enforcer: BudgetEnforcer, task_id: str) -> int:
    """Loop steps reserved so far by one task id."""
    return int(enforcer.redis.hget(enforcer.keys.task(task_id), "steps") or 0)


def open_holds(enforcer: BudgetEnforcer) -> int:
    """Holds in the ledger now, expired ones not yet purged included."""
    return int(enforcer.redis.zcard(enforcer.keys.holds()))
