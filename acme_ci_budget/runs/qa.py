"""One ``acme-ci-budget qa-testgen`` run: a test plan for a ticket under the QA budget, written to a file.

Owns the order of a QA run: read the ticket, load the config, preview it (``--dry-run``), check the
key and the models, call ``workflows.qa_testgen`` through the budgeted client under the deadline,
write the plan, and report the run as outputs, a job summary and annotations. It must not decide
budgets (the ledger), routes (the router) or prompts (the workflow), and must not print the ticket or
the plan outside ``::stop-commands::``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acme_ci_budget.config import load_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.files import MAX_TICKET_BYTES, read_bounded
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.tokens import estimate_messages_tokens
from acme_ci_budget.integrations.github import neutralize
from acme_ci_budget.runs.calls import call_model, models_check_stop, open_client, require_ledger
from acme_ci_budget.runs.options import (
    DEFAULT_QA_OUTPUT,
    NO_KEY_MESSAGE,
    QA_WORKFLOW,
    SKIP_DRY_RUN,
    SKIP_NO_KEY,
    QAOptions,
    RunOutcome,
    Stop,
)
from acme_ci_budget.runs.preview import dry_run
from acme_ci_budget.runs.summary import Console, Report, annotate, mask_secrets, read_gauge
from acme_ci_budget.workflows import qa_testgen


def _ticket(options: QAOptions) -> str:
    if options.ticket_file:
        return read_bounded(options.ticket_file, MAX_TICKET_BYTES, f"--ticket-file {options.ticket_file}")
    if options.ticket_text and options.ticket_text.strip():
        return options.ticket_text
    raise UsageError("no ticket: give --ticket-file (ACB_TICKET_FILE) or --ticket-text (ACB_TICKET_TEXT)")


def _write_plan(path: Path, markdown: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {path}: cannot write the test plan ({type(exc).__name__})") from None


def run_qa_testgen(
    options: QAOptions, *, anthropic_client: Any = None, clock: Any = None, out: Any = None
) -> RunOutcome:
    """Generate a test plan for a ticket under the QA budget, write it to a file, report the run."""
    mask_secrets(options.api_key, redis_url=options.redis_url)
    workflow_id = options.workflow_id or QA_WORKFLOW
    report = Report(f"acme-ci-budget qa-testgen ({workflow_id})")
    console = Console(out)
    exit_code = 0
    ticket = _ticket(options)
    config = load_config(options.config_path)
    config.workflow(workflow_id)  # an unknown workflow is a usage error before anything else
    request = qa_testgen.build_request(ticket, ticket_id=options.ticket_id, simple=options.simple)
    report.lines.append(f"Ticket {options.ticket_id or '(no id)'}: {'simple' if request.simple else 'standard'}")
    try:
        if options.dry_run:
            dry_run(
                "qa-testgen",
                config,
                workflow_id,
                system=request.system,
                user_text=ticket,
                user_message=request.messages[-1]["content"],
                context=request.context,
                input_tokens=estimate_messages_tokens(request.messages, request.system),
                report=report,
                say=console.say,
            )
            raise Stop(SKIP_DRY_RUN, "dry run: no model call")
        if not options.api_key and anthropic_client is None:
            raise Stop(SKIP_NO_KEY, NO_KEY_MESSAGE, "warning")
        require_ledger(options)
        if options.check_models:
            stop = models_check_stop(config, workflow_id, options, anthropic_client)
            if stop is not None:
                raise stop
        client = open_client(config, options, anthropic_client, clock)
        plan = call_model(
            lambda remaining: qa_testgen.generate(
                client, ticket, workflow_id, ticket_id=options.ticket_id, simple=request.simple,
                task_id=options.ticket_id or None, timeout=remaining,
            ),
            options,
        )
        result = plan.result
        gauge = read_gauge(client.enforcer, workflow_id)
        if result.budget_blocked:
            report.blocked(result, gauge)
            annotate("error" if options.fail_on_block else "notice", result.message, "acme-ci-budget: qa blocked")
            exit_code = 1 if options.fail_on_block else 0
        else:
            report.charged(result, gauge)
            path = Path(options.output or DEFAULT_QA_OUTPUT)
            _write_plan(path, plan.markdown)
            report.outputs["report-path"] = str(path)
            report.lines.append(f"Test plan written to `{path}`")
            report.extra_markdown = "#### Test plan\n\n" + neutralize(plan.markdown)
            cost = fmt_usd(result.cost_nano, 4)
            console.say(f"acme-ci-budget qa-testgen: test plan written to {path} ({result.model}, {cost})")
    except Stop as stop:
        report.skipped(stop, "acme-ci-budget qa-testgen")
        exit_code = max(exit_code, stop.exit_code)
    summary = report.write()
    return RunOutcome(exit_code, dict(report.outputs), summary, "", console.text())
