"""``acme-ci-budget ledger reset``: admin operations on the ledger."""

from __future__ import annotations

from typing import Any

import click

from acme_ci_budget.commands._options import config_option, load, redis_option
from acme_ci_budget.core.money import fmt_usd


@click.group()
def ledger() -> None:
    """Admin operations on the ledger."""


@ledger.command()
@click.option("--workflow", help="Workflow id to reset (default: every workflow, and the org for --period month).")
@click.option("--period", type=click.Choice(["day", "month"]), required=True, help="Which spent counter to zero.")
@click.option("--yes", is_flag=True, help="Do it (without --yes nothing is changed).")
@config_option
@redis_option
def reset(workflow, period, yes, config_path, redis_url) -> None:
    """Zero the current day's or month's spend (history, stats and events are kept; the reset is logged).

    A month reset of one workflow takes its spend off the org's month total too, so the org total stays
    the sum of the workflows' (refused, nothing changed, when the org's total is below the workflow's).
    Prints every amount it zeroed.
    """
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    enforcer = BudgetEnforcer(load(config_path), redis_url=redis_url)
    if workflow:
        enforcer.config.workflow(workflow)  # unknown ids fail before anything changes
    target = workflow or "every workflow"
    if not yes:
        raise click.UsageError(f"this would zero the current {period}'s spend of {target}; add --yes to do it")
    click.echo(render_reset(enforcer.reset(workflow, period), target))


def render_reset(result: Any, target: str) -> str:
    """What a reset zeroed (a ``ledger.admin.ResetResult``), workflow by workflow, and the org's month total."""
    zeroed = fmt_usd(result.total_nano, 4)
    lines = [f"Reset the current {result.period}'s spend ({result.label}) of {target}: {zeroed} zeroed."]
    lines += [f"  {wid:<28}{fmt_usd(amount, 4):>14}" for wid, amount in result.zeroed]
    if result.period == "month":
        lines.append(
            f"  {'org month total':<28}{fmt_usd(result.org_before, 4):>14} -> {fmt_usd(result.org_after, 4)}"
        )
    return "\n".join(lines)
