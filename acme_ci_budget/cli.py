"""The ``acme-ci-budget`` command line: a thin Click layer over the core modules.

Owns argument parsing, error-to-exit-code mapping and lazy loading of the
subcommands (each lives in ``acme_ci_budget/commands/``), so ``--help`` and
light commands never import Redis, Jinja or the model SDK; a mistyped command
gets the closest names ("did you mean"). It must not hold business logic: each
command parses, calls one core function, prints.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Any

import click

from acme_ci_budget import __version__
from acme_ci_budget.integrations import gha

# name -> (module under acme_ci_budget.commands, attribute, one-line help shown by --help).
# A command is listed here once its module exists.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "estimate": ("estimate", "estimate", "Phase 1: each workflow's monthly cost from the inventory."),
    "prices": ("prices", "prices", "Show what a model costs and where the price came from."),
    "config": ("config", "config", "Validate the budget config, or write a starter one (config init)."),
    "models": ("models", "models", "Check every model the config names against the Models API's lifecycle."),
    "status": ("status", "status", "Live spend, holds and health of every budget."),
    "metrics": ("metrics", "metrics", "The ledger's state as Prometheus metrics: print, or push to a Pushgateway."),
    "ledger": ("ledger", "ledger", "Admin operations on the ledger (reset a period)."),
    "alerts": ("alerts", "alerts", "Send a test alert, or check every alert condition now."),
    "chat": ("chat", "chat", "Talk to the dev or PM assistant under the budget (like `llm chat`)."),
    "events": ("events", "events", "Export usage events (calls, blocks, failures) as JSONL or CSV."),
    "report": ("report", "report", "Monthly budget and ROI report: text, Markdown, JSON or HTML dashboard."),
    "review": ("review", "review", "Budgeted Claude review of a pull request (or a local diff)."),
    "qa-testgen": ("qa_testgen", "qa_testgen", "Test plan and cases for a feature ticket, under the QA budget."),
    "simulate": ("simulate", "simulate", "Replay a month of traffic offline through routing, budgets and alerts."),
    "reconcile": ("reconcile", "reconcile", "Compare the ledger with Anthropic's usage and cost reports (admin key)."),
    "run": ("run", "run", "Run a command (Claude Code) under a workflow's budget: hold, run, settle."),
    "reserve": ("reservation", "reserve", "Hold money for an agent step (claude-code-action) before it runs."),
    "settle": ("reservation", "settle", "Settle an agent step's reservation from its execution file."),
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _help = COMMANDS[cmd_name]
        return getattr(importlib.import_module(f"acme_ci_budget.commands.{module}"), attr)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            # Click (before 8.4) suggests only from eagerly registered commands; ours load lazily.
            raise click.UsageError(f"No such command {name!r}.{did_you_mean(name, self.list_commands(ctx))}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def did_you_mean(name: str, names: list[str]) -> str:
    """" Did you mean 'status'?" for the names closest to ``name`` (a prefix of two letters or more counts
    first), or "". Only the best guesses: those scoring within 0.1 of the closest."""
    typed = name.lower()
    close = [n for n in names if n.startswith(typed)] if len(typed) >= 2 else []
    if not close:
        scored = sorted(((difflib.SequenceMatcher(None, typed, n).ratio(), n) for n in names), reverse=True)
        close = [n for score, n in scored if score >= 0.6 and score >= scored[0][0] - 0.1] if scored else []
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean {close[0]!r}?"
    return " Did you mean one of " + ", ".join(repr(n) for n in close[:3]) + "?"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="acme-ci-budget")
def cli() -> None:
    """Spending guardrails for Claude-powered agents in CI and daily tools.

    \b
    Start here:
      acme-ci-budget simulate          a month of Acme's traffic, offline, with a dashboard
      acme-ci-budget estimate          what each workflow will cost per month
      acme-ci-budget status            live spend against every budget

    Every command reads the budget config from --config, $ACME_BUDGET_CONFIG,
    ./.github/acme-budget.yml or the built-in default (in that order), and the
    ledger from --redis-url or $REDIS_URL (an embedded Redis when neither is set).
    """


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: known errors become one line on stderr and exit code 2."""
    from acme_ci_budget.core.errors import AcmeError

    try:
        result = cli.main(args=argv, prog_name="acme-ci-budget", standalone_mode=False)
        # non-standalone Click returns a command's ctx.exit(n) code instead of exiting
        if isinstance(result, int) and result:
            sys.exit(result)
        return result
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AcmeError as exc:
        click.echo(f"Error: {exc}", err=True)
        _annotate_error(str(exc))
        sys.exit(2)
    except Exception as exc:
        # A Redis failure outside the paths that translate it (they name the redacted URL) still gets one
        # line: redis-py's messages carry host and port, never the password.
        if type(exc).__module__.split(".")[0] != "redis":
            raise
        click.echo(f"Error: Redis: {exc.__class__.__name__}: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


def _annotate_error(message: str) -> None:
    """In GitHub Actions, the error line is also an ``::error::`` annotation, so the failed step says why
    on the run's page (the message is one of ours: it never carries a secret)."""
    if gha.in_actions():
        gha.error(message, title="acme-ci-budget")
