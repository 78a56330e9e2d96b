"""Options commands share (config, Redis URL, output format, the model-task options) and how they load.

Owns the option spellings and environment variables so they stay identical
across commands: those every command takes, and those of the commands the
GitHub Action runs a model task with (``review``, ``qa-testgen``), which read
each option from the ``ACB_*`` variable the action sets (click treats an empty
variable as unset, so an action input left empty means the default). It must
stay light: no Redis or SDK import at module level.
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


def _namespace(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from acme_ci_budget.config.validate import NAMESPACE  # the config's own rule for a namespace

    if value is None or NAMESPACE.fullmatch(value):
        return value
    raise click.BadParameter(f"use letters, digits, '_', '.' or '-' only, got {value!r}")


def namespace_option(func: F) -> F:
    return click.option(
        "--namespace",
        callback=_namespace,
        metavar="NS",
        help="Read this ledger namespace instead of the config's (e.g. the one `simulate` kept its month in).",
    )(func)


def format_option(
    *choices: str, default: str = "text", envvar: str | None = None, help: str = "Output format."
) -> Callable[[F], F]:
    """``--format`` (as ``fmt``); with ``envvar`` also read from it, and the help says so."""
    return click.option(
        "--format",
        "fmt",
        envvar=envvar,
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=f"{help} [env {envvar}]." if envvar else help,
    )


# --- the model-task commands (review, qa-testgen) -------------------------------------------------


def _empty_is_none(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return value or None  # --workflow-id "" means the default, as an empty ACB_WORKFLOW_ID does


def workflow_id_option(default_id: str) -> Callable[[F], F]:
    return click.option(
        "--workflow-id",
        envvar="ACB_WORKFLOW_ID",
        metavar="ID",
        callback=_empty_is_none,
        help=f"Budget workflow charged [env ACB_WORKFLOW_ID; default {default_id}].",
    )


def dry_run_option(help: str) -> Callable[[F], F]:
    return click.option("--dry-run/--no-dry-run", envvar="ACB_DRY_RUN", default=False, help=help)


def fail_on_block_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--fail-on-block/--no-fail-on-block",
        envvar="ACB_FAIL_ON_BLOCK",
        default=False,
        help=f"Exit 1 when the budget blocks the {what} [env ACB_FAIL_ON_BLOCK; default: a notice, exit 0].",
    )


def check_models_option(func: F) -> F:
    return click.option(
        "--check-models/--no-check-models",
        envvar="ACB_CHECK_MODELS",
        default=False,
        help="Ask the Models API first; a retired or unlisted model fails the run (exit 2) before any call "
        "[env ACB_CHECK_MODELS; the action turns it on].",
    )(func)


def timeout_seconds_option(func: F) -> F:
    return click.option(
        "--timeout-seconds",
        envvar="ACB_TIMEOUT_SECONDS",
        type=click.FloatRange(min=0.1),
        default=300.0,
        show_default=True,
        help="Give up on the model call (retries included) after this long; the hold is released.",
    )(func)


def max_retries_option(func: F) -> F:
    return click.option(
        "--max-retries",
        envvar="ACB_MAX_RETRIES",
        type=click.IntRange(0, 10),
        default=2,
        show_default=True,
        help="Retries on 429/5xx/529 within the timeout.",
    )(func)


def ephemeral_ledger_option(func: F) -> F:
    return click.option(
        "--ephemeral-ledger/--no-ephemeral-ledger",
        envvar="ACB_EPHEMERAL_LEDGER",
        default=False,
        help="Allow an embedded ledger in Actions (it resets every run and enforces nothing across runs).",
    )(func)


def repo_name_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from acme_ci_budget.core.repos import is_repo_name

    if value and not is_repo_name(value):
        raise click.BadParameter(f"{value[:140]!r} is not OWNER/NAME (a GitHub repository)")
    return value or None


def repo_option(func: F) -> F:
    """``--repo``: the repository a command's model calls are attributed to (events, ``repos:`` caps)."""
    return click.option(
        "--repo",
        metavar="OWNER/NAME",
        callback=repo_name_callback,
        help="Repository the calls are attributed to (events, report, its repos: cap) "
        "[default: $GITHUB_REPOSITORY, else none].",
    )(func)


def anthropic_key_option(func: F) -> F:
    return click.option(
        "--anthropic-api-key", "api_key", envvar="ANTHROPIC_API_KEY", show_envvar=True, help="Prefer the env var."
    )(func)


def load(config_path: str | None, namespace: str | None = None) -> Any:
    """The config; with ``namespace``, as that namespace's team (a simulation's is the scaled one it ran as)."""
    from acme_ci_budget.config import load_config

    config = load_config(config_path)
    if namespace is None or namespace == config.namespace:
        return config
    from acme_ci_budget.simulate.isolation import config_for_namespace

    return config_for_namespace(config, namespace)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
