"""``acme-ci-budget qa-testgen``: a test plan for a feature ticket under the qa_test_gen budget.

Parses options (each also read from the environment variable the GitHub Action sets; an empty
variable means the default), calls ``runs.qa.run_qa_testgen`` and exits with its code.
"""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import (
    anthropic_key_option,
    check_models_option,
    config_option,
    dry_run_option,
    ephemeral_ledger_option,
    fail_on_block_option,
    max_retries_option,
    redis_option,
    repo_option,
    timeout_seconds_option,
    workflow_id_option,
)


@click.command("qa-testgen")
@click.option(
    "--ticket-file",
    envvar="ACB_TICKET_FILE",
    type=click.Path(dir_okay=False),
    help="File holding the ticket [env ACB_TICKET_FILE]; wins over --ticket-text.",
)
@click.option("--ticket-text", envvar="ACB_TICKET_TEXT", help="The ticket text [env ACB_TICKET_TEXT].")
@click.option("--ticket-id", envvar="ACB_TICKET_ID", default="", help="Ticket id, recorded with the spend.")
@click.option(
    "--simple/--not-simple",
    default=None,
    help="Force the simple (cheaper) model or the default one [default: simple when the ticket says so].",
)
@click.option(
    "--output",
    "-o",
    envvar="ACB_OUTPUT",
    type=click.Path(dir_okay=False),
    default="qa-test-plan.md",
    show_default=True,
    help="Where to write the test plan (the report-path output).",
)
@workflow_id_option("qa_test_gen")
@dry_run_option("Print the request and its cost only.")
@fail_on_block_option("task")
@timeout_seconds_option
@max_retries_option
@check_models_option
@ephemeral_ledger_option
@repo_option
@anthropic_key_option
@config_option
@redis_option
@click.pass_context
def qa_testgen(ctx: click.Context, **params: object) -> None:
    """Generate a test plan and test cases (Markdown) for a feature ticket.

    Sonnet by default; a ticket marked simple ("Complexity: simple", a [simple] tag) goes to
    the cheaper model. Writes the plan to --output (the report-path step output) and the job
    summary. Exit codes: 0 done or skipped, 1 blocked with --fail-on-block or the model call
    failed, 2 bad input or config.
    """
    from acme_ci_budget.runs.options import QAOptions
    from acme_ci_budget.runs.qa import run_qa_testgen

    options = QAOptions(
        workflow_id=params["workflow_id"],
        config_path=params["config_path"],
        redis_url=params["redis_url"],
        repo=params["repo"],
        api_key=params["api_key"],
        ticket_file=params["ticket_file"],
        ticket_text=params["ticket_text"],
        ticket_id=str(params["ticket_id"] or ""),
        simple=params["simple"],
        output=params["output"],
        dry_run=bool(params["dry_run"]),
        fail_on_block=bool(params["fail_on_block"]),
        timeout_seconds=params["timeout_seconds"],
        max_retries=int(params["max_retries"]),
        ephemeral_ledger=bool(params["ephemeral_ledger"]),
        check_models=bool(params["check_models"]),
    )
    outcome = run_qa_testgen(options)
    if outcome.exit_code:
        ctx.exit(outcome.exit_code)
