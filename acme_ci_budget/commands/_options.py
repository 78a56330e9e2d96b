"""Options every command shares (config, Redis URL, output format) and how they load.

Owns the option spellings and environment variables so they stay identical
across commands. It must stay light: no Redis or SDK import at module level.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        envvar="ACME_BUDGET_CONFIG",
        type=click.Path(dir_okay=False),
        help="Budget config YAML [env ACME_BUDGET_CONFIG; default ./.github/acme-budget.yml, else built-in].",
    )(func)


def redis_option(func: F) -> F:
    return click.option(
        "--redis-url",
        envvar="REDIS_URL",
        help="Ledger Redis: redis://, rediss://, unix://, redis+cluster://h:p,h:p [env REDIS_URL; "
        "default: embedded Redis under your data folder].",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def load(config_path: str | None) -> Any:
    from acme_ci_budget.config import load_config

    return load_config(config_path)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
