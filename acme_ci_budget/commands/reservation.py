"""``acme-ci-budget reserve`` and ``settle``: the action's two steps around claude-code-action.

``reserve`` holds money for the agent step and writes ``reservation-id`` and ``max-budget-usd`` (or
``blocked`` and ``block-reason``) to the step's outputs; ``settle`` settles that reservation from the
agent step's ``execution_file`` (or at its hold when there is none, or releases it when the agent
step was skipped) and writes the cost outputs. Each option is also read from the variable the action
sets. Parses, calls ``runs.agent_budget``, exits with its code.
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
from acme_ci_budget.commands.run import max_usd_option, timeout_option, workflow_option


@click.command()
@workflow_option
@max_usd_option
@timeout_option
@fail_on_block_option("agent step")
@ephemeral_ledger_option
@repo_option
@config_option
@redis_option
@click.pass_context
def reserve(ctx: click.Context, **params: object) -> None:
    """Hold money for an agent step (claude-code-action) under a workflow's budget.

    \b
    Outputs reservation-id and max-budget-usd (pass it to claude_args: --max-budget-usd ...), or
    blocked=true and block-reason. Exit codes: 0 held or blocked (a notice), 1 blocked with
    --fail-on-block, 2 bad input or config.
    """
    from acme_ci_budget.runs.agent_budget import StepOptions, reserve_step

    max_usd = params["max_usd"]
    code = reserve_step(
        StepOptions(
            config_path=params["config_path"],
            redis_url=params["redis_url"],
            ephemeral_ledger=bool(params["ephemeral_ledger"]),
            workflow_id=params["workflow_id"] or None,
            max_usd=Decimal(str(max_usd)) if max_usd is not None else None,
            timeout_seconds=params["timeout_seconds"],
            fail_on_block=bool(params["fail_on_block"]),
            repo=params["repo"],
        )
    )
    if code:
        ctx.exit(code)


@click.command()
@click.option("--reservation-id", envvar="ACB_RESERVATION_ID", default="", help="From reserve [env ACB_RESERVATION_ID]")
@click.option(
    "--execution-file",
    envvar="ACB_EXECUTION_FILE",
    default="",
    help="claude-code-action's execution_file output [env ACB_EXECUTION_FILE]; none: settled at the hold.",
)
@click.option(
    "--agent-outcome",
    envvar="ACB_AGENT_OUTCOME",
    default="",
    help="The agent step's outcome (steps.<id>.outcome) [env ACB_AGENT_OUTCOME]; 'skipped' releases the hold.",
)
@ephemeral_ledger_option
@config_option
@redis_option
def settle(**params: object) -> None:
    """Settle a reservation from the agent step's execution file (per model, at our prices).

    \b
    No execution file, or one without a result: charged the full hold (usage_missing). The agent
    step skipped: the hold is released. No reservation id (reserve was blocked): nothing to do.
    Outputs cost-usd, the token counts, model, budget-pct and budget-remaining-usd.
    """
    from acme_ci_budget.runs.agent_budget import StepOptions, settle_step

    settle_step(
        StepOptions(
            config_path=params["config_path"],
            redis_url=params["redis_url"],
            ephemeral_ledger=bool(params["ephemeral_ledger"]),
            reservation_id=str(params["reservation_id"]).strip(),
            execution_file=str(params["execution_file"]),
            agent_outcome=str(params["agent_outcome"]).strip(),
        )
    )
