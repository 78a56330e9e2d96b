"""Phase 1 baseline estimate: each workflow's monthly tokens and cost from the config's inventory.

Also the what-if of a model migration: the same inventory priced on each of a list of models.
Pure functions over a ``Config``: no Redis, no network, no printing (the CLI
renders). Every figure is integer nano-USD from token counts and a price, so
the total is the exact sum of the lines; rounding happens only when printed.

A month is priced as its calls, not as one giant request: a model with a long-context
tier (claude-haiku-5-5 above 100K prompt tokens) is billed per request on that request's
prompt, so the tier is the one an average call's prompt falls in, never the month's total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP

from acme_ci_budget.catalog.pricing import min_cacheable_tokens, price_for
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.money import NANO_PER_USD

_NANO_PER_MTOK_USD = NANO_PER_USD // 1_000_000  # $1 per million tokens is 1,000 nano per token


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


# Weekdays in an average month: work that follows the working week (PRs, sessions) spreads over these,
# so a growth scenario's busy day is its month over this many days, against the daily limit.
WORKING_DAYS = 22


@dataclass(frozen=True)
class ScenarioLine:
    """One workflow at a growth factor: what the work would cost, and what its limits let it spend."""

    workflow_id: str
    label: str
    cost_nano: int  # the demand: the inventory's tasks times the growth factor
    monthly_budget_nano: int
    daily_nano: int

    @property
    def busy_day_nano(self) -> int:
        """An average working day of this month's work."""
        return self.cost_nano // WORKING_DAYS

    @property
    def over_daily(self) -> bool:
        return bool(self.daily_nano) and self.busy_day_nano > self.daily_nano

    @property
    def over_monthly(self) -> bool:
        return self.cost_nano > self.monthly_budget_nano

    @property
    def allowed_nano(self) -> int:
        """What the limits let it spend: working days capped by the daily limit, then the monthly budget."""
        days = min(self.cost_nano, self.daily_nano * WORKING_DAYS) if self.daily_nano else self.cost_nano
        return min(days, self.monthly_budget_nano)


@dataclass(frozen=True)
class Scenario:
    growth: int
    total_nano: int  # the demand, all workflows
    utilization_pct: float  # the demand as a percent of the org budget
    over_budget: tuple[str, ...]  # workflow ids whose monthly budget this scenario exceeds
    lines: tuple[ScenarioLine, ...] = ()

    @property
    def over_daily(self) -> tuple[str, ...]:
        """Workflow ids whose daily limit an average working day of this scenario exceeds."""
        return tuple(line.workflow_id for line in self.lines if line.over_daily)

    @property
    def allowed_nano(self) -> int:
        """What the workflows' daily and monthly limits let the month spend (at most the demand)."""
        return sum(line.allowed_nano for line in self.lines)

    def label(self, workflow_id: str) -> str:
        return next((line.label for line in self.lines if line.workflow_id == workflow_id), workflow_id)


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
    input_cost = month_cost(config, inv.model, inv.avg_input_tokens, input_tokens=input_tokens)
    output_cost = month_cost(config, inv.model, inv.avg_input_tokens, output_tokens=output_tokens)
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
    return month_cost(
        config,
        inv.model,
        inv.avg_input_tokens,
        input_tokens=fresh_input,
        output_tokens=calls * inv.avg_output_tokens,
        cache_write_tokens=writes,
        cache_read_tokens=reads,
    )


def month_cost(
    config: Config,
    model: str,
    prompt_tokens: int,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> int:
    """A month's tokens on ``model`` in nano-USD, exact and rounded once, at the tier of one average call.

    ``prompt_tokens`` is one call's prompt (input + cache write + cache read): every call of the
    inventory sends ``avg_input_tokens``, cached or not, so the long-context tier it pays is the one
    that prompt falls in (as ``pricing.cost_nano`` picks it for a single request).
    """
    tier = price_for(model, config.pricing).tier_for(prompt_tokens)
    exact = (
        input_tokens * tier.input
        + output_tokens * tier.output
        + cache_write_tokens * tier.cache_write
        + cache_read_tokens * tier.cache_read
    ) * _NANO_PER_MTOK_USD
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


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
                lines=tuple(
                    ScenarioLine(
                        e.workflow_id,
                        e.label,
                        e.cost_nano,
                        e.monthly_budget_nano,
                        config.workflows[e.workflow_id].daily_nano,
                    )
                    for e in grown
                ),
            )
        )
    return Estimate(workflows=lines, budget_nano=config.org_monthly_nano, scenarios=tuple(scenarios))


# --- what-if: the same inventory on other models --------------------------------------------------


@dataclass(frozen=True)
class WhatIfLine:
    workflow_id: str
    label: str
    configured_model: str
    calls: int
    input_tokens: int
    output_tokens: int
    configured_cost_nano: int
    cost_nano: tuple[int, ...]  # one per model of ``WhatIf.models``, in that order


@dataclass(frozen=True)
class WhatIf:
    models: tuple[str, ...]
    lines: tuple[WhatIfLine, ...]
    budget_nano: int
    growths: tuple[int, ...] = ()

    @property
    def configured_total_nano(self) -> int:
        return sum(line.configured_cost_nano for line in self.lines)

    @property
    def totals_nano(self) -> tuple[int, ...]:
        return tuple(sum(line.cost_nano[i] for line in self.lines) for i in range(len(self.models)))

    def utilization_pct(self, total_nano: int) -> float:
        return total_nano * 100 / self.budget_nano if self.budget_nano else 0.0


def build_what_if(config: Config, models: tuple[str, ...], growths: tuple[int, ...] = ()) -> WhatIf:
    """Each workflow's inventory priced on every one of ``models`` at list price (no prompt caching).

    Raises ``UnknownModelError`` for a model with no price. Costs are linear in the task count, so a
    growth scenario is its factor times these totals.
    """
    for model in models:
        price_for(model, config.pricing)  # an unknown model fails before any line is built
    lines = []
    for wf in config.workflows.values():
        base = estimate_workflow(config, wf)
        if base is None:
            continue
        inv = wf.inventory
        costs = tuple(
            month_cost(config, model, inv.avg_input_tokens, input_tokens=base.input_tokens)
            + month_cost(config, model, inv.avg_input_tokens, output_tokens=base.output_tokens)
            for model in models
        )
        lines.append(
            WhatIfLine(
                workflow_id=wf.id,
                label=wf.label,
                configured_model=inv.model,
                calls=base.calls,
                input_tokens=base.input_tokens,
                output_tokens=base.output_tokens,
                configured_cost_nano=base.cost_nano,
                cost_nano=costs,
            )
        )
    return WhatIf(models=models, lines=tuple(lines), budget_nano=config.org_monthly_nano, growths=growths)
