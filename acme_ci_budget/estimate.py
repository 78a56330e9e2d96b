"""Phase 1 baseline estimate: each workflow's monthly tokens and cost from the config's inventory.

Pure functions over a ``Config``: no Redis, no network, no printing (the CLI
renders). Every figure is integer nano-USD from token counts and a price, so
the total is the exact sum of the lines; rounding happens only when printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.pricing import cost_nano, min_cacheable_tokens


@dataclass(frozen=True)
class WorkflowEstimate:
    workflow_id: str
    label: str
    model: str
    tasks: int
    calls: int
    input_tokens: int
    output_tokens: int
    input_cost_nano: int
    output_cost_nano: int
    monthly_budget_nano: int
    cached_cost_nano: int  # the same month with the stable system prompt cached
    cache_note: str = ""  # why caching does not apply, when it does not

    @property
    def cost_nano(self) -> int:
        return self.input_cost_nano + self.output_cost_nano


@dataclass(frozen=True)
class Scenario:
    growth: int
    total_nano: int
    utilization_pct: float
    over_budget: tuple[str, ...]  # workflow ids whose monthly budget this scenario exceeds


@dataclass(frozen=True)
class Estimate:
    workflows: tuple[WorkflowEstimate, ...]
    budget_nano: int
    scenarios: tuple[Scenario, ...]

    @property
    def total_nano(self) -> int:
        return sum(w.cost_nano for w in self.workflows)

    @property
    def headroom_nano(self) -> int:
        return self.budget_nano - self.total_nano

    @property
    def utilization_pct(self) -> float:
        return self.total_nano * 100 / self.budget_nano if self.budget_nano else 0.0

    @property
    def cached_total_nano(self) -> int:
        return sum(w.cached_cost_nano for w in self.workflows)


def estimate_workflow(config: Config, wf: Workflow, growth: int = 1) -> WorkflowEstimate | None:
    """One workflow's month at ``growth`` times the inventory's task count (None without an inventory)."""
    inv = wf.inventory
    if inv is None:
        return None
    tasks = inv.monthly_tasks * growth
    calls = tasks * inv.calls_per_task
    input_tokens = calls * inv.avg_input_tokens
    output_tokens = calls * inv.avg_output_tokens
    input_cost = cost_nano(inv.model, input_tokens, 0, overrides=config.pricing)
    output_cost = cost_nano(inv.model, 0, output_tokens, overrides=config.pricing)
    cached, note = input_cost + output_cost, ""
    if not wf.cache_system_prompt:
        note = "caching off"
    elif inv.cacheable_input_tokens < (minimum := min_cacheable_tokens(inv.model)):
        note = f"{inv.cacheable_input_tokens:,}-token prompt is below {inv.model}'s {minimum:,}-token cache minimum"
    else:
        cached = _cached_cost(config, wf, tasks, calls)
    return WorkflowEstimate(
        workflow_id=wf.id,
        label=wf.label,
        model=inv.model,
        tasks=tasks,
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_cost_nano=input_cost,
        output_cost_nano=output_cost,
        monthly_budget_nano=wf.monthly_nano,
        cached_cost_nano=cached,
        cache_note=note,
    )


def _cached_cost(config: Config, wf: Workflow, tasks: int, calls: int) -> int:
    """The month with the stable prompt cached: one cache write per task, cache reads on its later calls.

    A single-call task (a PR review) gains nothing from the 5-minute cache and pays the write premium,
    so this can come out above the uncached cost; the estimate shows that rather than hiding it.
    """
    inv = wf.inventory
    cacheable = min(inv.cacheable_input_tokens, inv.avg_input_tokens)
    fresh_input = calls * (inv.avg_input_tokens - cacheable)
    writes = tasks * cacheable
    reads = (calls - tasks) * cacheable
    return cost_nano(
        inv.model,
        fresh_input,
        calls * inv.avg_output_tokens,
        cache_creation_input_tokens=writes,
        cache_read_input_tokens=reads,
        overrides=config.pricing,
    )


def build_estimate(config: Config, growths: tuple[int, ...] = ()) -> Estimate:
    """The baseline estimate, plus one scenario per growth factor (10 means ten times today's tasks)."""
    lines = tuple(e for wf in config.workflows.values() if (e := estimate_workflow(config, wf)) is not None)
    scenarios = []
    for growth in growths:
        grown = [e for wf in config.workflows.values() if (e := estimate_workflow(config, wf, growth)) is not None]
        total = sum(e.cost_nano for e in grown)
        scenarios.append(
            Scenario(
                growth=growth,
                total_nano=total,
                utilization_pct=total * 100 / config.org_monthly_nano if config.org_monthly_nano else 0.0,
                over_budget=tuple(e.workflow_id for e in grown if e.cost_nano > e.monthly_budget_nano),
            )
        )
    return Estimate(workflows=lines, budget_nano=config.org_monthly_nano, scenarios=tuple(scenarios))
