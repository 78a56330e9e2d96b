"""``acme-ci-budget report``: the monthly budget and ROI report in text, Markdown, HTML or JSON.

Parses options (each also read from the environment the composite action
sets: ``ACB_MONTH``, ``ACB_REPORT_FORMAT``, ``ACB_POST_SLACK``), builds the
report from the ledger, renders it, writes or prints it, and in GitHub Actions
sets the ``report-path`` output and writes the Markdown to the job summary.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from acme_ci_budget.commands._options import config_option, format_option, load, namespace_option, redis_option

FORMATS = ("text", "markdown", "html", "json")
EXTENSIONS = {"text": "txt", "markdown": "md", "html": "html", "json": "json"}


@click.command()
@config_option
@redis_option
@namespace_option
@click.option(
    "--month",
    envvar="ACB_MONTH",
    default="current",
    show_default=True,
    metavar="YYYY-MM|current|previous",
    help="Month to report, in the config's timezone; 'previous' is the last complete month, what the "
    "scheduled workflow uses on the 1st [env ACB_MONTH].",
)
@format_option(*FORMATS, envvar="ACB_REPORT_FORMAT", help="Output format; html is a self-contained dashboard page")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the report to FILE instead of printing it (in GitHub Actions an HTML report is written "
    "to $RUNNER_TEMP when this is not given, for the upload step).",
)
@click.option(
    "--post-slack/--no-post-slack",
    envvar="ACB_POST_SLACK",
    default=False,
    show_default=True,
    help="Also post the report (Markdown, split to fit) to alerts.slack_webhook_url [env ACB_POST_SLACK].",
)
@click.option("--ephemeral-ledger", is_flag=True, envvar="ACB_EPHEMERAL_LEDGER", help="Allow an embedded ledger in CI.")
def report(
    config_path: str | None,
    redis_url: str | None,
    namespace: str | None,
    month: str,
    fmt: str,
    output: str | None,
    post_slack: bool,
    ephemeral_ledger: bool,
) -> None:
    """The monthly budget and ROI report, built from the ledger's counters.

    \b
    Organisation spend, budget, reserve and forecast; per workflow spend against
    its limits with health, blocked requests, tokens, cache hit rate and model mix;
    the Phase 1 estimate next to the actual; ROI from the config's roi: section;
    and optimization opportunities.
    """
    from acme_ci_budget.integrations import gha
    from acme_ci_budget.integrations.slack import actions_run_url
    from acme_ci_budget.report.monthly import resolve_month
    from acme_ci_budget.report.render import render, render_markdown

    config = load(config_path, namespace)
    try:
        # Validate the month before touching Redis, so a typo fails fast and says so.
        resolve_month(month, datetime.now(UTC), config.tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("month: "), param_hint="'--month'") from None
    result = _build(config, redis_url, month, ephemeral_ledger)
    text = render(result, fmt)

    path = Path(output) if output else None
    if path is None and fmt == "html" and gha.in_actions():
        path = Path(os.environ.get("RUNNER_TEMP") or ".") / f"acme-budget-report-{result.month}.{EXTENSIONS[fmt]}"
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote the {result.month} report ({fmt}) to {path}", err=True)
        gha.set_output("report-path", str(path))
    elif gha.in_actions():
        gha.stop_commands(text)  # config text in the report must not be read as workflow commands
    else:
        click.echo(text, nl=False)

    run_url = actions_run_url()
    if gha.in_actions():
        gha.append_summary(render_markdown(result, "github", artifact_url=run_url if path else None))
    if post_slack:
        _post(config, result, run_url if (path is not None and fmt == "html") else None)


def _build(config, redis_url: str | None, month: str, ephemeral_ledger: bool):
    from acme_ci_budget.ledger.errors import LedgerUnavailable, is_connection_error
    from acme_ci_budget.ledger.store import connect, redact_url
    from acme_ci_budget.report.monthly import build_report

    client = connect(redis_url, allow_ephemeral=ephemeral_ledger)
    try:
        # the savings lines read the month's events once; the month before is one more round trip
        return build_report(config, client, month, savings=True, previous=True)
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        raise LedgerUnavailable(
            f"cannot read the budget ledger at {redact_url(redis_url or os.environ.get('REDIS_URL'))} "
            f"({exc.__class__.__name__})"
        ) from None


def _post(config, result, artifact_url: str | None) -> None:
    from acme_ci_budget.core.errors import UsageError
    from acme_ci_budget.integrations.slack import post_markdown
    from acme_ci_budget.report.render import render_markdown

    webhook = config.alerts.slack_webhook_url
    if not webhook:
        raise UsageError(
            f"--post-slack: no Slack webhook in {config.path}: set alerts.slack_webhook_url "
            "(e.g. ${SLACK_WEBHOOK_URL} with the secret in that variable)"
        )
    footer = None
    if artifact_url:
        footer = f"Full HTML dashboard: <{artifact_url}|the workflow run's artifacts>"
    sent = post_markdown(webhook, render_markdown(result, "slack"), footer=footer)
    click.echo(f"posted the {result.month} report to Slack ({sent} message{'s' if sent != 1 else ''})", err=True)
