"""``acme-ci-budget ledger reset``: admin operations on the ledger."""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, load, redis_option


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
    """Zero the current day's or month's spend (history, stats and events are kept; the reset is logged)."""
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    enforcer = BudgetEnforcer(load(config_path), redis_url=redis_url)
    if workflow:
        enforcer.config.workflow(workflow)  # unknown ids fail before anything changes
    target = workflow or "every workflow"
    if not yes:
        raise click.UsageError(f"this would zero the current {period}'s spend of {target}; add --yes to do it")
    removed = enforcer.reset(workflow, period)
    click.echo(f"Reset the current {period}'s spend of {target} ({len(removed)} counters).")
