"""``acme-ci-budget reconcile``: the ledger against Anthropic's own usage and cost reports (issue 13).

Parses the period, tolerance and output options, calls ``runs.reconcile.run_reconcile`` once, prints
its rendering, and exits 0 within tolerance, 1 past it (bad input: 2, via the CLI's error handling).
The admin key comes only from ``$ANTHROPIC_ADMIN_KEY`` and is never printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import click

from acme_ci_budget.commands._options import config_option, format_option, load, redis_option


@click.command()
@click.option(
    "--month",
    metavar="YYYY-MM|current|previous",
    help="A UTC calendar month (current: its complete UTC days so far) [default: previous].",
)
@click.option("--since", metavar="DAY", help="First UTC day (YYYY-MM-DD) of the period; with --until.")
@click.option("--until", metavar="DAY", help="UTC day after the period's last (exclusive); with --since.")
@config_option
@redis_option
@format_option("text", "markdown", "json")
@click.option(
    "--tolerance-pct",
    type=click.FloatRange(min=0, max=100),
    default=1.0,
    show_default=True,
    help="A day x model row matches when its USD and every token count are within this % of Anthropic's.",
)
@click.option(
    "--record-adjustments",
    is_flag=True,
    help="Write one adjustment event per day x model past tolerance (idempotent), so the ledger equals the bill.",
)
def reconcile(
    month: str | None,
    since: str | None,
    until: str | None,
    config_path: str | None,
    redis_url: str | None,
    fmt: str,
    tolerance_pct: float,
    record_adjustments: bool,
) -> None:
    """Compare the ledger with Anthropic's usage and cost reports, per UTC day x model.

    \b
    Needs an admin key in $ANTHROPIC_ADMIN_KEY (sk-ant-admin01-...); the API base is
    $ANTHROPIC_BASE_URL, as for the SDK. Exit 0 within tolerance, 1 past it, 2 on bad input.
    """
    from acme_ci_budget.runs.reconcile import render, resolve_period, run_reconcile

    config = load(config_path)
    period = resolve_period(month, since, until, datetime.now(UTC))
    run = run_reconcile(
        config,
        period,
        tolerance_pct=Decimal(str(tolerance_pct)),
        record_adjustments=record_adjustments,
        redis_url=redis_url,
    )
    click.echo(render(run, fmt), nl=False)
    if not run.result.within_tolerance:
        raise click.exceptions.Exit(1)
