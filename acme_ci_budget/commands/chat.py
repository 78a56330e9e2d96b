"""``acme-ci-budget chat``: the dev and PM assistants in a terminal, under the budget (like ``llm chat``).

Checks the API key first (one cheap authenticated call; a refused or missing key is one line and exit 2
before the first prompt), then reads lines from stdin, sends each through ``BudgetedClient.session`` and
prints the reply and a budget gauge (turns used of ``max_loop_steps``, session tokens, today's spend, the
model and why), wrapped to the terminal's width. On a terminal: line editing and history (readline) and
"thinking... Ns" while a reply is on its way; piped input and output get neither. A message over the
per-turn token limit is refused before it is sent, saying so. The turn limit ends the chat with a message
and exit 0; a budget that runs out ends it with exit 1. Slash commands: /status, /model, /help, /quit.
All budget decisions are the ledger's; this module only talks to the person.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

import click

from acme_ci_budget.commands._options import config_option, load, redis_option, repo_option
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.terminal import CANONICAL_LINE_LIMIT, Thinking, enable_line_editing, fit, terminal_width
from acme_ci_budget.core.tokens import estimate_tokens
from acme_ci_budget.integrations.models_api import ModelsAPI, ModelsAPIError
from acme_ci_budget.workflows import dev_assistant, pm_assistant

# The assistants' system prompts are their workflow modules' (templates/prompts/*.j2), so teams edit one place.
_ASSISTANTS = {module.WORKFLOW_ID: module for module in (dev_assistant, pm_assistant)}
CHAT_WORKFLOWS = tuple(_ASSISTANTS)
# Blocks that end the conversation; any other block (an over-long message) lets the person try again.
_ENDING_BLOCKS = {
    "session_token_limit_exceeded",
    "daily_limit_exceeded",
    "monthly_limit_exceeded",
    "total_org_budget_exceeded",
    "repo_limit_exceeded",
    "unknown_workflow",
}
_MODES = {"auto": None, "simple": {"is_simple": True}, "complex": {"is_complex": True}}
HELP = """Commands:
  /status              session tokens, loop steps and today's/month's spend
  /model               the model the router chose last and why
  /model simple|complex|auto   steer the router for the next turns
  /help                this help
  /quit                leave (also /exit, or end of input)"""


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): chats still need a name on the ledger
        return os.environ.get("USER", "unknown")


@click.command()
@click.option("--workflow", "-w", type=click.Choice(CHAT_WORKFLOWS), required=True, help="Which assistant.")
@click.option("--user", "user_id", metavar="NAME", help="Who is chatting, recorded on every call [default: login].")
@click.option("--system", "system_prompt", metavar="TEXT", help="System prompt [default: the assistant's own].")
@click.option(
    "--max-retries",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="SDK retries on 429/529/5xx/timeouts.",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds to wait for each reply.")
@repo_option
@config_option
@redis_option
@click.pass_context
def chat(
    ctx: click.Context,
    workflow: str,
    user_id: str | None,
    system_prompt: str | None,
    max_retries: int,
    timeout: float | None,
    repo: str | None,
    config_path: str | None,
    redis_url: str | None,
) -> None:
    """Talk to the dev or PM assistant through the budget guardrails.

    Each reply is followed by a gauge: session tokens against the soft/hard limits, today's
    workflow spend against its limit, and the model the router chose and why. Past the soft
    limit older turns are compacted (announced in the gauge); at the hard limit, or when a
    budget runs out, the chat stops (exit code 1); after the workflow's max_loop_steps turns it
    ends with exit code 0. Needs ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL for a gateway): a missing
    or refused key stops before the first prompt (exit code 2). Type /help for commands.
    """
    from acme_ci_budget.alerts import AlertManager
    from acme_ci_budget.client.budgeted import BudgetedClient
    from acme_ci_budget.client.result import ModelCallError
    from acme_ci_budget.telemetry.genai_metrics import otel_hook

    cfg = load(config_path)
    problem = _key_problem(timeout)
    if problem:
        click.echo(f"Error: {problem}", err=True)
        ctx.exit(2)
    client = BudgetedClient(
        cfg,
        redis_url=redis_url,
        max_retries=max_retries,
        timeout=timeout,
        alerts=AlertManager,
        telemetry=otel_hook,
        repo=repo,
    )
    system = system_prompt or _ASSISTANTS[workflow].system_prompt()
    session = client.session(workflow, user_id or _default_user(), system=system)
    wf = session.workflow
    editing = enable_line_editing()
    click.echo(
        f"{wf.label} (session {session.session_id}; soft {session.soft_limit:,} / hard {session.hard_limit:,} "
        f"tokens, {session.max_loop_steps} turns). /help for commands, /quit to leave."
    )
    mode = "auto"
    while True:
        if session.loop_step >= session.max_loop_steps:
            click.echo(_turns_done(client, session))
            ctx.exit(0)
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
        except click.exceptions.Abort:  # end of input or Ctrl-C at the prompt
            click.echo()
            break
        text = line.strip()
        if not text:
            continue
        if not editing and len(line) >= CANONICAL_LINE_LIMIT and sys.stdin.isatty():
            # Without readline the terminal itself stops a line at 4,095 bytes: say so, never send it cut.
            click.echo(
                f"Not sent: the terminal cut that line at {CANONICAL_LINE_LIMIT:,} characters (no readline here). "
                "Pipe long text in instead: acme-ci-budget chat ... < file.txt",
                err=True,
            )
            continue
        if text.startswith("/"):
            command, _, arg = text.partition(" ")
            command, arg = command.lower(), arg.strip().lower()
            if command in ("/quit", "/exit", "/q"):
                break
            if command == "/status":
                click.echo(_status(client, session))
            elif command == "/model":
                if arg:
                    if arg not in _MODES:
                        click.echo("usage: /model [simple|complex|auto]")
                        continue
                    mode = arg
                click.echo(_model_line(session, mode))
            elif command == "/help":
                click.echo(HELP)
            else:
                click.echo(f"unknown command {command}; /help lists them")
            continue
        too_long = _over_turn_limit(session, text)
        if too_long:
            click.echo(too_long, err=True)
            continue
        try:
            with Thinking():
                result = session.send(text, context=_MODES[mode])
        except ModelCallError as exc:
            click.echo(f"Error: {exc}", err=True)
            continue
        except KeyboardInterrupt:
            click.echo("\n(interrupted: nothing was charged for that turn)", err=True)
            continue
        if result.budget_blocked:
            if result.budget_reason == "loop_step_limit_exceeded":
                click.echo(_turns_done(client, session))
                ctx.exit(0)
            click.echo(result.message)
            if result.budget_reason in _ENDING_BLOCKS:
                click.echo(f"Chat stopped by the budget ({result.budget_reason}). {_status(client, session)}")
                ctx.exit(1)
            continue
        click.echo(result.content)
        click.echo(gauge(session, result))
    click.echo(f"Bye. {_status(client, session)}")


def _key_problem(timeout: float | None) -> str | None:
    """Why the chat cannot start (no key, a key the API refuses), or None; other failures only warn."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return "no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a gateway)"
    try:
        ModelsAPI(timeout=min(timeout or 10.0, 10.0)).check_key()
    except ModelsAPIError as exc:
        if exc.status_code in (401, 403):
            return f"API key check failed: {exc}"
        # A gateway without the Models API, or the API unreachable right now: the first turn will tell.
        click.echo(f"warning: could not check the API key ({exc})", err=True)
    return None


def _over_turn_limit(session: Any, text: str) -> str | None:
    """A message too long for one turn, refused before it is sent (no turn used), or None."""
    limit = session.workflow.per_task_tokens.hard
    tokens = estimate_tokens(text)
    if tokens < limit:
        return None
    return (
        f"Not sent: that message is about {tokens:,} tokens ({len(text):,} characters); one turn of "
        f"{session.workflow_id} may use at most {limit:,} (per_task_tokens.hard). Shorten it or send it in parts."
    )


def _turns_done(client: Any, session: Any) -> str:
    return (
        f"This session has used its {session.max_loop_steps} turns (max_loop_steps of {session.workflow_id}): "
        f"the chat ends here; start a new one to go on. {_status(client, session)}"
    )


def _tokens(session: Any) -> str:
    return f"session {session.tokens_used:,}/{session.soft_limit:,} soft/{session.hard_limit:,} hard tok"


def gauge(session: Any, result: Any, width: int | None = None) -> str:
    """The gauge after each reply, wrapped to ``width`` (the terminal's by default)."""
    daily = result.budget.get("daily", {})
    parts = [
        f"turn {session.loop_step}/{session.max_loop_steps}",
        _tokens(session),
        f"today {fmt_usd(daily.get('spent_nano', 0), 4)} of {fmt_usd(daily.get('limit_nano', 0))} "
        f"({daily.get('pct', 0.0):.1f}%)",
        f"{result.model} ({result.route_reason})",
        f"cost {fmt_usd(result.cost_nano, 4)}",
    ]
    if session.last_compaction is not None:
        c = session.last_compaction
        parts.append(
            f"past soft limit: compacted {c.turns_compacted} older turns (~{c.tokens_before:,} -> "
            f"~{c.tokens_after:,} tok)"
        )
    for warning in result.warnings:
        if "soft limit" not in warning:  # the gauge already says where the session stands
            parts.append(warning)
    return fit(parts, width or terminal_width())


def _status(client: Any, session: Any) -> str:
    wf = client.enforcer.workflow_status(session.workflow_id)
    return (
        f"{_tokens(session)}; turn {session.loop_step}/{session.max_loop_steps}; "
        f"compactions {session.compactions}; today {fmt_usd(wf['daily_spend_nano'], 4)} of "
        f"{fmt_usd(session.workflow.daily_nano)}; month {fmt_usd(wf['monthly_spend_nano'], 4)} of "
        f"{fmt_usd(session.workflow.monthly_nano)}"
    )


def _model_line(session: Any, mode: str) -> str:
    routing = session.workflow.routing
    last = session.last_result
    chose = f"last: {last.model} ({last.route_reason})" if last is not None and last.model else "no turn yet"
    return (
        f"router mode {mode}; {chose}; models: default {routing.default_model}, complex {routing.complex_model}, "
        f"simple {routing.simple_model}"
    )
