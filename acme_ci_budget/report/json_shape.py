"""The monthly report's JSON shape (``report --format json``, ``Report.to_json``): one function per object.

Owns the keys and their units: money in USD as numbers (``*_usd``, ``monthly_spend`` ...), every
``*_pct`` a percent (0-100 for a share; a signed percent for a difference such as ``vs_estimate_pct``
or ``net_roi_pct``), counts as integers, days as ISO dates. README's "JSON outputs" documents each
key. It must not compute figures: the model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acme_ci_budget.budget.roi import roi_json
from acme_ci_budget.core.money import nano_to_usd

if TYPE_CHECKING:
    from acme_ci_budget.report.model import ModelShare, Report, WorkflowReport
    from acme_ci_budget.report.savings import Savings


def report_json(r: Report) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    org = r.org
    data: dict[str, Any] = {
        "month": r.month,
        "state": r.state,
        "namespace": r.namespace,
        "timezone": r.timezone,
        "generated_at": r.generated_at.isoformat(),
        "days_in_month": r.days_in_month,
        "days_elapsed": r.days_elapsed,
        "has_activity": r.has_activity,
        "org": {
            "spend_usd": nano_to_usd(org.spend_nano),
            "budget_usd": nano_to_usd(org.budget_nano),
            "pct": org.pct,
            "remaining_usd": nano_to_usd(org.remaining_nano),
            "held_usd": nano_to_usd(org.held_nano),
            "reserve_state": org.reserve_state,
            "reserve_threshold_usd": nano_to_usd(org.reserve_threshold_nano),
            "forecast_usd": _usd_or_none(org.forecast_nano),
            "forecast_pct": org.forecast_pct,
            "burn_usd_per_day": _usd_or_none(org.burn_nano_per_day),
            "runs_out_on": org.runs_out_on.isoformat() if org.runs_out_on else None,
            "estimate_usd": _usd_or_none(org.estimate_nano),
            "calls": r.total_calls,
            "blocked": r.total_blocked,
            "blocked_unknown_workflow": org.blocked_unknown_workflow,
            "over_hold_calls": r.total_over_hold_calls,
            "over_hold_usd": nano_to_usd(r.total_over_hold_nano),
            "usage_missing": r.total_usage_missing,
            "peak_day": r.peak_date.isoformat() if r.peak_date else None,
            "peak_day_usd": nano_to_usd(r.peak_day_nano),
        },
        "workflows": {wf.id: _workflow_json(wf) for wf in r.workflows},
        "models": {m.model: _share_json(m) for m in r.model_mix},
        "roi": None,
        "opportunities": [
            {"workflow": o.workflow_id, "kind": o.kind, "title": o.title, "detail": o.detail} for o in r.opportunities
        ],
    }
    if r.roi is not None:
        data["roi"] = roi_json(r.roi)
    data["savings"] = _savings_json(r.savings) if r.savings is not None else None
    data["previous"] = _previous_json(r.previous) if r.previous is not None else None
    data["reconcile"] = r.reconcile.to_json() if r.reconcile else None
    data["repos"] = {line.repo: line.to_json() for line in r.repos}
    return data


def _savings_json(s: Savings) -> dict[str, Any]:
    return {
        "cache_saved_usd": nano_to_usd(s.cache_saved_nano),
        "blocked_worst_case_usd": nano_to_usd(s.blocked_worst_case_nano),
        "complete": s.complete,
        "unpriced_events": s.unpriced,
        "workflows": {
            wid: {"cache_saved_usd": nano_to_usd(c), "blocked_worst_case_usd": nano_to_usd(b)}
            for wid, (c, b) in s.by_workflow.items()
        },
    }


def _previous_json(p: Report) -> dict[str, Any]:
    """The month before, in brief: what the dashboard sets side by side."""
    return {
        "month": p.month,
        "spend_usd": nano_to_usd(p.org.spend_nano),
        "budget_usd": nano_to_usd(p.org.budget_nano),
        "pct": p.org.pct,
        "calls": p.total_calls,
        "blocked": p.total_blocked,
        "roi_multiple": p.roi.multiple if p.roi is not None else None,
        "workflows": {
            w.id: {"monthly_spend": nano_to_usd(w.monthly_spend_nano), "calls": w.calls} for w in p.workflows
        },
    }


def _usd_or_none(nano: int | None) -> float | None:
    return nano_to_usd(nano) if nano is not None else None


def _share_json(m: ModelShare) -> dict[str, Any]:
    return {"calls": m.calls, "spend_usd": nano_to_usd(m.cost_nano), "share_pct": m.share_pct}


def _workflow_json(wf: WorkflowReport) -> dict[str, Any]:
    return {
        "label": wf.label,
        "in_config": wf.in_config,
        "health": wf.health,
        "monthly_spend": nano_to_usd(wf.monthly_spend_nano),
        "monthly_limit": nano_to_usd(wf.monthly_limit_nano),
        "monthly_pct": wf.monthly_pct,
        "remaining": nano_to_usd(wf.remaining_nano),
        "daily_spend": nano_to_usd(wf.daily_spend_nano),
        "daily_limit": nano_to_usd(wf.daily_limit_nano),
        "daily_pct": wf.daily_pct,
        "daily_basis": wf.daily_basis,
        "peak_day": wf.peak_day,
        "peak_day_spend": nano_to_usd(wf.peak_day_nano),
        "days_near_daily_limit": wf.days_near_limit,
        "calls": wf.calls,
        "failed": wf.failed,
        "blocked": dict(wf.blocked),
        "blocked_total": wf.blocked_total,
        "over_hold_calls": wf.over_hold_calls,
        "over_hold_usd": nano_to_usd(wf.over_hold_nano),
        "usage_missing": wf.usage_missing,
        "tokens": dict(wf.tokens),
        "cache_hit_pct": wf.cache_hit_pct,
        "models": {m.model: _share_json(m) for m in wf.models},
        "tasks": wf.tasks,
        "sessions": wf.sessions,
        "avg_cost_per_task": _usd_or_none(wf.avg_cost_per_unit_nano),
        "estimate_usd": _usd_or_none(wf.estimate_nano),
        "estimate_to_date_usd": _usd_or_none(wf.estimate_to_date_nano),
        "vs_estimate_pct": wf.vs_estimate_pct,
        "under_estimate_by_blocks": wf.under_estimate_by_blocks,
        "forecast_usd": _usd_or_none(wf.forecast_nano),
        "daily_spend_by_day": [nano_to_usd(v) for v in wf.daily_nano],
    }
