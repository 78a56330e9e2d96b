"""Month-end spend forecast: the month's burn rate so far, projected to the month's last day.

Owns the burn-rate maths as pure functions over integer nano-USD and calendar
dates: which local day it is, how far into the month that is, what the month
will cost at this pace, and on which day the budget runs out. Day granularity:
today counts as a whole elapsed day, so a forecast is stable within a day and
never divides by a few minutes of data. It must not read Redis, the clock or
the config; callers pass in spend, budgets and dates.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from acme_ci_budget.core.money import pct


@dataclass(frozen=True)
class Forecast:
    """Where one budget's month is heading at the month-so-far burn rate."""

    today: date
    days_in_month: int
    elapsed_days: int
    spent_nano: int
    budget_nano: int
    burn_nano_per_day: int
    projected_nano: int
    runs_out_on: date | None  # the day cumulative spend reaches the budget (past or projected); None: not this month

    @property
    def projected_pct(self) -> float:
        return pct(self.projected_nano, self.budget_nano)

    @property
    def exhausted(self) -> bool:
        return self.budget_nano > 0 and self.spent_nano >= self.budget_nano

    @property
    def over_budget(self) -> bool:
        """The month, at this pace, ends above its budget."""
        return self.budget_nano > 0 and self.projected_nano > self.budget_nano


def local_date(now: datetime, tz: tzinfo) -> date:
    """The calendar day of ``now`` in ``tz`` (an aware ``now`` is required: a naive one is ambiguous)."""
    if now.tzinfo is None:
        raise ValueError("local_date needs an aware datetime")
    return now.astimezone(tz).date()


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def project_month(
    spent_nano: int,
    budget_nano: int,
    today: date,
    day_costs: Mapping[int, int] | None = None,
) -> Forecast:
    """Project ``spent_nano`` (month to date, through ``today``) to the month's end.

    Burn rate = spent / elapsed days (today included). The projection and the
    run-out day use exact integer maths: at this pace cumulative spend at the
    end of day ``d`` is ``spent * d / elapsed``, so the budget runs out on the
    first ``d`` with ``spent * d >= budget * elapsed``. If the budget is already
    spent, ``day_costs`` (day of month -> nano spent that day) dates when it
    ran out; without them it is dated today.
    """
    if spent_nano < 0 or budget_nano < 0:
        raise ValueError(f"spend and budget must be >= 0 (got {spent_nano}, {budget_nano})")
    total_days = days_in_month(today)
    elapsed = today.day
    projected = spent_nano * total_days // elapsed
    runs_out: date | None = None
    if budget_nano > 0 and spent_nano >= budget_nano:
        runs_out = _day_reached(day_costs, budget_nano, today) or today
    elif budget_nano > 0 and spent_nano > 0:
        day = -(-budget_nano * elapsed // spent_nano)  # ceil without floats
        if day <= total_days:
            runs_out = today.replace(day=day)
    return Forecast(
        today=today,
        days_in_month=total_days,
        elapsed_days=elapsed,
        spent_nano=spent_nano,
        budget_nano=budget_nano,
        burn_nano_per_day=spent_nano // elapsed,
        projected_nano=projected,
        runs_out_on=runs_out,
    )


def _day_reached(day_costs: Mapping[int, int] | None, budget_nano: int, today: date) -> date | None:
    if not day_costs:
        return None
    total = 0
    for day in range(1, today.day + 1):
        total += day_costs.get(day, 0)
        if total >= budget_nano:
            return today.replace(day=day)
    return None


def day_costs(stats: Mapping[str, int], workflow_ids: Iterable[str]) -> dict[int, int]:
    """Per-day spend of the month summed over ``workflow_ids``, from the ledger's stats hash.

    ``stats`` maps field -> integer value (fields ``day_cost|{wf}|{DD}``); other fields are ignored.
    """
    wanted = set(workflow_ids)
    out: dict[int, int] = {}
    for name, value in stats.items():
        if not name.startswith("day_cost|"):
            continue
        _, wf, dd = name.rsplit("|", 2) if name.count("|") >= 2 else ("", "", "")
        if wf not in wanted or not dd.isdigit():
            continue
        out[int(dd)] = out.get(int(dd), 0) + int(value)
    return out
