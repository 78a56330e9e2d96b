"""The monthly budget and ROI report model, built from the ledger's counters.

Owns what the report says: which month ``current`` / ``previous`` mean in the
configured timezone, the organisation summary and forecast, per-workflow spend,
health, calls, tokens, cache hit rate and model mix, the Phase 1 estimate next
to the actual, ROI from the config's ``roi:`` section (``roi.py``), and the optimization
rules. Everything comes from one pipelined round trip (the month's stats hash
plus the spent/held counters), never from scanning events, so a month of a
million calls costs the same as a month of ten. Money stays integer nano-USD
here; converting to USD floats happens only in ``to_json`` and the renderers.
It must not render, print, post or write anything.

"Daily spend" is today's day counter for the current month. A finished month
has no "today", so it reports the month's peak day (from ``day_cost|wf|DD``)
against the daily limit, and its health counts that peak day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from acme_ci_budget.budget.estimate import build_estimate
from acme_ci_budget.budget.forecast import local_date, project_month
from acme_ci_budget.budget.health import MONTHLY_REFUSAL, ORG_REFUSAL
from acme_ci_budget.budget.reconcile import DriftFigure, drift_from_stats
from acme_ci_budget.budget.roi import RoiSummary, WorkflowMonth, build_roi, roi_json
from acme_ci_budget.catalog.pricing import min_cacheable_tokens
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import fmt_usd, nano_to_usd, pct
from acme_ci_budget.ledger.enforcer import BudgetEnforcer

NANO = 1_000_000_000

MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# cache_write counts every cache write; cache_write_1h those of them at the 1-hour TTL.
TOKEN_KINDS = ("input", "output", "cache_write", "cache_read", "cache_write_1h")
_TOKEN_FIELDS = {
    "tok_in": "input",
    "tok_out": "output",
    "tok_cw": "cache_write",
    "tok_cr": "cache_read",
    "tok_cw1h": "cache_write_1h",
}
# The ledger's flagged exceptions, per workflow: calls settled above their hold, replies without usage.
_FLAG_FIELDS = {"over_hold": "over_hold_calls", "over_hold_nano": "over_hold_nano", "usage_missing": "usage_missing"}

# Rule thresholds for the optimization opportunities (one place, so the wording and the maths agree).
MIN_CALLS_FOR_RULES = 20  # below this a share or a rate says nothing
COMPLEX_SHARE_PCT = 50.0  # the complex model takes at least this share of a workflow's spend
LOW_CACHE_HIT_PCT = 30.0  # a cacheable multi-call workflow reading less than this from the cache
MULTI_CALL_RATIO = 1.5  # calls per task or session above which a cached prompt is re-read
BUDGET_SLACK_PCT = 30.0  # month (or its forecast) below this share of the monthly limit
NEAR_LIMIT_PCT = 90.0  # a day at or above this share of the daily limit "binds"
ESTIMATE_OFF_RATIO = Decimal("1.5")  # actual above 1.5x, or below 1/1.5, of the estimate to date
OPPORTUNITY_ORDER = (
    "monthly_limit_binding",
    "daily_limit_binding",
    "not_in_config",
    "complex_model_share",
    "low_cache_hit",
    "estimate_off",
    "budget_slack",
)
# Words most requests contain: a complexity keyword from this list routes routine work to the big model.
COMMON_WORDS = frozenset(
    {
        "bug",
        "change",
        "code",
        "debug",
        "design",
        "error",
        "fix",
        "help",
        "improve",
        "issue",
        "optimize",
        "refactor",
        "review",
        "test",
        "update",
    }
)


class ReportError(AcmeError, ValueError):
    """The report cannot be built as asked (a bad month, say); the message says what to pass instead."""


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShare:
    model: str
    calls: int
    cost_nano: int
    share_pct: float  # of the workflow's (or the org's) spend in the stats


@dataclass(frozen=True)
class WorkflowReport:
    id: str
    label: str
    in_config: bool
    monthly_spend_nano: int
    monthly_limit_nano: int
    monthly_held_nano: int
    daily_spend_nano: int
    daily_limit_nano: int
    daily_basis: str  # "today" | "peak_day" | "none"
    peak_day: int | None  # day of month of the highest spend
    peak_day_nano: int
    days_near_limit: int  # days at or above NEAR_LIMIT_PCT of the daily limit
    health: str  # OK | WARN | CRIT
    calls: int
    failed: int
    blocked: Mapping[str, int]
    tokens: Mapping[str, int]
    models: tuple[ModelShare, ...]
    tasks: int
    sessions: int
    stats_cost_nano: int
    daily_nano: tuple[int, ...]  # spend per day of the month, index 0 = day 1
    estimate_nano: int | None
    estimate_to_date_nano: int | None
    forecast_nano: int | None
    over_hold_calls: int = 0  # settled above their hold (the API billed more than the worst case held)
    over_hold_nano: int = 0  # by how much, in all
    usage_missing: int = 0  # replies without usage, charged at their hold

    @property
    def monthly_pct(self) -> float:
        return pct(self.monthly_spend_nano, self.monthly_limit_nano)

    @property
    def daily_pct(self) -> float:
        return pct(self.daily_spend_nano, self.daily_limit_nano)

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    @property
    def units(self) -> int:
        return self.tasks + self.sessions

    @property
    def unit_name(self) -> str:
        return "session" if self.sessions > self.tasks else "task"

    @property
    def avg_cost_per_unit_nano(self) -> int | None:
        return self.stats_cost_nano // self.units if self.units else None

    @property
    def cache_hit_pct(self) -> float | None:
        prompt = self.tokens["input"] + self.tokens["cache_write"] + self.tokens["cache_read"]
        return self.tokens["cache_read"] * 100.0 / prompt if prompt else None

    @property
    def remaining_nano(self) -> int:
        return self.monthly_limit_nano - self.monthly_spend_nano - self.monthly_held_nano

    @property
    def vs_estimate_pct(self) -> float | None:
        """Actual against the estimate pro-rated to the days elapsed (the week-1 check), in percent."""
        est = self.estimate_to_date_nano
        return (self.monthly_spend_nano - est) * 100.0 / est if est else None

    @property
    def daily_label(self) -> str:
        if self.daily_basis == "today":
            return "Today"
        if self.daily_basis == "peak_day":
            return f"Peak day ({self.peak_day})" if self.peak_day else "Peak day"
        return "Daily"

    def cumulative_nano(self, days: int) -> tuple[int, ...]:
        out, total = [], 0
        for value in self.daily_nano[:days]:
            total += value
            out.append(total)
        return tuple(out)


@dataclass(frozen=True)
class OrgSummary:
    spend_nano: int
    budget_nano: int
    held_nano: int
    reserve_state: str  # normal | reserve | exhausted
    reserve_threshold_nano: int
    forecast_nano: int | None  # current month only
    burn_nano_per_day: int | None
    runs_out_on: date | None
    blocked_unknown_workflow: int
    estimate_nano: int | None

    @property
    def pct(self) -> float:
        return pct(self.spend_nano, self.budget_nano)

    @property
    def remaining_nano(self) -> int:
        return self.budget_nano - self.spend_nano - self.held_nano

    @property
    def forecast_pct(self) -> float | None:
        return pct(self.forecast_nano, self.budget_nano) if self.forecast_nano is not None else None


@dataclass(frozen=True)
class Opportunity:
    workflow_id: str
    kind: str  # complex_model_share | low_cache_hit | budget_slack | daily_limit_binding | ...
    title: str
    detail: str


@dataclass(frozen=True)
class Report:
    month: str
    namespace: str
    timezone: str
    generated_at: datetime
    state: str  # current | complete | future
    days_in_month: int
    days_elapsed: int  # whole local days counted (today included) for the current month
    org: OrgSummary
    workflows: tuple[WorkflowReport, ...]
    roi: RoiSummary | None
    opportunities: tuple[Opportunity, ...]
    model_mix: tuple[ModelShare, ...] = field(default=())
    reconcile: DriftFigure | None = None  # the month's last `reconcile` (ledger vs Anthropic), if one ran

    @property
    def is_current(self) -> bool:
        return self.state == "current"

    @property
    def title_month(self) -> str:
        year, month = (int(x) for x in self.month.split("-"))
        return f"{calendar.month_name[month]} {year}"

    @property
    def total_calls(self) -> int:
        return sum(w.calls for w in self.workflows)

    @property
    def total_blocked(self) -> int:
        return sum(w.blocked_total for w in self.workflows) + self.org.blocked_unknown_workflow

    @property
    def total_over_hold_calls(self) -> int:
        return sum(w.over_hold_calls for w in self.workflows)

    @property
    def total_over_hold_nano(self) -> int:
        return sum(w.over_hold_nano for w in self.workflows)

    @property
    def total_usage_missing(self) -> int:
        return sum(w.usage_missing for w in self.workflows)

    @property
    def generated_local(self) -> datetime:
        """When the report was built, in the configured timezone."""
        return self.generated_at.astimezone(ZoneInfo(self.timezone))

    @property
    def period_note(self) -> str:
        if self.state == "current":
            return f"month to date, day {self.days_elapsed} of {self.days_in_month}"
        if self.state == "complete":
            return "complete month"
        return "not started yet"

    @property
    def estimate_to_date_nano(self) -> int | None:
        values = [w.estimate_to_date_nano for w in self.workflows if w.estimate_to_date_nano is not None]
        return sum(values) if values else None

    @property
    def has_activity(self) -> bool:
        return bool(self.org.spend_nano or self.total_calls or self.total_blocked)

    def workflow(self, workflow_id: str) -> WorkflowReport:
        for wf in self.workflows:
            if wf.id == workflow_id:
                return wf
        raise KeyError(workflow_id)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape; all money in USD as numbers."""
        org = self.org
        data: dict[str, Any] = {
            "month": self.month,
            "state": self.state,
            "namespace": self.namespace,
            "timezone": self.timezone,
            "generated_at": self.generated_at.isoformat(),
            "days_in_month": self.days_in_month,
            "days_elapsed": self.days_elapsed,
            "org": {
                "spend_usd": nano_to_usd(org.spend_nano),
                "budget_usd": nano_to_usd(org.budget_nano),
                "pct": org.pct,
                "remaining_usd": nano_to_usd(org.remaining_nano),
                "held_usd": nano_to_usd(org.held_nano),
                "reserve_state": org.reserve_state,
                "reserve_threshold_usd": nano_to_usd(org.reserve_threshold_nano),
                "forecast_usd": _usd_or_none(org.forecast_nano),
                "burn_usd_per_day": _usd_or_none(org.burn_nano_per_day),
                "runs_out_on": org.runs_out_on.isoformat() if org.runs_out_on else None,
                "estimate_usd": _usd_or_none(org.estimate_nano),
                "calls": self.total_calls,
                "blocked": self.total_blocked,
                "blocked_unknown_workflow": org.blocked_unknown_workflow,
                "over_hold_calls": self.total_over_hold_calls,
                "over_hold_usd": nano_to_usd(self.total_over_hold_nano),
                "usage_missing": self.total_usage_missing,
            },
            "workflows": {wf.id: _workflow_json(wf) for wf in self.workflows},
            "models": {m.model: _share_json(m) for m in self.model_mix},
            "roi": None,
            "opportunities": [
                {"workflow": o.workflow_id, "kind": o.kind, "title": o.title, "detail": o.detail}
                for o in self.opportunities
            ],
        }
        if self.roi is not None:
            data["roi"] = roi_json(self.roi)
        data["reconcile"] = self.reconcile.to_json() if self.reconcile else None
        return data


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
        "forecast_usd": _usd_or_none(wf.forecast_nano),
        "daily_spend_by_day": [nano_to_usd(v) for v in wf.daily_nano],
    }


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


def build_report(config: Config, redis: Any, month: str = "current", clock: Clock | None = None) -> Report:
    """The report of ``month`` ('YYYY-MM', 'current' or 'previous') from one round trip to the ledger."""

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
    parsed = _parse_stats(stats)

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
    return Report(
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
        opportunities=tuple(_opportunities(config, wf_tuple, state, elapsed, n_days)),
        model_mix=_shares(parsed.org_models()),
        reconcile=drift_from_stats(stats),
    )


def _read(enforcer: Any, month: str, day: str, current: bool) -> tuple[dict, dict[str, int]]:
    """The month's stats hash and its counters, pipelined into one round trip."""
    # today's spend only (not its holds): the report's health reads a held figure for the month alone
    figures = enforcer.month_figures(month, day if current else None, day_held=False)
    return dict(figures.stats), dict(figures.counters)


@dataclass
class _Parsed:
    """The stats hash regrouped by workflow (mutable while parsing only)."""

    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked_unknown: int = 0

    def wf(self, wid: str) -> dict[str, Any]:
        if wid not in self.workflows:
            self.workflows[wid] = {
                "calls": 0,
                "cost": 0,
                "failed": 0,
                "tasks": 0,
                "sessions": 0,
                "blocked": {},
                "tokens": dict.fromkeys(TOKEN_KINDS, 0),
                "model_calls": {},
                "model_cost": {},
                "days": {},
                **dict.fromkeys(_FLAG_FIELDS.values(), 0),
            }
        return self.workflows[wid]

    def org_models(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for data in self.workflows.values():
            for model, cost in data["model_cost"].items():
                entry = out.setdefault(model, [0, 0])
                entry[0] += data["model_calls"].get(model, 0)
                entry[1] += cost
        return {m: (c, v) for m, (c, v) in out.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_stats(raw: Mapping[Any, Any]) -> _Parsed:
    parsed = _Parsed()
    for key, value in raw.items():
        name, number = _text(key), int(_text(value))
        kind, _, rest = name.partition("|")
        if kind in ("calls", "cost"):
            wid, _, model = rest.partition("|")
            data = parsed.wf(wid)
            if model:
                data["model_calls" if kind == "calls" else "model_cost"][model] = number
            else:
                data[kind] = number
        elif kind in _TOKEN_FIELDS:
            if "|" not in rest:  # tok_*|wf|model: the same tokens by model (for `metrics`), not another workflow
                parsed.wf(rest)["tokens"][_TOKEN_FIELDS[kind]] = number
        elif kind == "day_cost":
            wid, _, dd = rest.rpartition("|")
            if dd.isdigit():
                parsed.wf(wid)["days"][int(dd)] = number
        elif kind in ("tasks", "sessions", "failed"):
            parsed.wf(rest)[kind] = number
        elif kind in _FLAG_FIELDS:
            parsed.wf(rest)[_FLAG_FIELDS[kind]] = number
        elif kind == "blocked":
            # The workflow id of an unknown-workflow block is whatever the caller sent: split from the right.
            wid, _, reason = rest.rpartition("|")
            if reason == "unknown_workflow":
                parsed.blocked_unknown += number
            else:
                parsed.wf(wid)["blocked"][reason] = number
        # user_cost / user_calls / settled_without_hold: not part of this report
    return parsed


def _shares(models: Mapping[str, tuple[int, int]]) -> tuple[ModelShare, ...]:
    total = sum(cost for _, cost in models.values())
    shares = [ModelShare(m, calls, cost, pct(cost, total)) for m, (calls, cost) in models.items()]
    return tuple(sorted(shares, key=lambda s: (-s.cost_nano, -s.calls, s.model)))


@dataclass(frozen=True)
class _Context:
    """What every workflow's section is built from."""

    enforcer: Any
    parsed: _Parsed
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
    data = parsed.wf(wid) if wid in parsed.workflows else _Parsed().wf(wid)
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
        models=_shares({m: (data["model_calls"].get(m, 0), c) for m, c in data["model_cost"].items()}),
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


# --- optimization opportunities -----------------------------------------------------------------


def _opportunities(
    config: Config, workflows: tuple[WorkflowReport, ...], state: str, elapsed: int, n_days: int
) -> list[Opportunity]:

    found: list[Opportunity] = []
    for wf in workflows:
        cfg = config.workflows.get(wf.id)
        if cfg is None:
            if wf.calls:
                found.append(
                    Opportunity(
                        wf.id,
                        "not_in_config",
                        f"{wf.id} spent {fmt_usd(wf.stats_cost_nano)} but is not in the config",
                        "Its calls were settled under an id the current config does not define; add it back with "
                        "a budget or find what still sends that id.",
                    )
                )
            continue
        found += _complex_share_rule(cfg, wf)
        found += _cache_rule(cfg, wf)
        found += _budget_rules(cfg, wf, state, elapsed, n_days)
        found += _estimate_rule(wf)
    # Most urgent first: refused work, then money going to the wrong place, then planning hygiene.
    order = {kind: i for i, kind in enumerate(OPPORTUNITY_ORDER)}
    return sorted(found, key=lambda o: order.get(o.kind, len(order)))


def _complex_share_rule(cfg: Workflow, wf: WorkflowReport) -> list[Opportunity]:
    routing = cfg.routing
    if routing.complex_model == routing.default_model or wf.calls < MIN_CALLS_FOR_RULES:
        return []
    share = next((m for m in wf.models if m.model == routing.complex_model), None)
    if share is None or share.share_pct < COMPLEX_SHARE_PCT:
        return []
    common = [k for k in routing.complexity_keywords if k in COMMON_WORDS]
    if common:
        why = (
            f"its complexity keywords include common words ({', '.join(common)}) that most requests contain, "
            "so routine work is routed to the complex model"
        )
        fix = "Drop or narrow those keywords, or require a keyword and a prompt above the size threshold."
    else:
        why = "the complex model takes most of its spend"
        fix = f"Check which requests its routing sends there (keywords, threshold_tokens {routing.threshold_tokens})."
    return [
        Opportunity(
            wf.id,
            "complex_model_share",
            f"{wf.label}: {share.share_pct:.0f}% of spend on {routing.complex_model}",
            f"{why[0].upper()}{why[1:]}. {fix}",
        )
    ]


def _cache_rule(cfg: Workflow, wf: WorkflowReport) -> list[Opportunity]:
    cacheable = cfg.cache_system_prompt or (cfg.inventory is not None and cfg.inventory.cacheable_input_tokens > 0)
    hit = wf.cache_hit_pct
    if not cacheable or hit is None or wf.calls < MIN_CALLS_FOR_RULES or not wf.units:
        return []
    # A single-call task cannot read its own cache entry back; only repeated calls can gain.
    if wf.calls < wf.units * MULTI_CALL_RATIO or hit >= LOW_CACHE_HIT_PCT:
        return []
    inv = cfg.inventory
    minimum = min_cacheable_tokens(cfg.routing.default_model)
    if inv is not None and 0 < inv.cacheable_input_tokens < minimum:
        detail = (
            f"The stable prompt (about {inv.cacheable_input_tokens:,} tokens) is below {cfg.routing.default_model}'s "
            f"{minimum:,}-token cache minimum, so the API never caches it: cache a longer stable prefix "
            "(instructions, examples, repository context) or stop paying attention to this line."
        )
    elif wf.tokens["cache_write"] == 0 and wf.tokens["cache_read"] == 0:
        detail = "No call wrote or read the prompt cache: check that the client marks the stable system prompt "
        detail += "with cache_control."
    else:
        detail = "The stable prompt is written but rarely read back: keep it byte-identical across turns "
        detail += "(no timestamps or per-request text before the cache breakpoint)."
    return [
        Opportunity(
            wf.id,
            "low_cache_hit",
            f"{wf.label}: cache hit rate {hit:.0f}% on a cacheable prompt "
            f"({wf.calls / wf.units:.1f} calls per {wf.unit_name})",
            detail,
        )
    ]


def _budget_rules(cfg: Workflow, wf: WorkflowReport, state: str, elapsed: int, n_days: int) -> list[Opportunity]:

    found = []
    # Judge a month by its forecast once a week of it has passed; a finished month by its spend.
    month_nano = wf.monthly_spend_nano if state == "complete" else wf.forecast_nano
    if (
        month_nano is not None
        and (state == "complete" or elapsed >= 7)
        and cfg.monthly_nano
        and month_nano * 100 < cfg.monthly_nano * BUDGET_SLACK_PCT
    ):
        basis = "spent" if state == "complete" else "forecast for the month"
        target = _round_up_budget(max(month_nano * 2, cfg.daily_nano))
        found.append(
            Opportunity(
                wf.id,
                "budget_slack",
                f"{wf.label}: budget far above use ({fmt_usd(month_nano)} {basis} of {fmt_usd(cfg.monthly_nano)})",
                f"Lowering the monthly budget to about {fmt_usd(target, 0)} (twice the use) would free "
                f"{fmt_usd(cfg.monthly_nano - target, 0)} for other workflows.",
            )
        )
    days = elapsed if state != "future" else 0
    daily_blocks = wf.blocked.get("daily_limit_exceeded", 0)
    if days and (wf.days_near_limit >= max(3, (days + 1) // 2) or daily_blocks):
        extra = f"; {daily_blocks:,} requests blocked by it" if daily_blocks else ""
        found.append(
            Opportunity(
                wf.id,
                "daily_limit_binding",
                f"{wf.label}: daily limit binding on {wf.days_near_limit} of {days} days{extra}",
                f"The {fmt_usd(cfg.daily_nano)} daily limit is reached (>= {NEAR_LIMIT_PCT:.0f}%) on most days: "
                "raise it if the work is wanted, or cut per-call cost (cheaper model, shorter context).",
            )
        )
    monthly_blocks = wf.blocked.get("monthly_limit_exceeded", 0)
    if monthly_blocks:
        found.append(
            Opportunity(
                wf.id,
                "monthly_limit_binding",
                f"{wf.label}: {monthly_blocks:,} requests blocked by the monthly limit",
                "The month's budget ran out before the month did: review the budget against the work it must cover.",
            )
        )
    return found


def _estimate_rule(wf: WorkflowReport) -> list[Opportunity]:
    est = wf.estimate_to_date_nano
    if not est or wf.calls < MIN_CALLS_FOR_RULES:
        return []
    actual = Decimal(wf.monthly_spend_nano)
    if actual <= est * ESTIMATE_OFF_RATIO and actual * ESTIMATE_OFF_RATIO >= est:
        return []
    ratio = actual / est
    return [
        Opportunity(
            wf.id,
            "estimate_off",
            f"{wf.label}: actual spend is {ratio:.1f}x the Phase 1 estimate to date",
            "Update the workflow's inventory (tasks, tokens per call, turns) so the estimate and the budget "
            "reflect real use.",
        )
    ]


def _round_up_budget(nano: int) -> int:
    """A budget figure people would write down: up to $5 below $100, $10 below $1,000, else $50."""
    step = 5 if nano < 100 * NANO else 10 if nano < 1000 * NANO else 50
    step_nano = step * NANO
    return -(-nano // step_nano) * step_nano
