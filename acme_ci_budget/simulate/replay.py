"""The month simulator's run: a month of synthetic traffic through the real budget stack, offline.

Owns the run loop: every planned call (``simulate.traffic``, worded by ``simulate.prompts``) goes
through the real ``TaskRouter``, ``BudgetedClient``, ``BudgetEnforcer`` and ``AlertManager`` on a
simulated clock, answered by ``simulate.offline_model``; what happened is read back into
``simulate.results``, and ``simulate()`` ties a run to its Redis (``simulate.isolation``) and its
report files (``simulate.reports``). It must not print, render or write files itself (the command
prints; ``simulate.reports`` writes), call a real model, or deliver an alert: simulated alerts are
evaluated and deduplicated exactly as in production, then recorded with their simulated day
instead of being sent.

Where the month is kept. A run uses its own namespace, ``<namespace>-sim-<month>-x<scale>-s<seed>``,
which it empties first, so it never touches a real ledger's keys and the same seed always gives the
same numbers. With no Redis given it runs on the local embedded ledger and, by default (``keep``),
leaves the month there, so ``report``, ``status`` and ``events --namespace <it>`` show it
afterwards; ``keep=False`` runs on a scratch embedded Redis (a temporary folder, no persistence)
discarded afterwards. On a Redis given by URL the namespace is emptied again after the report
unless ``keep``.

Speed: the calls that start in one simulated minute form a tick (``simulate.ticks``): each goes
through ``BudgetedClient.complete`` as usual, but the tick's reserve scripts are sent to Redis in
one pipeline and its settle scripts in another, sent without waiting so that Redis runs them
while the next tick is prepared. The scripts and their arguments are the real ones; what a tick
changes is that its calls are in flight together (all holds taken before any settle), as calls
that overlap in time are, and each runs at its own simulated time. Budget pressure is decided in
the reserve script, so a call costs two scripts and no extra read. With ``alert_checks="hour"``
every settle's figures go through ``AlertManager.check_spend`` as they are read (local, reading
Redis only when a threshold may have been crossed: at 100x a day can pass 80% and 100% within one
hour), and the full check (blocks, holds over their worst case) runs once per simulated hour with
traffic and at the end of each day; ``"call"`` makes the client's per-call check (``check_spend``,
``check`` after a block) for every call. The alerts and their days come out the same (tests hold
the two modes to it at scale 1 and at 100x). On the lab's config a month at scale 100 is 277,000
calls: 53 s on 2 shared cores against 135 s before issue 16's cuts (``scripts/bench_simulate.py``,
README "Measured figures"); about 41 s of it is Python CPU (a call's route and counts taken once, its
``complete()`` run twice: to gather the reserve, then to replay it).
The usage log's ``latency_ms`` is the stand-in's real (sub-millisecond) time; simulated latency
only moves the simulated clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from acme_ci_budget.alerts.manager import AlertManager
from acme_ci_budget.budget.forecast import local_date
from acme_ci_budget.config import Config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.ledger.store import compact_embedded, connect, connect_embedded, redact_url
from acme_ci_budget.simulate.isolation import (
    SCRATCH,
    clear_namespace,
    drop_working_state,
    scratch_redis,
    simulation_config,
)
from acme_ci_budget.simulate.offline_model import OfflineModel
from acme_ci_budget.simulate.prompts import build_messages, system_prompt
from acme_ci_budget.simulate.reports import build_simulation_report, write_reports
from acme_ci_budget.simulate.results import FiredAlert, SimulationResult, summaries
from acme_ci_budget.simulate.ticks import Deferred, TickClient, TickLedger, ticks
from acme_ci_budget.simulate.traffic import SimCall, generate_traffic

ALERT_CHECKS = ("hour", "call")
EMBEDDED = "the local embedded ledger"  # what ``SimulationResult.ledger`` says when the month was kept there


# --- the run ------------------------------------------------------------------------------------


class SimClock:
    """The simulated time every component reads (a ``core.clock.Clock``): ``set`` only moves it forward,
    ``jump`` anywhere."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when > self._now:
            self._now = when

    def jump(self, when: datetime) -> None:
        """To ``when``, earlier or later: the calls of a tick overlap, each runs at its own time."""
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class _AlertRecorder:
    """The production ``AlertManager`` with delivery off, keeping what fired with its simulated day.

    Delivery (log, GitHub annotations, Slack, PagerDuty) is the one step a simulation must not
    take; evaluation and dedup are the production ones. ``check`` is the client's alert hook.
    """

    def __init__(self, config: Config, enforcer: Any) -> None:

        self.manager = AlertManager(config, enforcer=enforcer, deliver=False)
        self.fired: list[FiredAlert] = []

    def check(self, workflow_id: str | None = None) -> list[Any]:
        return self._record(self.manager.check(workflow_id))

    def check_spend(self, workflow_id: str, **figures: Any) -> list[Any]:
        """The client's per-call check from a settle's figures (``AlertManager.check_spend``)."""
        return self._record(self.manager.check_spend(workflow_id, **figures))

    def _record(self, alerts: list[Any]) -> list[Any]:
        if not alerts:  # the usual case: no simulated day to work out (this runs for every call)
            return alerts
        day = local_date(self.manager.now(), self.manager.config.tz)
        self.fired += [
            FiredAlert(
                day=day,
                level=alert.level,
                condition=alert.condition,
                scope=alert.scope,
                period=alert.period,
                message=alert.message,
            )
            for alert in alerts
        ]
        return alerts


Progress = Callable[[int, int, int], None]  # (days done, days in the run, calls so far)


def default_month(config: Config, now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(config.tz).strftime("%Y-%m")


def run_simulation(
    config: Config,
    redis: Any,
    *,
    month: str | None = None,
    scale: float = 1,
    seed: int = 0,
    days: int | None = None,
    alert_checks: str = "hour",
    progress: Progress | None = None,
    ledger: str = SCRATCH,
) -> SimulationResult:
    """Simulate ``month`` (default: this month) at ``scale`` on ``redis``, in the simulation namespace.

    ``days`` stops after that many calendar days (the plan is still the whole month's, so the
    first days are the same as in a full run).
    """

    if alert_checks not in ALERT_CHECKS:
        raise UsageError(f"alert_checks must be one of {', '.join(ALERT_CHECKS)}, got {alert_checks!r}")
    month = month or default_month(config)
    started = time.perf_counter()
    plan = generate_traffic(config, month, scale, seed)
    sim_config = simulation_config(config, month, scale, seed)
    clear_namespace(redis, sim_config.namespace)
    run_days = plan.days[: days if days is not None else len(plan.days)]

    tz = config.tz
    first = plan.days[0].day
    clock = SimClock(datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC))
    enforcer = TickLedger(sim_config, redis=redis, clock=clock)
    alerts = _AlertRecorder(sim_config, enforcer)
    model = OfflineModel(clock=clock, advance=clock.advance, seed=seed)
    # The per-call alert check is made here, with the settle's figures, once the tick's settles are back.
    client = TickClient(sim_config, enforcer=enforcer, anthropic_client=model, alerts=False)
    systems = {wid: system_prompt(wf) for wid, wf in config.workflows.items()}

    awaiting = _SpendChecks(alerts)
    stopped: set[str] = set()
    skipped: dict[str, int] = {}
    truncated: dict[str, int] = {}
    first_blocked: dict[str, dict[str, date]] = {}
    block_days: dict[str, dict[str, set[date]]] = {}
    sent = 0
    for index, day_plan in enumerate(run_days, start=1):
        hour = None
        last = clock()
        for planned in ticks(day_plan.calls):
            tick = []
            for call in planned:
                if call.session_id is not None and call.session_id in stopped:
                    skipped[call.workflow_id] = skipped.get(call.workflow_id, 0) + 1
                else:
                    tick.append(call)
            if not tick:
                continue
            clock.jump(max(tick[0].at, last))
            if alert_checks == "hour":
                this_hour = clock().replace(minute=0, second=0, microsecond=0)
                if hour is not None and this_hour != hour:
                    # every settle so far recorded (and its figures checked) before the check reads the ledger
                    awaiting.check(enforcer.drain())
                    alerts.check()
                hour = this_hour
            client.new_tick()
            done = _run_tick(client, enforcer, model, clock, systems, tick)
            sent += len(done)
            settlements = iter(enforcer.drain() if alert_checks == "call" else ())
            if alert_checks == "hour":
                awaiting.calls += [(c.workflow_id, r) for c, r, result, _at in done if not result.budget_blocked]
                awaiting.check(enforcer.settled())  # the previous tick's, read with this tick's reserves
            for call, reservation, result, settled_at in done:
                if alert_checks == "call":  # what the client's hook does, with the settle's own figures
                    clock.jump(settled_at)
                    if result.budget_blocked:
                        alerts.check(call.workflow_id)
                    else:
                        alerts.check_spend(call.workflow_id, **_settle_figures(reservation, next(settlements)))
                if result.budget_blocked:
                    today = local_date(call.at, tz)
                    first_blocked.setdefault(call.workflow_id, {}).setdefault(result.budget_reason, today)
                    block_days.setdefault(call.workflow_id, {}).setdefault(result.budget_reason, set()).add(today)
                    if call.session_id is not None:
                        stopped.add(call.session_id)
                elif result.stop_reason == "max_tokens":
                    truncated[call.workflow_id] = truncated.get(call.workflow_id, 0) + 1
            last = max(settled_at for *_rest, settled_at in done)
            clock.jump(last)
        if alert_checks == "hour":
            awaiting.check(enforcer.drain())
            if day_plan.calls:
                alerts.check()
        else:
            enforcer.drain()
        if progress is not None:
            progress(index, len(run_days), sent)

    workflows = summaries(sim_config, enforcer, plan, month, skipped, truncated, first_blocked, block_days)
    org_spent = enforcer.month_figures(month, workflows=()).counters["org_spent"]
    return SimulationResult(
        month=month,
        scale=scale,
        seed=seed,
        namespace=sim_config.namespace,
        ledger=ledger,
        days_in_month=len(plan.days),
        days_simulated=len(run_days),
        workflows=workflows,
        alerts=tuple(alerts.fired),
        org_spend_nano=org_spent,
        org_budget_nano=config.org_monthly_nano,
        elapsed_seconds=time.perf_counter() - started,
        config=sim_config,
    )


def _run_tick(
    client: Any, ledger: TickLedger, model: OfflineModel, clock: SimClock, systems: Mapping[str, str], tick: list
) -> list[tuple[SimCall, Any, Any, datetime]]:
    """One tick through the real client (``simulate.ticks``): its reserves in one pipeline, then its model
    calls, then its settles in one pipeline, sent without waiting (``ledger.drain()`` has them). Returns,
    per call: (call, reservation, result, the simulated time it ended)."""

    requests = []
    ledger.gather()
    for call in tick:
        at = call.at  # a datetime built from the call's timestamp: once, for both passes
        clock.jump(at)
        request = (call.workflow_id, build_messages(call, systems[call.workflow_id]))
        options = {
            "system": systems[call.workflow_id],
            "session_id": call.session_id,
            "user_id": call.user_id,
            "loop_step": call.turn,
            "task_id": call.task_id,
        }
        requests.append((at, request, options))
        try:
            client.complete(*request, **options)
        except Deferred:
            continue
        raise RuntimeError(f"{call.workflow_id}: the tick ledger did not gather this call's reserve")
    ledger.flush_reserves()
    outcomes = []
    try:
        for call, (at, request, options) in zip(tick, requests, strict=True):
            clock.jump(at)
            model.plan_reply(call.output_tokens)
            result = client.complete(*request, **options)
            if result.budget_blocked:
                model.clear_plans()
            outcomes.append((call, ledger.answers[-1], result, clock()))
        ledger.send_settles()
    finally:
        ledger.direct()
    return outcomes


@dataclass
class _SpendChecks:
    """The hourly mode's per-call spend check: each settle's figures, once read, go through
    ``check_spend`` (local, microseconds; Redis only when a threshold may have been crossed), so a
    threshold crossed and passed within the hour (80% and 100% of a day) is seen as production sees it."""

    alerts: Any
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (workflow, reservation) settled, not yet checked

    def check(self, settlements: list[Any]) -> None:
        checked, self.calls = self.calls[: len(settlements)], self.calls[len(settlements) :]
        for (workflow_id, reservation), settlement in zip(checked, settlements, strict=True):
            self.alerts.check_spend(workflow_id, **_settle_figures(reservation, settlement))


def _settle_figures(reservation: Any, settlement: Any) -> dict[str, Any]:
    """What the client's per-call alert check passes to ``AlertManager.check_spend``."""
    return {
        "day": reservation.day,
        "org_spent_nano": settlement.org_spent_nano,
        "month_spent_nano": settlement.month_spent_nano,
        "day_spent_nano": settlement.day_spent_nano,
        "over_hold_nano": settlement.over_hold_nano,
        "open_incidents": reservation.open_incidents,
        "org_held_nano": settlement.org_held_nano,
        "month_held_nano": settlement.month_held_nano,
        "day_held_nano": settlement.day_held_nano,
    }


def default_keep(redis_url: str | None) -> bool:
    """Keep the month by default on the local embedded ledger, never by default on a Redis given by URL.

    In GitHub Actions there is no local ledger worth keeping (it dies with the runner), so not there either.
    """
    return redis_url is None and os.environ.get("GITHUB_ACTIONS") != "true"


def simulate(
    config: Config,
    *,
    month: str | None = None,
    scale: float = 1,
    seed: int = 0,
    report_dir: Any = None,
    redis_url: str | None = None,
    keep: bool | None = None,
    days: int | None = None,
    alert_checks: str = "hour",
    progress: Progress | None = None,
) -> tuple[SimulationResult, Any]:
    """Run the simulation and write the report files; returns (result, report).

    ``keep`` (None: ``default_keep``): leave the simulated month in its namespace. No ``redis_url``:
    the local embedded ledger when keeping, else a scratch embedded Redis. With one, the namespace
    is emptied before the run and, unless ``keep``, after the report is written.
    """
    keep = default_keep(redis_url) if keep is None else keep
    if redis_url or keep:
        redis = connect(redis_url) if redis_url else connect_embedded()  # never $REDIS_URL unless given
        where = redact_url(redis_url) if redis_url else EMBEDDED
        result, report = _run_and_report(
            config, redis, month, scale, seed, days, alert_checks, progress, where, report_dir
        )
        if not keep:
            clear_namespace(redis, result.namespace)
        else:  # what stays is the month; the next command on the embedded ledger reads it, not its history
            drop_working_state(redis, result.namespace)
            if not redis_url:
                compact_embedded(redis)
        return replace(result, kept=keep), report
    with scratch_redis() as redis:
        return _run_and_report(config, redis, month, scale, seed, days, alert_checks, progress, SCRATCH, report_dir)


def _run_and_report(config, redis, month, scale, seed, days, alert_checks, progress, where, report_dir):
    result = run_simulation(
        config,
        redis,
        month=month,
        scale=scale,
        seed=seed,
        days=days,
        alert_checks=alert_checks,
        progress=progress,
        ledger=where,
    )
    report = build_simulation_report(result, redis)
    if report_dir is not None:
        result = replace(result, report_paths=write_reports(report, report_dir))
    return result, report
