"""Building the monthly budget and ROI report from the ledger's counters.

Owns how a report is put together: which month ``current`` / ``previous`` mean in the
configured timezone, each workflow's figures (spend, limits, health, peak day, estimate
to date, forecast), the organisation summary and forecast, ROI (``budget.roi``) and
the advice (``advice``). The figures come from one pipelined round trip (the month's
stats hash, parsed by ``stats``, plus the spent/held counters), never from scanning
events, so a month of a million calls costs the same as a month of ten. Only when
asked, ``savings`` reads the month's events once (what caching saved and blocks
prevented) and ``previous`` builds the month before (one more round trip). Money
stays integer nano-USD; the model (``model``) holds it and ``json_shape`` converts.
It must not render, print, post or write anything.

"Daily spend" is today's day counter for the current month. A finished month
has no "today", so it reports the month's peak day (from ``day_cost|wf|DD``)
against the daily limit, and its health counts that peak day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from acme_ci_budget.budget.estimate import build_estimate
from acme_ci_budget.budget.forecast import local_date, project_month
from acme_ci_budget.budget.health import MONTHLY_REFUSAL, ORG_REFUSAL
from acme_ci_budget.budget.reconcile import drift_from_stats
from acme_ci_budget.budget.roi import WorkflowMonth, build_roi
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import pct
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.advice import NEAR_LIMIT_PCT, opportunities
from acme_ci_budget.report.model import OrgSummary, Report, WorkflowReport
from acme_ci_budget.report.repos import repo_lines
from acme_ci_budget.report.savings import read_savings
from acme_ci_budget.report.stats import ParsedStats, model_shares, parse_stats

MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class ReportError(AcmeError, ValueError):
    """The report cannot be built as asked (a bad month, say); the message says what to pass instead."""


# --- which month --------------------------------------------------------------------------------


def resolve_month(spec: str | None, now: datetime, tz: Any) -> str:
    """'YYYY-MM' for ``current`` / ``previous`` / an explicit month, reckoned in ``tz``.

    ``previous`` is the month before the local one, so a run at 00:30 on the 1st reports
    the month that just ended rather than the new, empty one.
    """
    if now.tzinfo is None:
        raise ValueError("resolve_month needs an aware datetime")
    local = now.astimezone(tz)
    text = (spec or "current").strip().lower()
    if text == "current":
        return local.strftime("%Y-%m")
    if text == "previous":
        return (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    if MONTH_RE.fullmatch(text):
        return text
    raise ReportError(f"month: expected YYYY-MM, 'current' or 'previous', got {spec!r}")


# --- building -----------------------------------------------------------------------------------


def build_report(
    config: Config,
    redis: Any,
    month: str = "current",
    clock: Clock | None = None,
    *,
    savings: bool = False,
    previous: bool = False,
) -> Report:
    """The report of ``month`` ('YYYY-MM', 'current' or 'previous') from one round trip to the ledger.

    ``savings``: also read the month's events once for what caching saved and blocks prevented
    (``report.savings``). ``previous``: also build the month before (one more round trip), kept
    when it had activity, for the dashboard's side-by-side.
    """

    enforcer = BudgetEnforcer(config=config, redis=redis, clock=clock)
    now = enforcer.now()
    today = local_date(now, config.tz)
    month = resolve_month(month, now, config.tz)
    year, mon = (int(x) for x in month.split("-"))
    n_days = calendar.monthrange(year, mon)[1]
    this_month = today.strftime("%Y-%m")
    state = "current" if month == this_month else "complete" if month < this_month else "future"
    elapsed = today.day if state == "current" else n_days if state == "complete" else 0

    stats, counters = _read(enforcer, month, today.isoformat(), state == "current")
    parsed = parse_stats(stats)

    org_status = enforcer.get_org_status(counters)
    estimate = {e.workflow_id: e for e in build_estimate(config).workflows}
    ids = list(config.workflows) + sorted(set(parsed.workflows) - set(config.workflows))
    context = _Context(enforcer, parsed, counters, org_status, state, today, elapsed, n_days)
    workflows = [_workflow_report(context, config.workflows.get(wid), wid, estimate.get(wid)) for wid in ids]

    org_spend = counters["org_spent"]
    forecast = None
    if state == "current":
        forecast = project_month(org_spend, config.org_monthly_nano, today, _org_days(workflows))
    est_total = sum(e.cost_nano for e in estimate.values()) if estimate else None
    org = OrgSummary(
        spend_nano=org_spend,
        budget_nano=config.org_monthly_nano,
        held_nano=counters["org_held"],
        reserve_state=org_status["reserve_state"],
        reserve_threshold_nano=int(config.org_monthly_nano * (1 - config.reserve_pct)),
        forecast_nano=forecast.projected_nano if forecast else None,
        burn_nano_per_day=forecast.burn_nano_per_day if forecast else None,
        runs_out_on=forecast.runs_out_on if forecast else None,
        blocked_unknown_workflow=parsed.blocked_unknown,
        estimate_nano=est_total,
    )
    wf_tuple = tuple(workflows)
    before = None
    if previous:
        prior = build_report(config, redis, _month_before(month), clock)
        before = prior if prior.has_activity else None
    report = Report(
        month=month,
        namespace=config.namespace,
        timezone=config.timezone,
        generated_at=now,
        state=state,
        days_in_month=n_days,
        days_elapsed=elapsed,
        org=org,
        workflows=wf_tuple,
        roi=build_roi(
            config,
            [WorkflowMonth(w.id, w.label, w.units, w.monthly_spend_nano) for w in wf_tuple],
            org_spend,
            elapsed,
            n_days,
        ),
        opportunities=tuple(opportunities(config, wf_tuple, state, elapsed, n_days)),
        model_mix=model_shares(parsed.org_models()),
        savings=read_savings(enforcer, month, datetime(year, mon, 1, tzinfo=config.tz)) if savings else None,
        previous=before,
        reconcile=drift_from_stats(stats),
        repos=repo_lines(stats, {name: cap.monthly_nano for name, cap in config.repos.items()}),
    )
    # An empty month gets one empty state, not advice about each idle budget.
    return report if report.has_activity else replace(report, opportunities=())


def _month_before(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def _read(enforcer: Any, month: str, day: str, current: bool) -> tuple[dict, dict[str, int]]:
    """The month's stats hash and its counters, pipelined into one round trip."""
    # today's spend only (not its holds): the report's health reads a held figure for the month alone
    figures = enforcer.month_figures(month, day if current else None, day_held=False)
    return dict(figures.stats), dict(figures.counters)


@dataclass(frozen=True)
class _Context:
    """What every workflow's section is built from."""

    enforcer: Any
    parsed: ParsedStats
    counters: Mapping[str, int]
    org_status: Mapping[str, Any]
    state: str
    today: date
    elapsed: int
    n_days: int


def _workflow_report(ctx: _Context, wf: Workflow | None, wid: str, estimate: Any) -> WorkflowReport:

    parsed, counters, state, today, elapsed, n_days = (
        ctx.parsed,
        ctx.counters,
        ctx.state,
        ctx.today,
        ctx.elapsed,
        ctx.n_days,
    )
    data = parsed.wf(wid) if wid in parsed.workflows else ParsedStats().wf(wid)
    days = data["days"]
    daily = tuple(days.get(d, 0) for d in range(1, n_days + 1))
    peak_day_nano = max(daily, default=0)
    peak_day = daily.index(peak_day_nano) + 1 if peak_day_nano else None
    in_config = wf is not None
    # A workflow no longer in the config has no counters read for it: its stats are its spend.
    m_spent = counters.get(f"{wid}:m_spent", data["cost"]) if in_config else data["cost"]
    m_held = counters.get(f"{wid}:m_held", 0)
    monthly_limit = wf.monthly_nano if wf else 0
    daily_limit = wf.daily_nano if wf else 0
    if state == "current":
        daily_spend, basis = counters.get(f"{wid}:d_spent", days.get(today.day, 0)), "today"
    elif state == "complete":
        daily_spend, basis = peak_day_nano, "peak_day"
    else:
        daily_spend, basis = 0, "none"
    near = sum(1 for v in daily if daily_limit and v * 100 >= daily_limit * NEAR_LIMIT_PCT)
    # A refused call or less than one call left is CRIT too (acme_ci_budget.budget.health), not spend alone.
    org_refused = sum(d["blocked"].get(ORG_REFUSAL, 0) for d in parsed.workflows.values())
    refused = {wid: data["blocked"].get(MONTHLY_REFUSAL, 0), "org": org_refused}
    health = ctx.enforcer.health(
        pct(daily_spend, daily_limit), pct(m_spent, monthly_limit), ctx.org_status, wid, counters, refused
    )
    est_nano = estimate.cost_nano if estimate is not None else None
    est_to_date = est_nano * elapsed // n_days if est_nano is not None else None
    forecast = None
    if state == "current" and wf is not None:
        forecast = project_month(m_spent, monthly_limit, today, days).projected_nano
    return WorkflowReport(
        id=wid,
        label=wf.label if wf else f"{wid} (not in config)",
        in_config=in_config,
        monthly_spend_nano=m_spent,
        monthly_limit_nano=monthly_limit,
        monthly_held_nano=m_held,
        daily_spend_nano=daily_spend,
        daily_limit_nano=daily_limit,
        daily_basis=basis,
        peak_day=peak_day,
        peak_day_nano=peak_day_nano,
        days_near_limit=near,
        health=health,
        calls=data["calls"],
        failed=data["failed"],
        blocked=dict(sorted(data["blocked"].items())),
        tokens=dict(data["tokens"]),
        models=model_shares({m: (data["model_calls"].get(m, 0), c) for m, c in data["model_cost"].items()}),
        tasks=data["tasks"],
        sessions=data["sessions"],
        stats_cost_nano=data["cost"],
        daily_nano=daily,
        estimate_nano=est_nano,
        estimate_to_date_nano=est_to_date,
        forecast_nano=forecast,
        over_hold_calls=data["over_hold_calls"],
        over_hold_nano=data["over_hold_nano"],
        usage_missing=data["usage_missing"],
    )


def _org_days(workflows: tuple[WorkflowReport, ...] | list[WorkflowReport]) -> dict[int, int]:
    out: dict[int, int] = {}
    for wf in workflows:
        for i, value in enumerate(wf.daily_nano, start=1):
            if value:
                out[i] = out.get(i, 0) + value
    return out
