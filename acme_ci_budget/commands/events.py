"""``acme-ci-budget events``: export the usage-event stream (calls, blocks, failures) as JSON Lines or CSV."""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, format_option, load, namespace_option, redis_option
from acme_ci_budget.telemetry.monitor_export import EVENT_TYPES


@click.command()
@click.option("--workflow", "-w", metavar="ID", help="Only this workflow's events.")
@click.option(
    "--since", metavar="WHEN", help="Only events at or after WHEN: 24h, 7d, 2w, 2026-11-01, 2026-11-01T09:30."
)
@click.option("--until", metavar="WHEN", help="Only events before WHEN (same forms as --since).")
@click.option(
    "--repo",
    metavar="OWNER/NAME",
    help="Only this repository's events (--repo '' : calls attributed to no repository).",
)
@click.option("--type", "types", type=click.Choice(EVENT_TYPES), multiple=True, help="Only these types (repeatable).")
@format_option("jsonl", "csv", default="jsonl")
@click.option(
    "--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="Write here instead of stdout."
)
@config_option
@redis_option
@namespace_option
def events(
    workflow: str | None,
    since: str | None,
    until: str | None,
    repo: str | None,
    types: tuple[str, ...],
    fmt: str,
    output: click.utils.LazyFile,
    config_path: str | None,
    redis_url: str | None,
    namespace: str | None,
) -> None:
    """Export every model call, budget block and failure the ledger logged, oldest first.

    Times are read and printed in the config's timezone; costs are exact (cost_nano, and
    cost_usd as a decimal string), so exported sums reconcile with `status`.
    """
    from acme_ci_budget.core.errors import UsageError
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer
    from acme_ci_budget.telemetry.monitor_export import parse_time, write_csv, write_jsonl

    cfg = load(config_path, namespace)
    if workflow and workflow not in cfg.workflows:
        # Not an error: events of a workflow since removed from the config are still history.
        click.echo(f"warning: {workflow!r} is not a workflow in {cfg.path}; exporting its events anyway", err=True)
    enforcer = BudgetEnforcer(cfg, redis_url=redis_url)
    now = enforcer.now()
    try:
        since_ms = parse_time(since, now, cfg.tz, "--since") if since else None
        until_ms = parse_time(until, now, cfg.tz, "--until") if until else None
    except UsageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=str(exc).split(":", 1)[0]) from None
    selected = enforcer.events(since_ms, workflow, types=types or None, until_ms=until_ms, repo=repo)
    writer = write_csv if fmt == "csv" else write_jsonl
    count = writer(selected, output, cfg.tz)
    if output.name != "<stdout>":
        click.echo(f"{count} events written to {output.name}", err=True)
