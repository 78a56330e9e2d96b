"""What a simulation found: fired alerts, per-workflow summaries, the run's result, and the alert digest.

Owns the result model of a run (frozen dataclasses, their JSON shape) and how it is read from the
ledger's month stats (the same counters the monthly report reads). It must not run calls, print or
write files; ``commands.simulate`` words it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from acme_ci_budget.alerts.alert import RANK
from acme_ci_budget.budget.estimate import estimate_workflow, month_cost
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import nano_to_usd, pct
from acme_ci_budget.simulate.traffic import TrafficPlan


@dataclass(frozen=True)
class FiredAlert:
    """An alert the simulation would have sent, with the simulated day it fired."""

    day: date
    level: str
    condition: str
    scope: str
    period: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "level": self.level,
            "condition": self.condition,
            "scope": self.scope,
            "period": self.period,
            "message": self.message,
        }


@dataclass(frozen=True)
class AlertGroup:
    """The alerts of one level and condition: how many fired, the first and the last (in firing order)."""

    level: str
    condition: str
    count: int
    first: FiredAlert
    last: FiredAlert

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "condition": self.condition,
            "count": self.count,
            "first": self.first.to_json(),
            "last": self.last.to_json(),
        }


def alert_digest(alerts: Sequence[FiredAlert]) -> tuple[AlertGroup, ...]:
    """The alerts by level (most severe first) and condition (the first to fire first), counted."""
    groups: dict[tuple[str, str], list[FiredAlert]] = {}
    for alert in alerts:
        groups.setdefault((alert.level, alert.condition), []).append(alert)
    order = sorted(groups, key=lambda key: -RANK.get(key[0], -1))  # stable: firing order within a level
    return tuple(
        AlertGroup(level, kind, len(fired), fired[0], fired[-1])
        for level, kind in order
        for fired in [groups[level, kind]]
    )


@dataclass(frozen=True)
class ModelUse:
    model: str
    calls: int
    cost_nano: int
    share_pct: float  # of the workflow's spend


@dataclass(frozen=True)
class WorkflowSummary:
    workflow_id: str
    label: str
    planned_units: int
    planned_calls: int
    calls: int  # settled
    skipped_turns: int  # turns of sessions that ended at a block
    truncated: int  # replies cut at max_tokens
    blocked: Mapping[str, int]
    first_blocked: Mapping[str, date]  # reason -> first simulated day it refused a call
    days_blocked: Mapping[str, int]  # reason -> distinct days it refused calls
    spend_nano: int
    at_inventory_price_nano: int | None  # the same tokens priced at the inventory's model
    estimate_nano: int | None  # Phase 1 estimate of the scaled inventory
    monthly_budget_nano: int
    daily_budget_nano: int
    peak_day: int | None
    peak_day_nano: int
    tokens: Mapping[str, int]
    models: tuple[ModelUse, ...]
    tasks: int
    sessions: int

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    @property
    def vs_estimate_pct(self) -> float | None:
        if not self.estimate_nano:
            return None
        return (self.spend_nano - self.estimate_nano) * 100.0 / self.estimate_nano

    @property
    def budget_pct(self) -> float:
        return pct(self.spend_nano, self.monthly_budget_nano)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "planned_units": self.planned_units,
            "planned_calls": self.planned_calls,
            "calls": self.calls,
            "skipped_turns": self.skipped_turns,
            "truncated": self.truncated,
            "blocked": dict(self.blocked),
            "blocked_total": self.blocked_total,
            "first_blocked": {r: d.isoformat() for r, d in self.first_blocked.items()},
            "days_blocked": dict(self.days_blocked),
            "spend_nano": self.spend_nano,
            "spend_usd": nano_to_usd(self.spend_nano),
            "at_inventory_price_nano": self.at_inventory_price_nano,
            "estimate_nano": self.estimate_nano,
            "estimate_usd": nano_to_usd(self.estimate_nano) if self.estimate_nano is not None else None,
            "vs_estimate_pct": self.vs_estimate_pct,
            "monthly_budget_usd": nano_to_usd(self.monthly_budget_nano),
            "budget_pct": self.budget_pct,
            "daily_budget_usd": nano_to_usd(self.daily_budget_nano),
            "peak_day": self.peak_day,
            "peak_day_usd": nano_to_usd(self.peak_day_nano),
            "tokens": dict(self.tokens),
            "models": {
                m.model: {"calls": m.calls, "cost_nano": m.cost_nano, "share_pct": m.share_pct} for m in self.models
            },
            "tasks": self.tasks,
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class SimulationResult:
    month: str
    scale: float
    seed: int
    namespace: str
    ledger: str  # "scratch" or the redacted URL
    days_in_month: int
    days_simulated: int
    workflows: tuple[WorkflowSummary, ...]
    alerts: tuple[FiredAlert, ...]
    org_spend_nano: int
    org_budget_nano: int
    elapsed_seconds: float = field(compare=False)
    config: Config = field(compare=False, repr=False)
    report_paths: Mapping[str, str] = field(default_factory=dict, compare=False)
    kept: bool = field(default=False, compare=False)  # the month stays in its namespace after the run

    @property
    def calls(self) -> int:
        return sum(w.calls for w in self.workflows)

    @property
    def blocked(self) -> int:
        return sum(w.blocked_total for w in self.workflows)

    @property
    def estimate_nano(self) -> int:
        return sum(w.estimate_nano or 0 for w in self.workflows)

    @property
    def calls_per_second(self) -> float:
        return (self.calls + self.blocked) / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def workflow(self, workflow_id: str) -> WorkflowSummary:
        for wf in self.workflows:
            if wf.workflow_id == workflow_id:
                return wf
        raise KeyError(workflow_id)

    def to_json(self) -> dict[str, Any]:
        """Everything the run decided (deterministic for a seed: no timings, no ids)."""
        return {
            "month": self.month,
            "scale": self.scale,
            "seed": self.seed,
            "namespace": self.namespace,
            "days_in_month": self.days_in_month,
            "days_simulated": self.days_simulated,
            "calls": self.calls,
            "blocked": self.blocked,
            "org_spend_nano": self.org_spend_nano,
            "org_spend_usd": nano_to_usd(self.org_spend_nano),
            "org_budget_usd": nano_to_usd(self.org_budget_nano),
            "estimate_nano": self.estimate_nano,
            "workflows": {w.workflow_id: w.to_json() for w in self.workflows},
            "alerts": [a.to_json() for a in self.alerts],
        }


def summaries(
    config: Config,
    enforcer: Any,
    plan: TrafficPlan,
    month: str,
    skipped: Mapping[str, int],
    truncated: Mapping[str, int],
    first_blocked: Mapping[str, Mapping[str, date]],
    block_days: Mapping[str, Mapping[str, set[date]]],
) -> tuple[WorkflowSummary, ...]:
    """Per-workflow figures from the ledger's month stats (the same counters the report reads)."""

    stats = enforcer.month_stats(month)
    out = []
    for wid, wf in config.workflows.items():
        calls = stats.get(f"calls|{wid}", 0)
        spend = stats.get(f"cost|{wid}", 0)
        tokens = {
            "input": stats.get(f"tok_in|{wid}", 0),
            "output": stats.get(f"tok_out|{wid}", 0),
            "cache_write": stats.get(f"tok_cw|{wid}", 0),
            "cache_read": stats.get(f"tok_cr|{wid}", 0),
        }
        blocked = {
            name.rsplit("|", 1)[1]: n for name, n in sorted(stats.items()) if name.startswith(f"blocked|{wid}|") and n
        }
        models = []
        for name, n in sorted(stats.items()):
            if name.startswith(f"calls|{wid}|"):
                model = name[len(f"calls|{wid}|") :]
                cost = stats.get(f"cost|{wid}|{model}", 0)
                models.append(ModelUse(model, n, cost, pct(cost, spend)))
        models.sort(key=lambda m: (-m.cost_nano, -m.calls, m.model))
        days = {int(name.rsplit("|", 1)[1]): n for name, n in stats.items() if name.startswith(f"day_cost|{wid}|")}
        peak_day = max(days, key=lambda d: (days[d], -d)) if days else None
        estimate = estimate_workflow(config, wf)
        inv = wf.inventory
        out.append(
            WorkflowSummary(
                workflow_id=wid,
                label=wf.label,
                planned_units=plan.units.get(wid, 0),
                planned_calls=plan.calls_of(wid),
                calls=calls,
                skipped_turns=skipped.get(wid, 0),
                truncated=truncated.get(wid, 0),
                blocked=blocked,
                first_blocked=dict(sorted(first_blocked.get(wid, {}).items(), key=lambda kv: kv[1])),
                days_blocked={r: len(d) for r, d in sorted(block_days.get(wid, {}).items())},
                spend_nano=spend,
                # priced call by call, as the estimate is: the month's tokens are not one request, so a
                # long-context tier applies only at the average call's prompt size
                at_inventory_price_nano=(
                    month_cost(
                        config,
                        inv.model,
                        (tokens["input"] + tokens["cache_write"] + tokens["cache_read"]) // calls if calls else 0,
                        input_tokens=tokens["input"],
                        output_tokens=tokens["output"],
                        cache_write_tokens=tokens["cache_write"],
                        cache_read_tokens=tokens["cache_read"],
                    )
                    if inv is not None
                    else None
                ),
                estimate_nano=estimate.cost_nano if estimate is not None else None,
                monthly_budget_nano=wf.monthly_nano,
                daily_budget_nano=wf.daily_nano,
                peak_day=peak_day,
                peak_day_nano=days.get(peak_day, 0) if peak_day else 0,
                tokens=tokens,
                models=tuple(models),
                tasks=stats.get(f"tasks|{wid}", 0),
                sessions=stats.get(f"sessions|{wid}", 0),
            )
        )
    return tuple(out)
