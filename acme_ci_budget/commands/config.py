"""``acme-ci-budget config validate|show``."""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option


@click.group()
def config() -> None:
    """Validate and inspect the budget config."""


@config.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@config_option
def validate(path: str | None, config_path: str | None) -> None:
    """Validate a config file: prints OK, or one line naming the file and field (exit 2).

    PATH defaults to --config, $ACME_BUDGET_CONFIG, ./.github/acme-budget.yml, then the built-in default.
    """
    from acme_ci_budget.config import load_config

    cfg = load_config(path or config_path)
    total = sum(wf.monthly_nano for wf in cfg.workflows.values())
    click.echo(
        f"OK {cfg.path}: {len(cfg.workflows)} workflows, ${total / 1e9:,.2f} of ${cfg.org_monthly_usd:,.2f}/month "
        f"allocated, reserve {cfg.reserve_pct:.0%}, timezone {cfg.timezone}"
    )
