"""``acme-ci-budget alerts test|check``: send a test message, or evaluate every alert condition now."""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load, redis_option


@click.group()
def alerts() -> None:
    """Budget alerts: Slack, PagerDuty and GitHub annotations.

    Levels follow the rollout set by alerts.min_level in the config: INFO (log and
    GitHub notice), WARNING (adds Slack), CRITICAL (adds PagerDuty).
    """


@alerts.command("test")
@click.option(
    "--channel",
    type=click.Choice(["slack", "pagerduty"]),
    required=True,
    help="Where to send the test message (PagerDuty: a trigger, resolved at once).",
)
@config_option
def test_message(channel: str, config_path: str | None) -> None:
    """Send a test message to a configured channel (exit 2 if it is not configured or delivery fails)."""
    from acme_ci_budget.alerts.manager import AlertManager

    manager = AlertManager(load(config_path))
    result = manager.send_test(channel)
    click.echo(f"OK: test message delivered to {channel} (HTTP {result.status}, {result.attempts} attempt(s))")


@alerts.command("check")
@click.option("--workflow", "workflow_id", help="Check one workflow (and the org); default: every workflow.")
@config_option
@redis_option
@format_option("text", "json")
def check(workflow_id: str | None, config_path: str | None, redis_url: str | None, fmt: str) -> None:
    """Evaluate every alert condition now and deliver the ones not sent yet this period.

    Safe to run on a schedule (e.g. daily): each condition fires once per period and threshold.
    """
    from acme_ci_budget.alerts.manager import AlertManager

    manager = AlertManager(load(config_path), redis_url=redis_url)
    fired = manager.check(workflow_id, strict=True)
    if fmt == "json":
        echo_json([alert.to_dict() for alert in fired])
        return
    if not fired:
        click.echo("No new alerts.")
        return
    for alert in fired:
        where = ", ".join(alert.delivered_to) or "nowhere"
        failed = f"; FAILED: {', '.join(alert.failed)}" if alert.failed else ""
        click.echo(f"{alert.level:<8} {alert.condition} [{alert.scope}] {alert.message} -> {where}{failed}")
