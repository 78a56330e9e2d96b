"""The lab's one-shot API over the money path: ``check_and_record`` and ``calculate_cost``.

Owns the lab's contract (token-budget-lab.txt): reserve and settle one call at once and answer
with the lab's keys (``allowed``, ``cost``, ``reason``, the day's and month's spend after it and
their percentages), and the lab's dollar price of a call. Functions taking a ``BudgetEnforcer``,
which re-exposes them as methods so ``enforcer.check_and_record(...)`` keeps working. It must not
decide a limit or touch Redis itself: everything goes through ``reserve`` / ``settle`` and the
status reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acme_ci_budget.catalog.pricing import calculate_cost as _price_usd
from acme_ci_budget.core.money import nano_to_usd, pct

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer


def check_and_record(
    enforcer: BudgetEnforcer, workflow_id: str, model: str, input_tokens: int, output_tokens: int
) -> dict:
    """Reserve and settle at once (the lab's call), returning the lab's keys."""
    res = enforcer.reserve(workflow_id, model, input_tokens, max(output_tokens, 1))
    wf = enforcer.config.workflows.get(workflow_id)
    if not res.allowed:
        status = enforcer.workflow_status(workflow_id) if wf else {}
        return {
            "allowed": False,
            "cost": 0.0,
            "reason": res.reason,
            "daily_spend_after": status.get("daily_spend", 0.0),
            "monthly_spend_after": status.get("monthly_spend", 0.0),
            "daily_pct": status.get("daily_pct", 0.0),
            "monthly_pct": status.get("monthly_pct", 0.0),
        }
    settled = enforcer.settle(res, input_tokens, output_tokens)
    return {
        "allowed": True,
        "cost": settled.cost_usd,
        "reason": "within_budget",
        "daily_spend_after": nano_to_usd(settled.day_spent_nano),
        "monthly_spend_after": nano_to_usd(settled.month_spent_nano),
        "daily_pct": pct(settled.day_spent_nano, wf.daily_nano),
        "monthly_pct": pct(settled.month_spent_nano, wf.monthly_nano),
        "warnings": list(res.warnings),
    }


def calculate_cost(
    enforcer: BudgetEnforcer,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    *,
    cache_write_1h_tokens: int = 0,
) -> float:
    """The call's price in USD at the config's prices (the lab's ``calculate_cost``)."""
    return _price_usd(
        model,
        input_tokens,
        output_tokens,
        cache_creation_input_tokens,
        cache_read_input_tokens,
        enforcer.config.pricing,
        cache_write_1h_tokens=cache_write_1h_tokens,
    )
