"""``acme-ci-budget status [--watch]``: every limit, spend, holds, health and the org reserve, live.

``--watch`` shows when it last refreshed and ends with exit 0 on Ctrl-C (stopping a watch is not a failure).
"""

from __future__ import annotations

import time
from datetime import datetime

import click

from acme_ci_budget.commands._options import (
    config_option,
    echo_json,
    format_option,
    load,
    namespace_option,
    redis_option,
)
from acme_ci_budget.core.money import fmt_usd


@click.command()
@config_option
@redis_option
@namespace_option
@format_option("text", "json")
@click.option("--watch", is_flag=True, help="Refresh until interrupted (Ctrl-C).")
@click.option(
    "--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, help="Seconds between refreshes."
)
@click.option(
    "--iterations", type=click.IntRange(min=1), default=None, hidden=True, help="Stop --watch after N refreshes."
)
@click.option("--ephemeral-ledger", is_flag=True, envvar="ACB_EPHEMERAL_LEDGER", help="Allow an embedded ledger in CI.")
def status(config_path, redis_url, namespace, fmt, watch, interval, iterations, ephemeral_ledger) -> None:
    """Spend against every budget: today's and this month's per workflow, open holds, health, org reserve.

    Health is the worst of the daily, monthly and org figures: WARN from alerts.warn_pct (or once the org is in
    its reserve); CRIT from alerts.critical_pct, once a money limit refused a call this month, or with less than
    one worst-case call left before a limit. Holds past their TTL (a crashed worker) are given back before
    reading, never shown as held. Also this month's calls settled above their hold and replies without usage,
    and each capped repository's month (config repos:) against its cap. A Redis that may evict keys when its
    memory is full (maxmemory with a policy other than noeviction) is named with the fix: it could forget spend.
    One Redis round trip per refresh (and one INFO read of the server's settings at the start).
    """
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer
    from acme_ci_budget.ledger.journal import replay_pending

    enforcer = BudgetEnforcer(load(config_path, namespace), redis_url=redis_url, ephemeral_ledger=ephemeral_ledger)
    replay_pending(enforcer)  # spend journaled while Redis was down is recorded before it is shown
    where = enforcer.where
    shown, warnings = 0, None
    try:
        while True:
            snapshot = enforcer.status_snapshot()
            if warnings is None:  # the server's settings: read once, not every refresh
                warnings = enforcer.server_warnings()
            if fmt == "json":
                echo_json({**snapshot, "ledger": where, "ledger_warnings": warnings})
            else:
                if watch:
                    click.clear()
                click.echo(render_status(snapshot, where, warnings))
                if watch:
                    click.echo(refreshed_line(datetime.now().astimezone(), interval))
            shown += 1
            if not watch or (iterations and shown >= iterations):
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        if not watch:
            raise
        click.echo("", err=True)  # past the ^C the terminal echoed


def refreshed_line(when: datetime, interval: float) -> str:
    """The watch's footer: when the figures above were read (local time), and how to stop."""
    return f"Last refresh {when:%H:%M:%S %Z} (every {interval:g}s; Ctrl-C to stop)"


def render_status(s: dict, where: str, warnings: list[str] | tuple[str, ...] = ()) -> str:
    org = s["org"]
    lines = [
        f"BUDGET STATUS {s['day']} ({s['timezone']})  ledger: {where}",
        f"Org: ${org['spend']:,.2f} of ${org['budget']:,.2f} ({org['pct']:.1f}%)  held ${org['held_usd']:,.2f}  "
        f"remaining ${org['remaining']:,.2f}  reserve: {org['reserve_state']} "
        f"(starts at ${org['reserve_threshold']:,.2f})",
        _overruns_line(s),
        "",
        f"{'':7}{'Workflow':<28}{'Today':>10}{'Limit':>10}{'%':>7}{'Month':>11}{'Limit':>10}{'%':>7}{'Held':>9}",
    ]
    if s.get("expired_holds_left"):
        lines.insert(2, f"Expired holds still counted as held: {s['expired_holds_left']:,} (purged on the next reads)")
    for w in s["workflows"].values():
        lines.append(
            f"{'[' + w['health'] + ']':<7}{w['label'][:27]:<28}{_usd(w['daily_spend']):>10}{_usd(w['daily_limit']):>10}"
            f"{w['daily_pct']:>6.1f}%{_usd(w['monthly_spend']):>11}{_usd(w['monthly_limit']):>10}"
            f"{w['monthly_pct']:>6.1f}%{_usd(w['held_usd']):>9}"
        )
    if s.get("repos"):
        lines += ["", f"{'Repository (monthly cap)':<35}{'Month':>11}{'Cap':>10}{'%':>7}{'Held':>9}{'Blocked':>9}"]
        for repo, r in s["repos"].items():
            lines.append(
                f"{repo[:34]:<35}{_usd(r['monthly_spend']):>11}{_usd(r['monthly_limit']):>10}"
                f"{r['monthly_pct']:>6.1f}%{_usd(r['held_usd']):>9}{r['blocked']:>9,}"
            )
    return "\n".join([f"WARNING: {line}" for line in warnings] + lines)


def _overruns_line(s: dict) -> str:
    """This month's calls settled above their hold (the API billed more than the worst case held) and
    replies without usage (charged at their hold): the ledger's two flagged exceptions, always shown."""
    org = s["org"]
    by_wf = ", ".join(
        f"{wid} {w['over_hold_calls']:,}" for wid, w in s["workflows"].items() if w.get("over_hold_calls")
    )
    return (
        f"Settled above their hold this month: {org.get('over_hold_calls', 0):,} calls, "
        f"{fmt_usd(org.get('over_hold_nano', 0), 4)} over{f' ({by_wf})' if by_wf else ''}  "
        f"replies without usage (charged at their hold): {org.get('usage_missing_calls', 0):,}"
    )


def _usd(value: float) -> str:
    return f"${value:,.2f}"
