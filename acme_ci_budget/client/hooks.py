"""The budgeted client's hooks (alerts, telemetry): built from what the caller hands in, called after every call.

Owns the contract between a model call and whoever watches the spend: the hook is any object with
``check(workflow_id)`` (the full check, after a block), optionally ``check_spend(...)`` (after a
settle, from its reply's figures: no Redis read unless a threshold may be crossed) and
``notify_session_soft_limit(...)``. ``acme_ci_budget.alerts.AlertManager`` is one; the layers that
wire things together (``runs``, ``commands``) hand it in, as the hook or as a factory called once,
lazily, with ``(config, enforcer=...)``, so the client shares its ledger with it. An alert failure
never fails the model call: it is logged by class name only (an HTTP library's text can carry a
webhook URL).

The telemetry hook is any object with ``record_call(CallRecord)`` and optionally
``record_block(workflow_id, model, reason, repo=None)``: ``acme_ci_budget.telemetry`` builds one (OpenTelemetry
metrics) and the same layers hand it in, or a factory of it, as ``telemetry=``. It is called once per
``complete()``: after the settle, after a block, after a failed call (``CallRecord.error_type``); a
telemetry failure is logged by class name and never fails the call.

It must not import ``acme_ci_budget.alerts`` or ``acme_ci_budget.telemetry`` (layers above ``client``),
by name or otherwise, nor send anything itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.client.errors import spend_limit_reached
from acme_ci_budget.client.plan import Plan
from acme_ci_budget.client.settle import Settled
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Reservation, Settlement

log = logging.getLogger("acme_ci_budget.client")

# What ``BudgetedClient(alerts=...)`` takes: the hook, a factory of it, or None / False for no alerts.
AlertsFactory = Callable[..., Any]


def is_factory(alerts: Any, method: str = "check") -> bool:
    """A class (``AlertManager``) or a function that builds the hook, rather than the hook itself
    (which has ``method``: ``check`` for alerts, ``record_call`` for telemetry)."""
    return isinstance(alerts, type) or (callable(alerts) and not hasattr(alerts, method))


def build_hook(alerts: Any, config: Config, enforcer: BudgetEnforcer, method: str = "check") -> Any:
    """The hook from what the caller handed in (None when it is off or the factory failed)."""
    if alerts is None or alerts is False:
        return None
    if not is_factory(alerts, method):
        return alerts
    try:
        return alerts(config, enforcer=enforcer)
    except Exception as exc:  # alerts are best effort: a broken alert setup must not stop model calls
        name = getattr(alerts, "__name__", type(alerts).__name__)
        what = "alerts" if method == "check" else "telemetry"
        log.warning("%s disabled: could not build %s (%s)", what, name, exc.__class__.__name__)
        return None


def check_alerts(
    hook: Any, workflow_id: str, res: Reservation | None = None, settlement: Settlement | None = None
) -> None:
    """After a settle, from its reply's figures (Redis is read only when a threshold may be crossed);
    after a block, or from a hook without ``check_spend``, the full ``check``."""
    if hook is None:
        return
    try:
        check_spend = getattr(hook, "check_spend", None)
        if res is None or settlement is None or check_spend is None or res.fail_open:
            hook.check(workflow_id)
            return
        check_spend(
            workflow_id,
            day=res.day,
            org_spent_nano=settlement.org_spent_nano,
            month_spent_nano=settlement.month_spent_nano,
            day_spent_nano=settlement.day_spent_nano,
            over_hold_nano=settlement.over_hold_nano,
            open_incidents=res.open_incidents,
            org_held_nano=settlement.org_held_nano,
            month_held_nano=settlement.month_held_nano,
            day_held_nano=settlement.day_held_nano,
        )
    except Exception as exc:  # an alert failure (Slack down) must never fail the model call
        # Only the class name: exception texts of HTTP libraries can carry the webhook URL.
        log.warning("alert check for %s failed (%s)", workflow_id, type(exc).__name__)


def check_session_soft_limit(hook: Any, wf: Workflow, res: Reservation, used: int) -> None:
    """INFO alert once per session when it passes its soft token limit (the hook dedups)."""
    total = int(res.headroom.get("session_tokens", 0)) + used
    if hook is None or total <= wf.per_session_tokens.soft:
        return
    notify = getattr(hook, "notify_session_soft_limit", None)
    if notify is None:
        return
    try:
        notify(wf.id, res.session_id, total, wf.per_session_tokens.soft)
    except Exception as exc:
        log.warning("session alert for %s failed (%s)", wf.id, type(exc).__name__)


# --- telemetry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """One model call as the telemetry hook sees it: the figures its ledger event carries.

    Tokens are the API's four disjoint counts (input excludes the cache reads and writes);
    ``usage_known`` False: the reply had none (charged at its hold) or the call failed.
    ``error_type``: the failure's class name when the call failed (nothing was charged then).
    """

    workflow_id: str
    request_model: str
    response_model: str | None
    duration_seconds: float
    cost_nano: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    usage_known: bool = True
    error_type: str | None = None
    # The repository the call is attributed to (``Reservation.repo``); None when none is known, and the
    # telemetry layer then leaves the attribute out.
    repo: str | None = None


def answered_record(plan: Plan, settled: Settled, latency_ms: int) -> CallRecord:
    """The record of a call the API answered and the ledger settled (at the figures the event carries)."""
    res = plan.reservation
    usage = settled.usage
    return CallRecord(
        workflow_id=res.workflow_id,
        request_model=plan.decision.model,
        response_model=settled.answered_by,
        duration_seconds=latency_ms / 1000,
        cost_nano=settled.settlement.cost_nano,
        input_tokens=usage[0],
        output_tokens=usage[1],
        cache_write_tokens=usage[2],
        cache_read_tokens=usage[3],
        usage_known=not settled.settlement.usage_missing,
        repo=res.repo or None,
    )


def failed_record(plan: Plan, exc: BaseException, latency_ms: int, charged_nano: int = 0) -> CallRecord:
    """The record of a call that failed: its duration and error class; ``charged_nano`` for a billed reply
    that could not be read (charged at its hold), else nothing was charged (the hold was released)."""
    res = plan.reservation
    return CallRecord(
        workflow_id=res.workflow_id,
        request_model=plan.decision.model,
        response_model=None,
        duration_seconds=latency_ms / 1000,
        cost_nano=charged_nano,
        usage_known=False,
        error_type=type(exc).__name__,
        repo=res.repo or None,
    )


def record_call(hook: Any, record: CallRecord) -> None:
    """Hand one call to the telemetry hook; its failure is logged, never raised."""
    if hook is None:
        return
    try:
        hook.record_call(record)
    except Exception as exc:  # telemetry is best effort: it must never fail the model call
        log.warning("telemetry for %s failed (%s)", record.workflow_id, type(exc).__name__)


def record_answer(hook: Any, plan: Plan, settled: Settled, latency_ms: int) -> None:
    if hook is not None:
        record_call(hook, answered_record(plan, settled, latency_ms))


def record_failure(hook: Any, plan: Plan, exc: BaseException, latency_ms: int, charged_nano: int = 0) -> None:
    """A failed call; the organisation's spend limit is not one (it is recorded as a refusal)."""
    if hook is not None and not spend_limit_reached(exc):
        record_call(hook, failed_record(plan, exc, latency_ms, charged_nano))


def record_refusal(hook: Any, res: Reservation, model: str) -> None:
    """A refused call (never sent): the hook counts it by ``res.reason``; ``model`` when the hold named none."""
    record = getattr(hook, "record_block", None)
    if record is None:
        return
    try:
        record(res.workflow_id, res.model or model, res.reason, repo=res.repo or None)
    except Exception as exc:
        log.warning("telemetry for %s failed (%s)", res.workflow_id, type(exc).__name__)
