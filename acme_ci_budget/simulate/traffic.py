"""The simulator's traffic plan: a month of model calls drawn from the config's inventory.

Owns when each simulated call happens, for which workflow, task or session, and how big it is.
It must not send anything, touch Redis or the client (``simulate.replay`` runs the plan), and its
draws are fixed by the seed: the same seed always gives the same plan, call for call.

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
"""

from __future__ import annotations

import calendar
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from operator import attrgetter

from acme_ci_budget.config import Config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.simulate.offline_model import OfflineModel, real_tokens
from acme_ci_budget.simulate.prompts import MIN_USER_TOKENS, system_prompt

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

    @cached_property
    def _calls_by_workflow(self) -> Counter[str]:
        # one pass over the plan (277,000 calls at 100x), not one per workflow
        return Counter(c.workflow_id for d in self.days for c in d.calls)

    def calls_of(self, workflow_id: str) -> int:
        return self._calls_by_workflow[workflow_id]


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


def units_at_scale(inv_tasks: int, scale: float) -> int:
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
        total = units_at_scale(inv.monthly_tasks, scale)
        units[wf.id] = total
        n_users = max(1, math.ceil(total / len(working)))
        system_tokens = real_tokens(system_prompt(wf))
        # At 100x this loop draws half a million sizes: ``draw_size`` and ``rng.uniform`` are inlined, with
        # the very same draws in the same order (uniform(a, b) is a + (b - a) * random()), so a seed's
        # plan is unchanged call for call.
        rnd, gauss, choice, exp = rng.random, rng.gauss, rng.choice, math.exp
        sessions = bool(inv.avg_turns)
        start_hours = SESSION_HOURS if sessions else TASK_HOURS
        start_at, start_span = start_hours[0] * 3600, start_hours[1] * 3600 - start_hours[0] * 3600
        think_at, think_span = THINK_SECONDS[0], THINK_SECONDS[1] - THINK_SECONDS[0]
        tail_at, tail_span = TAIL_FACTOR[0], TAIL_FACTOR[1] - TAIL_FACTOR[0]
        input_base = max(inv.avg_input_tokens - system_tokens, 1) * _BODY_SCALE
        output_base = inv.avg_output_tokens * _BODY_SCALE
        keywords = wf.routing.complexity_keywords
        n = 0
        for week, quota in zip(week_list, _weekly_quota(total, week_list), strict=True):
            for _ in range(quota):
                n += 1
                day = choice(week)
                user = f"sim-{wf.id}-{rng.randrange(n_users) + 1:03d}"
                turns = 1 + _poisson(rng, inv.avg_turns - 1) if sessions else 1
                ts = midnight[day] + (start_at + start_span * rnd())
                session_id = f"sim-{wf.id}-s{n:06d}" if sessions else None
                task_id = None if sessions else f"sim-{wf.id}-t{n:06d}"
                planned = by_day[day]
                for turn in range(1, turns + 1):
                    growth = 2 * turn / (turns + 1) if sessions else 1.0
                    if rnd() < TAIL_SHARE:  # draw_size(rng, input mean)
                        drawn = input_base * (tail_at + tail_span * rnd())
                    else:
                        drawn = input_base * exp(gauss(_LOG_MU, SIGMA))
                    rest = max(1, round(drawn)) * growth
                    if rnd() < TAIL_SHARE:  # draw_size(rng, output mean)
                        drawn = output_base * (tail_at + tail_span * rnd())
                    else:
                        drawn = output_base * exp(gauss(_LOG_MU, SIGMA))
                    output = max(1, round(drawn))
                    keyword = None
                    if keywords and rnd() < KEYWORD_RATE:
                        keyword = choice(keywords)
                    order += 1
                    planned.append(
                        SimCall(
                            ts,
                            order,
                            wf.id,
                            system_tokens + max(round(rest), MIN_USER_TOKENS),
                            output,
                            keyword,
                            user,
                            session_id,
                            turn if sessions else None,
                            task_id,
                        )
                    )
                    ts += OfflineModel.latency_ms(output) / 1000 + (think_at + think_span * rnd())
    # Calls are appended in ``order``: a stable sort on the time alone keeps (ts, order) order.
    in_time = attrgetter("ts")
    days = tuple(DayPlan(d, tuple(sorted(by_day[d], key=in_time))) for d in all_days)
    return TrafficPlan(month=month, scale=scale, seed=seed, days=days, units=units)
