"""``acme-ci-budget simulate``: a month of traffic through the real budget stack, offline, with a dashboard.

Parses the options, runs ``acme_ci_budget.simulate.replay.simulate`` with a progress bar on stderr,
prints the per-workflow summary (spend against the Phase 1 estimate and the budget, blocked calls
by reason and the first day each budget bound, model mix), a digest of the alerts that would have
fired (counts by level and condition, the first and last of each), where the report files and the
dashboard were written, and, when the month was kept, the exact commands that show it. It holds no
simulation logic.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load

REASONS = {
    "daily_limit_exceeded": "daily limit",
    "monthly_limit_exceeded": "monthly limit",
    "total_org_budget_exceeded": "org budget",
    "task_token_limit_exceeded": "task tokens",
    "session_token_limit_exceeded": "session tokens",
    "loop_step_limit_exceeded": "loop steps",
    "unknown_workflow": "unknown workflow",
}
BUDGET_REASONS = ("daily_limit_exceeded", "monthly_limit_exceeded", "total_org_budget_exceeded")


def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from acme_ci_budget.report.monthly import MONTH_RE

    if value is None or MONTH_RE.fullmatch(value):
        return value
    raise click.BadParameter(f"expected YYYY-MM, got {value!r}")


@click.command()
@config_option
@click.option("--month", callback=_month, metavar="YYYY-MM", help="Month to simulate [default: this month].")
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=10_000),
    default=1.0,
    show_default=True,
    help="Adoption multiplier on the inventory's task counts: 10 and 100 are 10x and 100x today's usage.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed: the same seed gives the same numbers."
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False),
    default="acme-sim-report",
    show_default=True,
    help="Where report.txt, report.md, report.json and report.html (the dashboard) are written.",
)
@click.option(
    "--redis-url",
    help="Run on this Redis, in the simulation's own namespace (emptied before the run and, unless --keep, "
    "after it) [default: the local embedded ledger; $REDIS_URL is not read].",
)
@click.option(
    "--keep/--no-keep",
    default=None,
    help="Leave the simulated month in its namespace, for `report`, `status` and `events --namespace` "
    "[default: keep on the local embedded ledger (not in GitHub Actions), not on --redis-url]. --no-keep "
    "without --redis-url runs on a scratch embedded Redis, discarded afterwards.",
)
@click.option("--keep-data", "keep_data", is_flag=True, hidden=True, help="The old name of --keep.")
@format_option("text", "json")
@click.option("--days", type=click.IntRange(min=1), default=None, hidden=True, help="Stop after N calendar days.")
def simulate(
    config_path: str | None,
    month: str | None,
    scale: float,
    seed: int,
    report_dir: str,
    redis_url: str | None,
    keep: bool | None,
    keep_data: bool,
    fmt: str,
    days: int | None,
) -> None:
    """A month of your traffic through routing, budgets and alerts, offline, before a real month passes.

    \b
    Generates a month from the config's inventory (PRs over working days, developer and PM
    sessions with their turns, QA tickets per sprint week; token sizes around the inventory's
    averages with a long tail; prompts that sometimes carry complexity keywords or pass the token
    threshold) and sends every call through the real router, budgeted client, ledger, alerts and
    usage log on a simulated clock, against an offline model stand-in: no API key, no network,
    no Redis needed, and no alert is delivered.

    \b
    Prints, per workflow, spend against the Phase 1 estimate and the budget, blocked calls by
    reason and the first day each budget bound, and the model mix; then the alerts that would
    have fired. Writes the monthly report in every format to --report-dir.
    """
    from acme_ci_budget.simulate.replay import default_month
    from acme_ci_budget.simulate.replay import simulate as run
    from acme_ci_budget.simulate.results import alert_digest

    config = load(config_path)
    month = month or default_month(config)
    label = f"Simulating {month} at {scale:g}x"
    tty = sys.stderr.isatty()
    if not tty:
        # Not a terminal (CI logs, pipes): one line, not one per simulated day.
        click.echo(f"{label}...", err=True)
    with click.progressbar(
        length=_days_in(month, days), label=label, file=sys.stderr, show_eta=False, hidden=not tty
    ) as bar:
        done = [0]

        def progress(day: int, total: int, calls: int) -> None:
            bar.label = f"{label}: day {day}/{total}, {calls:,} calls"
            bar.update(day - done[0])
            done[0] = day

        result, report = run(
            config,
            month=month,
            scale=scale,
            seed=seed,
            report_dir=report_dir,
            redis_url=redis_url,
            keep=True if keep_data else keep,
            days=days,
            progress=progress,
        )
    steps = next_commands(result, config_path)
    if fmt == "json":
        digest = [group.to_json() for group in alert_digest(result.alerts)]
        extra = {"alerts_digest": digest, "kept": result.kept, "next_commands": steps}
        echo_json({**result.to_json(), "reports": dict(result.report_paths), **_ledger_exceptions(report), **extra})
        return
    click.echo(format_summary(result, report, steps))


def _ledger_exceptions(report: Any) -> dict[str, Any]:
    """The ledger's flagged exceptions in the simulated month (the report's figures)."""
    return {
        "over_hold_calls": report.total_over_hold_calls,
        "over_hold_usd": report.total_over_hold_nano / 1e9,
        "usage_missing": report.total_usage_missing,
    }


def _days_in(month: str, days: int | None) -> int:
    import calendar

    year, mon = (int(x) for x in month.split("-"))
    n = calendar.monthrange(year, mon)[1]
    return min(n, days) if days else n


def _usd(nano: int | None, places: int = 2) -> str:
    from acme_ci_budget.core.money import fmt_usd

    return "n/a" if nano is None else fmt_usd(nano, places)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def next_commands(result: Any, config_path: str | None = None) -> list[str]:
    """The exact commands that show a kept month (none when it was not kept)."""
    if not result.kept:
        return []
    import shlex
    from datetime import UTC, datetime

    config = f" --config {shlex.quote(config_path)}" if config_path else ""
    where = f"{config} --namespace {result.namespace}"
    year, mon = (int(x) for x in result.month.split("-"))
    start = f"{result.month}-01"
    end = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}-01"
    steps = [
        f"acme-ci-budget report{where} --month {result.month}",
        f"acme-ci-budget report{where} --month {result.month} --format html -o {result.namespace}.html",
        f"acme-ci-budget events{where} --since {start} --until {end} --format csv -o {result.namespace}.csv",
    ]
    # status reads today's and this month's counters: it shows the simulated month only while it is this month
    if datetime.now(UTC).astimezone(result.config.tz).strftime("%Y-%m") == result.month:
        steps.append(f"acme-ci-budget status{where}")
    return steps


def format_summary(result: Any, report: Any = None, steps: list[str] | None = None) -> str:
    """The run as text: the per-workflow table, blocks and bindings, model mix, an alert digest, where the files
    are, and the commands that show a kept month."""
    import calendar

    from acme_ci_budget.simulate.results import alert_digest

    year, mon = (int(x) for x in result.month.split("-"))
    where = "a scratch embedded Redis (discarded)" if result.ledger == "scratch" else result.ledger
    partial = (
        f", first {result.days_simulated} of {result.days_in_month} days"
        if result.days_simulated < result.days_in_month
        else ""
    )
    lines = [
        f"SIMULATED MONTH: {calendar.month_name[mon]} {year} at {result.scale:g}x adoption "
        f"(seed {result.seed}{partial})",
        f"{result.calls:,} calls settled, {result.blocked:,} blocked, in {result.elapsed_seconds:.1f} s "
        f"({result.calls_per_second:,.0f} calls/s); namespace {result.namespace} on {where}.",
        "Offline model stand-in: no API calls, no network; alerts recorded, not sent.",
        "",
        f"{'Workflow':<28}{'Calls':>8}{'Blocked':>9}{'Spend':>11}{'Phase 1 est':>13}{'vs est':>9}"
        f"{'Budget':>11}{'Used':>8}",
    ]
    for w in result.workflows:
        lines.append(
            f"{w.label[:27]:<28}{w.calls:>8,}{w.blocked_total:>9,}{_usd(w.spend_nano):>11}{_usd(w.estimate_nano):>13}"
            f"{_signed(w.vs_estimate_pct):>9}{_usd(w.monthly_budget_nano):>11}{w.budget_pct:>7.1f}%"
        )
    est = result.estimate_nano
    vs = (result.org_spend_nano - est) * 100.0 / est if est else None
    org_pct = result.org_spend_nano * 100.0 / result.org_budget_nano if result.org_budget_nano else 0.0
    lines.append(
        f"{'Organisation':<28}{result.calls:>8,}{result.blocked:>9,}{_usd(result.org_spend_nano):>11}"
        f"{_usd(est):>13}{_signed(vs):>9}{_usd(result.org_budget_nano):>11}{org_pct:>7.1f}%"
    )
    lines.append(
        "Phase 1 est prices every call at the inventory's model; the difference is mostly routing to complex models."
    )
    if report is not None:
        lines.append(
            f"Calls settled above their hold: {report.total_over_hold_calls:,} "
            f"({_usd(report.total_over_hold_nano, 4)}); replies without usage: {report.total_usage_missing:,}"
        )

    lines += ["", "Blocked calls and budgets that bound"]
    any_block = False
    for w in result.workflows:
        if not w.blocked:
            continue
        any_block = True
        parts = []
        for reason, count in sorted(w.blocked.items(), key=lambda kv: -kv[1]):
            first = w.first_blocked.get(reason)
            days = w.days_blocked.get(reason, 0)
            when = f", first {first.isoformat()}" + (f", on {days} days" if days > 1 else "") if first else ""
            parts.append(f"{REASONS.get(reason, reason)} {count:,}{when}")
        lines.append(f"  {w.label}: " + "; ".join(parts))
        for reason in BUDGET_REASONS:
            first = w.first_blocked.get(reason)
            if first is None:
                continue
            limit = {
                "daily_limit_exceeded": f"daily limit {_usd(w.daily_budget_nano)}",
                "monthly_limit_exceeded": f"monthly limit {_usd(w.monthly_budget_nano)}",
                "total_org_budget_exceeded": f"org budget {_usd(result.org_budget_nano)}",
            }[reason]
            lines.append(f"    the {limit} first bound on {first.isoformat()}")
        if w.skipped_turns:
            lines.append(f"    {w.skipped_turns:,} later turns of blocked sessions were not sent")
    if not any_block:
        lines.append("  none: every budget held with room to spare")
    truncated = [w for w in result.workflows if w.truncated]
    if truncated:
        lines.append(
            "  replies cut at max_tokens: " + ", ".join(f"{w.label} {w.truncated:,} of {w.calls:,}" for w in truncated)
        )

    lines += ["", "Model mix (calls, share of spend)"]
    for w in result.workflows:
        if not w.models:
            continue
        mix = ", ".join(f"{m.model} {m.calls:,} ({m.share_pct:.0f}%)" for m in w.models)
        lines.append(f"  {w.label}: {mix}")

    lines += ["", f"Alerts that would have fired ({len(result.alerts)}): by level and condition, first and last"]
    if not result.alerts:
        lines.append("  none")
    for group in alert_digest(result.alerts):
        lines.append(f"  {group.level:<8} {group.condition:<22} {group.count:>5,}x")
        lines.append(f"    first {_alert_line(group.first)}")
        if group.count > 1:
            lines.append(f"    last  {_alert_line(group.last)}")
    if len(result.alerts) > 1:
        lines.append("  every alert, with its message: --format json")

    paths = result.report_paths
    if paths:
        lines += [
            "",
            "Reports: " + ", ".join(paths[f] for f in ("text", "markdown", "json") if f in paths),
            f"Dashboard: {paths['html']}",
        ]
    if steps:
        lines += ["", f"The simulated month stays in namespace {result.namespace} of {where}. See it with:"]
        lines += [f"  {step}" for step in steps]
        lines.append("(running the same month, scale and seed again replaces it; --no-keep leaves nothing behind)")
    return "\n".join(lines)


def _alert_line(alert: Any) -> str:
    return f"{alert.day.isoformat()}  {alert.scope:<14} {alert.message}"
