"""What a call hands back: the ``CompletionResult`` of a block or an answer, its wording and budget dict.

Owns the one sentence a block says (which limit refused the call and by how much:
``block_message``), the ``budget`` dict every result carries (the limits the call touched, as they
stand after it or at the block), and building the result itself, the same shape on success and
on a block (``blocked_result``, ``answered_result``).

It must not touch the ledger, the model or the alerts: it words and shapes figures it is given
(the reservation, the settlement), and ``client/result.py`` owns the types.
"""

from __future__ import annotations

from typing import Any

from acme_ci_budget.catalog.pricing import UnknownModelError, cost_nano
from acme_ci_budget.client.errors import ANTHROPIC_SPEND_LIMIT, SPEND_LIMIT_CODE
from acme_ci_budget.client.plan import Plan
from acme_ci_budget.client.result import CompletionResult
from acme_ci_budget.client.router import RouteDecision
from acme_ci_budget.client.settle import Settled
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.money import fmt_usd, nano_to_usd, pct
from acme_ci_budget.core.records import record
from acme_ci_budget.core.text import reply_text
from acme_ci_budget.ledger.enforcer import Reservation, Settlement


def block_message(config: Config, res: Reservation) -> str:
    """One sentence saying which limit refused the call and by how much."""
    wid = res.workflow_id
    if res.reason == ANTHROPIC_SPEND_LIMIT:
        return (
            f"Blocked: the organisation's Anthropic spend limit is reached (429 {SPEND_LIMIT_CODE}); the API refuses "
            "every call until the limit is raised in the Anthropic Console or the month ends. Nothing was charged."
        )
    wf = config.workflows.get(wid)
    if wf is None:
        known = ", ".join(sorted(config.workflows))
        return f"Blocked: workflow {wid!r} is not in the budget config {config.path} (known: {known})."
    h = res.headroom
    try:
        cached = res.cache_write_tokens + res.cache_write_1h_tokens
        need = cost_nano(
            res.model,
            res.input_tokens - cached,
            res.max_output_tokens,
            res.cache_write_tokens,
            overrides=config.pricing,
            cache_write_1h_tokens=res.cache_write_1h_tokens,
        )
    except UnknownModelError:
        need = 0
    need_text = f"this call needs up to {fmt_usd(need, 4)}"
    reason = res.reason
    if reason == "loop_step_limit_exceeded":
        return f"Blocked: {wid} allows {wf.max_loop_steps} loop steps per session/task and this would be one more."
    if reason == "task_token_limit_exceeded":
        return (
            f"Blocked: the input (~{res.input_tokens:,} tokens) reaches {wid}'s per-task hard limit of "
            f"{wf.per_task_tokens.hard:,} tokens; shorten it."
        )
    if reason == "session_token_limit_exceeded":
        return (
            f"Blocked: session {res.session_id} has used {h.get('session_tokens', 0):,} tokens and this turn "
            f"needs up to {res.input_tokens + res.max_output_tokens:,} more, past the hard limit of "
            f"{wf.per_session_tokens.hard:,}; start a new session."
        )
    if reason == "total_org_budget_exceeded":
        return (
            f"Blocked: the org's monthly budget {fmt_usd(config.org_monthly_nano)} is spent "
            f"({fmt_usd(h.get('org_spent_nano', 0), 4)} so far; {need_text})."
        )
    if reason == "monthly_limit_exceeded":
        return (
            f"Blocked: {wf.label} reached its monthly budget {fmt_usd(wf.monthly_nano)} "
            f"({fmt_usd(h.get('monthly_spent_nano', 0), 4)} spent; {need_text})."
        )
    if reason == "daily_limit_exceeded":
        return (
            f"Blocked: {wf.label} reached today's budget {fmt_usd(wf.daily_nano)} "
            f"({fmt_usd(h.get('daily_spent_nano', 0), 4)} spent; {need_text}); it resets at midnight "
            f"{config.timezone}."
        )
    if reason == "repo_limit_exceeded":
        cap = config.repos.get(res.repo)
        return (
            f"Blocked: repository {res.repo} reached its monthly cap {fmt_usd(cap.monthly_nano if cap else 0)} "
            f"({fmt_usd(h.get('repo_spent_nano', 0), 4)} spent; {need_text})."
        )
    return f"Blocked by the budget: {reason}."


def _limit(spent_nano: int, limit_nano: int) -> dict[str, Any]:
    return {
        "spent_usd": nano_to_usd(spent_nano),
        "limit_usd": nano_to_usd(limit_nano),
        "pct": round(pct(spent_nano, limit_nano), 4),
        "spent_nano": spent_nano,
        "limit_nano": limit_nano,
    }


def budget_dict(
    config: Config, wf: Workflow | None, res: Reservation, settlement: Settlement | None, tokens_used: int
) -> dict[str, Any]:
    """The limits this call touched, as they stand after it (or at the block)."""
    if wf is None:
        return {}
    h = res.headroom
    if settlement is not None and settlement.recorded and not res.fail_open:
        day, month, org = settlement.day_spent_nano, settlement.month_spent_nano, settlement.org_spent_nano
    else:
        day, month, org = h.get("daily_spent_nano", 0), h.get("monthly_spent_nano", 0), h.get("org_spent_nano", 0)
    budget: dict[str, Any] = {
        "workflow": wf.id,
        "day": res.day,
        "month": res.month,
        "daily": _limit(day, wf.daily_nano),
        "monthly": _limit(month, wf.monthly_nano),
        "org": _limit(org, config.org_monthly_nano),
        "task": {
            "tokens": res.input_tokens + res.max_output_tokens,
            "soft": wf.per_task_tokens.soft,
            "hard": wf.per_task_tokens.hard,
        },
    }
    if res.session_id:
        budget["session"] = {
            "id": res.session_id,
            "tokens": int(h.get("session_tokens", 0)) + tokens_used,
            "soft": wf.per_session_tokens.soft,
            "hard": wf.per_session_tokens.hard,
            "loop_step": res.loop_step,
            "max_loop_steps": wf.max_loop_steps,
        }
    if res.fail_open:
        budget["fail_open"] = True
    return budget


def blocked_result(config: Config, wf: Workflow | None, decision: RouteDecision, res: Reservation) -> CompletionResult:
    """The result of a refused call: nothing sent, nothing charged, its ``message`` says why."""
    return CompletionResult(
        content="",
        model=decision.model if wf is not None else "",
        input_tokens=0,
        output_tokens=0,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=0,
        cost_usd=0.0,
        latency_ms=0,
        stop_reason=None,
        budget_blocked=True,
        budget_reason=res.reason,
        route_reason=decision.reason,
        warnings=tuple(res.warnings),
        budget=budget_dict(config, wf, res, None, 0),
        reservation_id=res.id,
        message=block_message(config, res),
        workflow_id=res.workflow_id,
        session_id=res.session_id,
        loop_step=res.loop_step,
    )


def answered_result(config: Config, plan: Plan, message: Any, settled: Settled, latency_ms: int) -> CompletionResult:
    """The result of an answered call, as settled."""
    res, settlement, usage = plan.reservation, settled.settlement, settled.usage
    counts = usage[:4]
    # every field named (message too), so core.records builds it by copy: a fifth of __init__'s cost, every call
    fields = dict(
        content=reply_text(message),
        model=settled.answered_by,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_creation_input_tokens=counts[2],
        cache_read_input_tokens=counts[3],
        cost_usd=settlement.cost_usd,
        latency_ms=latency_ms,
        stop_reason=getattr(message, "stop_reason", None),
        budget_blocked=False,
        budget_reason="",
        route_reason=plan.decision.reason,
        warnings=settled.warnings,
        budget=budget_dict(config, plan.workflow, res, settlement, sum(counts)),
        reservation_id=res.id,
        cost_nano=settlement.cost_nano,
        workflow_id=res.workflow_id,
        session_id=res.session_id,
        loop_step=res.loop_step,
        cache_creation_1h_input_tokens=usage[4],
        usage_missing=settlement.usage_missing,
        message="",
    )
    return record(CompletionResult, fields)
