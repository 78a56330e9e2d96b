"""``acme-ci-budget config validate|init``."""

from __future__ import annotations

from pathlib import Path

import click

from acme_ci_budget.commands._options import config_option

DEFAULT_INIT_PATH = ".github/acme-budget.yml"


@click.group()
def config() -> None:
    """Validate the budget config, or write a starter one."""


@config.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@config_option
def validate(path: str | None, config_path: str | None) -> None:
    """Validate a config file: prints OK, or one line naming the file and field (exit 2).

    PATH defaults to --config, $ACME_BUDGET_CONFIG, ./.github/acme-budget.yml, then the built-in default.
    Models that the bundled lifecycle table (Anthropic's deprecations page, dated) lists as deprecated
    or retired are warnings on stderr (exit 0); `acme-ci-budget models check` asks the API itself.
    """
    from acme_ci_budget.budget.models_check import check_offline
    from acme_ci_budget.config import load_config

    cfg = load_config(path or config_path)
    total = sum(wf.monthly_nano for wf in cfg.workflows.values())
    click.echo(
        f"OK {cfg.path}: {len(cfg.workflows)} workflows, ${total / 1e9:,.2f} of ${cfg.org_monthly_usd:,.2f}/month "
        f"allocated, reserve {cfg.reserve_pct:.0%}, timezone {cfg.timezone}"
    )
    for check in check_offline(cfg):
        click.echo(f"warning: {check.message()}", err=True)


@config.command()
@click.argument("path", required=False, default=DEFAULT_INIT_PATH, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented starter config to PATH (default .github/acme-budget.yml).

    One review workflow (ci_cd_review) on today's models, $50/month and $5/day, alerts off unless
    $SLACK_WEBHOOK_URL / $PAGERDUTY_ROUTING_KEY are set. Refuses to overwrite without --force.
    """
    from acme_ci_budget.config import parse_config
    from acme_ci_budget.core.errors import UsageError
    from acme_ci_budget.core.resources import starter_config_path

    target = Path(path)
    text = starter_config_path().read_text(encoding="utf-8")
    parse_config(text, str(starter_config_path()))  # never write a starter that does not validate
    if target.exists() and not force:
        raise UsageError(f"{target}: already exists (use --force to overwrite it)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a temporary name, then renamed: an interrupted init leaves no half a config.
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write the config ({type(exc).__name__}: {exc.strerror or exc})") from None
    click.echo(f"Wrote {target}: one review workflow (ci_cd_review), $50/month, $5/day. Edit it, then commit it.")
    click.echo(f"Check it with `acme-ci-budget config validate {target}` and `acme-ci-budget models check`.")
