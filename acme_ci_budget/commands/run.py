"""``acme-ci-budget run --workflow W [--max-usd X] [--task-id ID] [--timeout S] -- COMMAND ...``.

Parses the options and the command (everything after ``--``, passed on untouched), calls
``runs.agent.run_agent`` and exits with its code: the command's own, or as a blocked review does
when the budget refuses the run before it starts. All logic is in ``acme_ci_budget.runs``.
"""

from __future__ import annotations

from decimal import Decimal

import click

from acme_ci_budget.commands._options import (
    config_option,
    ephemeral_ledger_option,
    fail_on_block_option,
    redis_option,
    repo_option,
)


def workflow_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--workflow",
        "--workflow-id",
        "workflow_id",
        envvar=["ACB_WORKFLOW", "ACB_WORKFLOW_ID"],
        metavar="ID",
        help="Budget workflow charged [env ACB_WORKFLOW, else ACB_WORKFLOW_ID: the action's workflow / workflow-id].",
    )(func)


def max_usd_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--max-usd",
        envvar="ACB_MAX_USD",
        type=click.FloatRange(min=0, min_open=True),
        help="The most this run may hold (and so spend); lowers the workflow's per_run_usd [env ACB_MAX_USD].",
    )(func)


def timeout_option(func: click.decorators.FC) -> click.decorators.FC:
    # No envvar: the action's ACB_TIMEOUT_SECONDS is a model call's (300 s), far too short for an agent run.
    return click.option(
        "--timeout",
        "timeout_seconds",
        type=click.IntRange(1, 86_000),
        help="Stop the run after this many seconds; its hold covers it [default: the workflow's run_timeout_seconds].",
    )(func)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@workflow_option
@max_usd_option
@click.option("--task-id", metavar="ID", help="Recorded on the run's events (e.g. the issue or PR number).")
@timeout_option
@fail_on_block_option("run")
@ephemeral_ledger_option
@repo_option
@config_option
@redis_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, **params: object) -> None:
    """Run COMMAND (Claude Code: `claude -p ...`) under a workflow's budget.

    \b
    Holds min(--max-usd, the workflow's per_run_usd, the room left under every limit), or, when
    that room is below a useful run ($0.10), does not start COMMAND. A `claude` command gets
    --max-budget-usd <hold> unless it gives one (a given one above the most it may hold is refused).
    Settles from Claude Code's result (--output-format json or stream-json: the last stdout line),
    per model at our prices; no result (crash, kill, timeout) is charged the full hold.
    Exit codes: COMMAND's own (124 after --timeout, 128+N after signal N); blocked: 0 with a notice,
    1 with --fail-on-block; 2 bad input or config.
    """
    from acme_ci_budget.runs.agent import AgentRunOptions, run_agent

    if not params["workflow_id"]:
        raise click.UsageError("give --workflow (the budget workflow the run is charged to)")
    max_usd = params["max_usd"]
    code = run_agent(
        AgentRunOptions(
            workflow_id=str(params["workflow_id"]),
            command=tuple(params["command"]),
            config_path=params["config_path"],
            redis_url=params["redis_url"],
            max_usd=Decimal(str(max_usd)) if max_usd is not None else None,
            task_id=params["task_id"],
            timeout_seconds=params["timeout_seconds"],
            fail_on_block=bool(params["fail_on_block"]),
            ephemeral_ledger=bool(params["ephemeral_ledger"]),
            repo=params["repo"],
        )
    )
    if code:
        ctx.exit(code)
