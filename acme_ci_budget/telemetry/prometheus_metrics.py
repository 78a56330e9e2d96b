"""The ledger's state as Prometheus metric families: what ``acme-ci-budget metrics`` prints or pushes.

Owns the mapping from one ``metrics_snapshot`` (the status script's one round trip: every counter,
today's and this month's, and the month's whole stats hash) to the families:

- ``acme_budget_spent_usd{workflow,period}``, ``acme_budget_limit_usd{...}``, ``acme_budget_held_usd{...}``:
  gauges; ``period`` is ``day`` or ``month``; ``workflow="*"`` is the org's month;
- ``acme_budget_calls_total{workflow,model}``: calls settled this month;
- ``acme_budget_blocked_total{workflow,reason}``: calls refused this month;
- ``acme_budget_tokens_total{workflow,model,type}``: this month's tokens, ``type`` ``input`` |
  ``output`` | ``cache_write`` | ``cache_read`` (disjoint, as billed); tokens settled before the
  ledger counted them by model show as ``model="unattributed"``, so each workflow's sum stays exact;
- ``acme_budget_forecast_usd{workflow}``: the month's projected spend at its burn rate so far
  (``budget.forecast``), ``workflow="*"`` for the org.

- per repository (issue 17 item 3), from the stats fields its scripts write (``repo_cost|<repo>``,
  ``repo_calls|<repo>``, ``repo_blocked|<repo>|<reason>``): ``acme_budget_repo_spent_usd{repo}`` (this
  month), ``acme_budget_repo_calls_total{repo}``, ``acme_budget_repo_blocked_total{repo,reason}``; empty
  until the ledger attributes calls to repositories.

The counters restart at each month (Prometheus' ``rate``/``increase`` read a restart as a reset). USD
values are the ledger's nano-USD / 1e9. It must not read Redis (``ledger.status`` does) or render text
(``integrations.prometheus`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from acme_ci_budget.budget.forecast import project_month
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import NANO_PER_USD
from acme_ci_budget.integrations.prometheus import Family

ORG = "*"
UNATTRIBUTED = "unattributed"
TOKEN_TYPES = {"tok_in": "input", "tok_out": "output", "tok_cw": "cache_write", "tok_cr": "cache_read"}


def _usd(nano: int) -> float:
    return nano / NANO_PER_USD


def families(config: Config, snapshot: Mapping[str, Any]) -> list[Family]:
    """Every family from one ``BudgetEnforcer.metrics_snapshot()``."""
    stats: Mapping[str, int] = snapshot["stats"]
    return [
        *_money(config, snapshot),
        Family(
            "acme_budget_calls",
            "counter",
            "Model calls settled this month.",
            ("workflow", "model"),
            _split(stats, "calls", 2),
        ),
        Family(
            "acme_budget_blocked",
            "counter",
            "Model calls the budget refused this month, by reason.",
            ("workflow", "reason"),
            _split(stats, "blocked", 2),
        ),
        Family(
            "acme_budget_tokens",
            "counter",
            "Tokens settled this month (input excludes the cache).",
            ("workflow", "model", "type"),
            _tokens(stats),
        ),
        Family(
            "acme_budget_forecast_usd",
            "gauge",
            "The month's projected spend at its burn rate so far.",
            ("workflow",),
            _forecasts(config, snapshot),
            unit="usd",
        ),
        Family(
            "acme_budget_repo_spent_usd",
            "gauge",
            "Spend settled this month, by repository.",
            ("repo",),
            [(labels, value / NANO_PER_USD) for labels, value in _split(stats, "repo_cost", 1)],
            unit="usd",
        ),
        Family(
            "acme_budget_repo_calls",
            "counter",
            "Model calls settled this month, by repository.",
            ("repo",),
            _split(stats, "repo_calls", 1),
        ),
        Family(
            "acme_budget_repo_blocked",
            "counter",
            "Model calls refused this month, by repository and reason.",
            ("repo", "reason"),
            _split(stats, "repo_blocked", 2),
        ),
    ]


def _money(config: Config, snapshot: Mapping[str, Any]) -> list[Family]:
    org, wfs, month_held = snapshot["org"], snapshot["workflows"], snapshot["month_held_nano"]
    spent = [((ORG, "month"), _usd(org["spend_nano"]))]
    limit = [((ORG, "month"), _usd(org["budget_nano"]))]
    held = [((ORG, "month"), _usd(org["held_nano"]))]
    for wid, status in wfs.items():
        wf = config.workflows[wid]
        spent += [
            ((wid, "day"), _usd(status["daily_spend_nano"])),
            ((wid, "month"), _usd(status["monthly_spend_nano"])),
        ]
        limit += [((wid, "day"), _usd(wf.daily_nano)), ((wid, "month"), _usd(wf.monthly_nano))]
        held += [((wid, "day"), _usd(status["held_nano"])), ((wid, "month"), _usd(month_held[wid]))]
    labels = ("workflow", "period")
    return [
        Family("acme_budget_spent_usd", "gauge", "Spend settled, today and this month.", labels, spent, unit="usd"),
        Family("acme_budget_limit_usd", "gauge", "The budget: daily and monthly limits.", labels, limit, unit="usd"),
        Family("acme_budget_held_usd", "gauge", "Held by calls in flight.", labels, held, unit="usd"),
    ]


def _split(stats: Mapping[str, int], kind: str, parts: int) -> list[tuple[tuple[str, ...], float]]:
    """``kind|a|b`` fields as ((a, b), value); the last part is split from the right, the first keeps
    any ``|`` (an unknown workflow's id in a block is whatever the caller sent)."""
    out = []
    for name, value in sorted(stats.items()):
        head, sep, rest = name.partition("|")
        if head != kind or not sep:
            continue
        labels = tuple(rest.rsplit("|", parts - 1))
        if len(labels) == parts:
            out.append((labels, float(value)))
    return out


def _tokens(stats: Mapping[str, int]) -> list[tuple[tuple[str, ...], float]]:
    out: list[tuple[tuple[str, ...], float]] = []
    for field, kind in TOKEN_TYPES.items():
        by_model = _split(stats, field, 2)
        out += [((wid, model, kind), value) for (wid, model), value in by_model]
        for name, total in sorted(stats.items()):
            head, _, wid = name.partition("|")
            if head != field or "|" in wid:
                continue
            rest = total - sum(v for (w, _m), v in by_model if w == wid)
            if rest > 0:
                out.append(((wid, UNATTRIBUTED, kind), float(rest)))
    return out


def _day_costs(stats: Mapping[str, int], wid: str | None) -> dict[int, int]:
    days: dict[int, int] = {}
    for (w, dd), value in _split(stats, "day_cost", 2):
        if (wid is None or w == wid) and dd.isdigit():
            days[int(dd)] = days.get(int(dd), 0) + int(value)
    return days


def _forecasts(config: Config, snapshot: Mapping[str, Any]) -> list[tuple[tuple[str, ...], float]]:
    stats, today = snapshot["stats"], date.fromisoformat(snapshot["day"])
    org = snapshot["org"]
    out = [
        (
            (ORG,),
            _usd(project_month(org["spend_nano"], org["budget_nano"], today, _day_costs(stats, None)).projected_nano),
        )
    ]
    for wid, status in snapshot["workflows"].items():
        spent, budget = status["monthly_spend_nano"], config.workflows[wid].monthly_nano
        projected = project_month(spent, budget, today, _day_costs(stats, wid)).projected_nano
        out.append(((wid,), _usd(projected)))
    return out
