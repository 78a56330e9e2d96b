"""``acme-ci-budget models check``: is every model the config names still served by the Claude API."""

from __future__ import annotations

from datetime import date

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load


@click.group()
def models() -> None:
    """Model lifecycle: which models the config names, and whether the API still serves them."""


@models.command()
@config_option
@format_option("text", "json")
@click.option(
    "--timeout-seconds", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Models API timeout."
)
def check(config_path: str | None, fmt: str, timeout_seconds: float) -> None:
    """Ask the Models API (GET /v1/models) about every model the config names.

    Prints each model's lifecycle state (active, deprecated, retired), retirement date and the
    config fields that use it. A retired model, or one the API does not list, exits 2 with one
    line per model naming the fields; a deprecated one is a warning. Needs $ANTHROPIC_API_KEY
    ($ANTHROPIC_BASE_URL points it elsewhere, as in the SDK); the key is never printed.
    """
    from acme_ci_budget.budget.models_check import check_online, named_models
    from acme_ci_budget.catalog.lifecycle import bundled_table
    from acme_ci_budget.integrations.models_api import ModelsAPI

    config = load(config_path)
    table = bundled_table()
    catalogue = ModelsAPI(timeout=timeout_seconds).catalogue(named_models(config))
    checks = check_online(config, catalogue, table)
    failures = [c for c in checks if c.failed]
    if fmt == "json":
        echo_json(
            {
                "config": config.path,
                "models_api": catalogue.base_url,
                "listed": len(catalogue.models),
                "ok": not failures,
                "models": [
                    {
                        "model": c.model,
                        "state": c.state,
                        "deprecated_at": c.deprecated_at.isoformat() if c.deprecated_at else None,
                        "retires_at": c.retires_at.isoformat() if c.retires_at else None,
                        "replacement": c.replacement,
                        "used_by": list(c.uses),
                    }
                    for c in checks
                ],
            }
        )
    else:
        click.echo(f"Models API {catalogue.base_url}: {len(catalogue.models)} models listed; config {config.path}")
        width = max([len(c.model) for c in checks] + [5])
        click.echo(f"{'MODEL':<{width}}  {'STATE':<10}  {'RETIRES':<10}  USED BY")
        for c in checks:
            retires = c.retires_at.isoformat() if c.retires_at else "-"
            click.echo(f"{c.model:<{width}}  {c.state:<10}  {retires:<10}  {', '.join(c.uses)}")
    for c in checks:
        if c.warned:
            click.echo(f"warning: {c.message(date.today())}", err=True)
    for c in failures:
        click.echo(f"Error: {c.message()}", err=True)
    if failures:
        click.get_current_context().exit(2)
