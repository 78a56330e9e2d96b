"""The monthly report's model: frozen dataclasses for the organisation, each workflow, the
opportunities and the whole report, with the figures derived from them (percentages, remaining,
cache hit rate, estimate difference) and the documented JSON shape (``Report.to_json``).

Owns what each figure means and its unit (money integer nano-USD; ``*_pct`` fields are percents,
0-100). It must not read Redis, build a report from the ledger (``monthly`` does), decide advice
(``advice``) or render (``render``).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from acme_ci_budget.budget.reconcile import DriftFigure
from acme_ci_budget.budget.roi import RoiSummary
from acme_ci_budget.core.money import pct
from acme_ci_budget.report.json_shape import report_json
from acme_ci_budget.report.repos import RepoLine
from acme_ci_budget.report.savings import Savings

# Blocks by a money limit: spend below the estimate with these is the budget's doing, not the inventory's.
MONEY_LIMITS = frozenset({"daily_limit_exceeded", "monthly_limit_exceeded", "total_org_budget_exceeded"})


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
    def capped_blocks(self) -> int:
        """Requests a money limit (daily, monthly, org) refused: spend they would have added is missing."""
        return sum(n for reason, n in self.blocked.items() if reason in MONEY_LIMITS)

    @property
    def under_estimate_by_blocks(self) -> bool:
        """Below the estimate to date because the budget refused work (not because use was low)."""
        return (self.vs_estimate_pct or 0) < 0 and self.capped_blocks > 0

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
    savings: Savings | None = None  # from the month's events, when asked for (the counters cannot say)
    previous: Report | None = None  # the month before, when asked for and it had activity
    reconcile: DriftFigure | None = None  # the month's last `reconcile` (ledger vs Anthropic), if one ran
    repos: tuple[RepoLine, ...] = field(default=())  # by repository (report.repos); shown when more than one

    @property
    def daily_nano(self) -> tuple[int, ...]:
        """The organisation's spend per day of the month (index 0 = day 1)."""
        return tuple(sum(w.daily_nano[i] for w in self.workflows) for i in range(self.days_in_month))

    @property
    def peak_day(self) -> int | None:
        """The day of the month with the most spend (the earliest of equal days); None without spend."""
        days = self.daily_nano
        top = max(days, default=0)
        return days.index(top) + 1 if top else None

    @property
    def peak_day_nano(self) -> int:
        return max(self.daily_nano, default=0)

    @property
    def peak_date(self) -> date | None:
        if self.peak_day is None:
            return None
        year, month = (int(x) for x in self.month.split("-"))
        return date(year, month, self.peak_day)

    @property
    def is_empty(self) -> bool:
        """Nothing happened this month: the renderers show one empty state instead of zero charts."""
        return not self.has_activity

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
        """The documented JSON shape (README, "JSON outputs"); all money in USD as numbers."""
        return report_json(self)
