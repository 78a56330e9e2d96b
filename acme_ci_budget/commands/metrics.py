"""``acme-ci-budget metrics``: the ledger's state in the Prometheus exposition format, printed or pushed."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import click

from acme_ci_budget.commands._options import config_option, format_option, load, redis_option

DEFAULT_JOB = "acme_ci_budget"
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _grouping(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not _LABEL.fullmatch(name) or name.startswith("__") or name == "job" or not value:
            raise click.BadParameter(f"{item!r}: expected LABEL=VALUE (a Prometheus label name other than job)")
        out[name] = value
    return out


@click.command()
@config_option
@redis_option
@format_option("prometheus", "openmetrics", default="prometheus", help="Exposition format.")
@click.option(
    "--push",
    "push_url",
    envvar="ACB_PUSHGATEWAY_URL",
    metavar="URL",
    help="Push to this Pushgateway instead of printing [env ACB_PUSHGATEWAY_URL].",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file atomically (a textfile collector never reads half a file) instead of stdout.",
)
@click.option("--job", default=DEFAULT_JOB, show_default=True, help="The Pushgateway job.")
@click.option(
    "--grouping",
    multiple=True,
    callback=_grouping,
    metavar="LABEL=VALUE",
    help="Grouping key label (repeatable) [default: namespace=<the config's namespace>].",
)
@click.option("--ephemeral-ledger", is_flag=True, envvar="ACB_EPHEMERAL_LEDGER", help="Allow an embedded ledger in CI.")
def metrics(config_path, redis_url, fmt, push_url, output, job, grouping, ephemeral_ledger) -> None:
    """Spend, limits, holds, calls, blocks, tokens and forecasts as Prometheus metrics, from one ledger round trip.

    \b
    Print them for node_exporter's textfile collector:
      acme-ci-budget metrics --output /var/lib/node_exporter/textfile/acme_budget.prom
    or push them to a Pushgateway (the group job/namespace is replaced whole each time):
      acme-ci-budget metrics --push http://pushgateway:9091
    """
    from acme_ci_budget.integrations.prometheus import push, render
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer
    from acme_ci_budget.ledger.journal import replay_pending
    from acme_ci_budget.telemetry.prometheus_metrics import families

    config = load(config_path)
    enforcer = BudgetEnforcer(config, redis_url=redis_url, ephemeral_ledger=ephemeral_ledger)
    replay_pending(enforcer)  # spend journaled while Redis was down is recorded before it is published
    found = families(config, enforcer.metrics_snapshot())
    if output:
        _write_atomically(Path(output), render(found, fmt))
    elif not push_url:
        click.echo(render(found, fmt).decode(), nl=False)
    if not push_url:
        return
    push(push_url, found, job, grouping or {"namespace": config.namespace})
    click.echo(f"pushed {len(found)} metric families to the Pushgateway (job {job})", err=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, then rename over it: a reader sees the old file or the new one, whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
