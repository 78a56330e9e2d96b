"""The dry run of a model task: the route, the worst-case cost and the prompt, with no call and no post.

Owns the one preview both ``review --dry-run`` and ``qa-testgen --dry-run`` print: the model the
router picks for the request, ``max_tokens`` within the task's hard limit, the worst case priced
(input as input, ``max_tokens`` as output), the rows and the ``model`` output for the job summary, and
the system prompt and user message (inside ``::stop-commands::``: they carry the PR's or the ticket's
text). It must not call the model, reserve or charge, post, or write a file; the ledger is read only
for the router's budget pressure, and a ledger it cannot read only drops that rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client.router import TaskRouter
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.runs.options import TaskOptions
from acme_ci_budget.runs.summary import Report


def ledger_pressure(config: Config, options: TaskOptions, workflow_id: str) -> tuple[Any, str]:
    """(the router's budget pressure, a note for the preview): a dry run needs no ledger, so a ledger
    that cannot be read routes without pressure and says so."""
    try:
        enforcer = BudgetEnforcer(config, redis_url=options.redis_url, ephemeral_ledger=options.ephemeral_ledger)
        return enforcer.pressure(workflow_id), ""
    except Exception as exc:  # a dry run needs no ledger: route without budget pressure
        return None, f" (ledger not read: {type(exc).__name__}; budget pressure ignored)"


def dry_run(
    command: str,
    config: Config,
    workflow_id: str,
    *,
    system: str,
    user_text: str,
    user_message: str,
    context: Mapping[str, Any],
    input_tokens: int,
    report: Report,
    say: Callable[..., None],
    pressure: Any = None,
    note: str = "",
    nothing: str = "Nothing is called.",
) -> None:
    """Route ``user_text`` (``input_tokens`` for the whole request), price the worst case, record it in
    ``report`` and print it with the prompt through ``say(text, untrusted=...)``."""
    workflow = config.workflow(workflow_id)
    decision = TaskRouter(config).route(
        workflow_id, user_text, dict(context) or None, pressure=pressure, input_tokens=input_tokens
    )
    max_out = max(1, min(decision.max_tokens, workflow.per_task_tokens.hard - input_tokens))
    worst = cost_nano(decision.model, input_tokens, max_out, overrides=config.pricing)
    report.outputs["model"] = decision.model
    report.rows += [
        ("Model (dry run)", f"`{decision.model}` ({decision.reason})"),
        ("Worst-case cost", f"{fmt_usd(worst, 4)} (~{input_tokens:,} in + {max_out:,} out)"),
    ]
    say(
        f"acme-ci-budget {command} --dry-run: would send ~{input_tokens:,} input tokens to "
        f"{decision.model} ({decision.reason}){note}, max_tokens {max_out:,}; worst-case cost "
        f"{fmt_usd(worst, 6)} (input priced as input, max_tokens as output). {nothing}"
    )
    say(f"--- system prompt ---\n{system}\n--- user message ---\n{user_message}\n--- end ---", untrusted=True)
