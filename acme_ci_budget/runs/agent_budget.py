"""An agent run's budget: how much to hold, the action's ``reserve`` and ``settle`` steps, and what they report.

Owns the budget side of a Claude Code run, shared by ``acme-ci-budget run`` (``runs.agent``) and the
action's two steps around claude-code-action: the most a run may hold (``--max-usd`` and the
workflow's ``per_run_usd``, whichever is lower), how long its hold must live (the run's timeout, the
grace to stop it, and the settle after), settling from a Claude Code result (per model at our
prices; no result: the full hold, flagged; a result that used no model: the hold released), and the
outputs and summary (``reservation-id``, ``max-budget-usd``, the cost and token outputs, the budget
gauge). It must not start a process (``runs.agent`` does), parse Claude Code's formats
(``integrations.claude_code`` does) or touch Redis except through the ledger's methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from acme_ci_budget.config import Workflow, hold_margin_seconds, load_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.money import fmt_usd, usd_to_nano
from acme_ci_budget.core.repos import resolve_repo
from acme_ci_budget.integrations.claude_code import RunResult, read_execution_file
from acme_ci_budget.ledger.agent_runs import MIN_RUN_HOLD_NANO, RunSettlement, RunUsage
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.ledger.results import Reservation
from acme_ci_budget.runs.summary import Console, Report, annotate, read_gauge, usd_text

KILL_GRACE_SECONDS = 10  # between SIGTERM and SIGKILL when a run outlives its timeout
RUN_OUTPUTS = ("reservation-id", "max-budget-usd")
TITLE = "acme-ci-budget: Claude Code run"


@dataclass(frozen=True)
class HoldPlan:
    """What a run asks the ledger for: the most it may hold, the least worth holding, and for how long."""

    workflow: Workflow
    requested_nano: int
    minimum_nano: int
    timeout_seconds: int
    ttl_seconds: float


def plan_hold(wf: Workflow, max_usd: Decimal | None, given_usd: Decimal | None, timeout: int | None) -> HoldPlan:
    """The hold for a run of ``wf``: min(``max_usd``, ``per_run_usd``), and, when the command gives its own
    ``--max-budget-usd`` (``given_usd``), exactly enough for it: a given budget above the cap is refused
    here, before anything is reserved or started (``UsageError``)."""
    caps = [c for c in (usd_to_nano(max_usd) if max_usd is not None else None, wf.per_run_nano) if c is not None]
    if not caps:
        raise UsageError(f"workflows.{wf.id} has no per_run_usd: give --max-usd (the most this run may spend)")
    requested = min(caps)
    if requested < 1:
        raise UsageError(f"--max-usd {max_usd} holds nothing: give a positive amount")
    minimum = min(MIN_RUN_HOLD_NANO, requested)
    if given_usd is not None:
        given = usd_to_nano(given_usd)
        if given > requested:
            raise UsageError(
                f"--max-budget-usd {given_usd} is above the most this {wf.id} run may hold ({fmt_usd(requested, 4)}: "
                "the lower of --max-usd and per_run_usd); lower it or drop it (it is then added at the hold)"
            )
        requested = minimum = given  # hold what the command may spend, or refuse: less would not cover it
    seconds = wf.run_timeout_seconds if timeout is None else timeout
    return HoldPlan(wf, requested, minimum, seconds, hold_ttl_seconds(seconds))


def hold_ttl_seconds(timeout_seconds: float) -> float:
    """A run's hold outlives its timeout, the grace to stop it and the settle after it."""
    return timeout_seconds + KILL_GRACE_SECONDS + hold_margin_seconds(timeout_seconds)


def usage_of(result: RunResult) -> list[RunUsage]:
    """A Claude Code result's ``modelUsage`` as the ledger's per-model usage."""
    return [
        RunUsage(
            m.model,
            m.input_tokens,
            m.output_tokens,
            m.cache_creation_input_tokens,
            m.cache_read_input_tokens,
            usd_to_nano(m.cost_usd) if m.cost_usd is not None else None,
        )
        for m in result.models
    ]


def settle(
    enforcer: BudgetEnforcer, r: Reservation, result: RunResult | None, outcome: str, console: Console, why: str
) -> RunSettlement | None:
    """Settle run ``r`` from its ``result``: per model at our prices; None (``why`` says why): the full hold,
    flagged ``usage_missing``; a result that used no model: the hold released (None returned)."""
    if result is not None and not result.models:
        enforcer.release(r, error=f"the run used no model ({result.subtype or outcome})")
        console.say(f"acme-ci-budget: the run used no model: its {fmt_usd(r.held_nano)} hold is released")
        return None
    agent_cost = usd_to_nano(result.total_cost_usd) if result and result.total_cost_usd is not None else None
    usage = usage_of(result) if result is not None else None
    done = enforcer.settle_run(r, usage, agent_cost_nano=agent_cost, outcome=result.subtype if result else outcome)
    if done.settlement.usage_missing:
        annotate("warning", f"{why}: charged its full hold of {fmt_usd(r.held_nano)} (usage_missing)", TITLE)
    if done.settlement.over_hold_nano:
        annotate("warning", f"the run cost {fmt_usd(done.settlement.over_hold_nano, 4)} above its hold", TITLE)
    estimate = f"; Claude Code's own estimate {fmt_usd(agent_cost, 4)}" if agent_cost is not None else ""
    console.say(
        f"acme-ci-budget: {r.workflow_id} run charged {fmt_usd(done.cost_nano, 4)} "
        f"({', '.join(done.models)}){estimate}; held {fmt_usd(r.held_nano)}"
    )
    return done


def new_report() -> Report:
    report = Report(TITLE)
    report.outputs.update(dict.fromkeys(RUN_OUTPUTS, ""))
    return report


def report_reserved(report: Report, r: Reservation) -> None:
    report.outputs.update({"reservation-id": r.id, "max-budget-usd": usd_text(r.held_nano)})
    report.rows.append(("Held", f"{fmt_usd(r.held_nano)} for `{r.workflow_id}` (`{r.id}`)"))


def report_blocked(report: Report, r: Reservation, plan: HoldPlan, what: str, console: Console, fail: bool) -> int:
    """A refused hold: the reason printed and annotated, the blocked outputs; the exit code a blocked review has."""
    room = r.headroom
    message = (
        f"{r.workflow_id}: {r.reason}: room left today {fmt_usd(room.get('daily_remaining_nano', 0))}, "
        f"this month {fmt_usd(room.get('monthly_remaining_nano', 0))}, org {fmt_usd(room.get('org_remaining_nano', 0))}"
        f"; a run needs at least {fmt_usd(plan.minimum_nano)}. {what} not started."
    )
    console.say(f"acme-ci-budget: blocked: {message}")
    annotate("error" if fail else "notice", message, "acme-ci-budget: run blocked")
    report.outputs.update({"blocked": "true", "block-reason": r.reason})
    report.lines.append(f"**Blocked by the budget ({r.reason})**: {message}")
    return 1 if fail else 0


def report_settled(report: Report, enforcer: BudgetEnforcer, r: Reservation, done: RunSettlement | None) -> None:
    """The cost and token outputs of a settled run (zero when its hold was released) and the gauge."""
    cost = done.cost_nano if done else 0
    report.outputs.update(
        {
            "reservation-id": r.id,
            "model": ",".join(done.models) if done else "",
            "cost-usd": usd_text(cost),
            "input-tokens": str(done.tokens("input_tokens") if done else 0),
            "output-tokens": str(done.tokens("output_tokens") if done else 0),
            "cache-read-tokens": str(done.tokens("cache_read_tokens") if done else 0),
            "cache-write-tokens": str(done.tokens("cache_write_tokens") if done else 0),
        }
    )
    missing = done is not None and done.settlement.usage_missing
    report.rows.append(("Cost", fmt_usd(cost, 4) + (" (usage missing: the full hold)" if missing else "")))
    report.gauge(read_gauge(enforcer, r.workflow_id))


@dataclass(frozen=True)
class StepOptions:
    """The action's ``reserve`` / ``settle`` steps (each also a CLI command)."""

    config_path: str | None
    redis_url: str | None
    ephemeral_ledger: bool = False
    workflow_id: str | None = None
    max_usd: Decimal | None = None
    timeout_seconds: int | None = None
    fail_on_block: bool = False
    reservation_id: str = ""
    execution_file: str = ""
    agent_outcome: str = ""
    repo: str | None = None  # reserve: owner/name the run is attributed to (settle reads the run's own)


def open_ledger(o: Any) -> BudgetEnforcer:
    """The run's ledger, attributing its calls to ``o.repo`` (else ``$GITHUB_REPOSITORY``; a bad name: exit 2)."""
    return BudgetEnforcer(
        load_config(o.config_path),
        redis_url=o.redis_url,
        ephemeral_ledger=o.ephemeral_ledger,
        repo=resolve_repo(o.repo, "--repo"),
    )


def reserve_step(o: StepOptions, console: Console | None = None) -> int:
    """``reserve``: hold money for the agent step that follows, or say why not."""
    console = console or Console()
    if not o.workflow_id:
        raise UsageError("reserve needs the workflow to charge (--workflow; the action's workflow input)")
    enforcer = open_ledger(o)
    plan = plan_hold(enforcer.config.workflow(o.workflow_id), o.max_usd, None, o.timeout_seconds)
    code, r, report = reserve(enforcer, plan, console, o.fail_on_block, "the agent step")
    if r.allowed:  # a refusal wrote its outputs already
        report.gauge(read_gauge(enforcer, plan.workflow.id))
        report.write()
    return code


def reserve(
    enforcer: BudgetEnforcer, plan: HoldPlan, console: Console, fail: bool, what: str, task_id: str | None = None
) -> tuple[int, Reservation, Report]:
    report = new_report()
    r = enforcer.reserve_run(
        plan.workflow.id, plan.requested_nano, plan.ttl_seconds, minimum_nano=plan.minimum_nano, task_id=task_id
    )
    if not r.allowed:
        code = report_blocked(report, r, plan, what, console, fail)
        report.gauge(read_gauge(enforcer, plan.workflow.id))
        report.write()
        return code, r, report
    report_reserved(report, r)
    console.say(f"acme-ci-budget: held {fmt_usd(r.held_nano)} of {plan.workflow.id} for {what} ({r.id})")
    return 0, r, report


def settle_step(o: StepOptions, console: Console | None = None) -> int:
    """``settle``: settle (or release) the reservation from the agent step's execution file."""
    console = console or Console()
    if not o.reservation_id:
        console.say("acme-ci-budget: nothing was reserved (the reserve step was blocked or skipped): nothing to settle")
        new_report().write()
        return 0
    enforcer = open_ledger(o)
    r = enforcer.load_run(o.reservation_id)
    if r is None:
        raise UsageError(f"the ledger at {enforcer.where} holds no run reservation {o.reservation_id}")
    report = new_report()
    if o.agent_outcome == "skipped":  # the agent step never ran: nothing was spent
        enforcer.release(r, error="the agent step was skipped")
        console.say(f"acme-ci-budget: the agent step was skipped: its {fmt_usd(r.held_nano)} hold is released")
        done = None
    else:
        result, why = read_execution_file(o.execution_file) if o.execution_file else (None, "no execution file given")
        outcome = o.agent_outcome or ("no_result" if result is None else "")
        done = settle(enforcer, r, result, outcome, console, f"the agent step left no result ({why})")
    report_settled(report, enforcer, r, done)
    report.write()
    return 0

