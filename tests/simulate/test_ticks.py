"""The simulator's ticks (issue 16): a simulated minute's calls share one reserve and one settle pipeline,
through the real client and the real ledger scripts, with the answers the scripts give one call at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client import BudgetedClient
from acme_ci_budget.core.tokens import estimate_messages_tokens
from acme_ci_budget.ledger import BudgetEnforcer
from acme_ci_budget.ledger.store import connect
from acme_ci_budget.simulate.offline_model import OfflineModel
from acme_ci_budget.simulate.replay import SimClock, run_simulation
from acme_ci_budget.simulate.ticks import Deferred, TickLedger, ticks

MONTH = "2026-06"
START = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]


class Counting(redis.Connection):
    sends = 0

    def send_packed_command(self, command, check_health=True):
        Counting.sends += 1
        return super().send_packed_command(command, check_health)


def _calls(n_sessions: int) -> list[tuple[str, str | None, int | None]]:
    """(workflow, session, loop step) of a few concurrent calls: sessions, tasks and a blocked one."""
    calls = [("dev_assistant", f"s{i}", 1) for i in range(n_sessions)]
    return [*calls, ("ci_cd_review", None, None), ("qa_test_gen", None, None), ("pm_assistant", "p1", 99)]


def test_a_tick_is_one_pipeline_per_phase_and_answers_as_the_scripts_do(make_config, redis_url):
    # the review is refused: its day is less than the hold of any call (a cent buys a whole review on the Haiku role)
    config = make_config({"workflows": {"ci_cd_review": {"daily_usd": 0.000001}}})
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=Counting)
    ticked_clock, plain_clock = SimClock(START), SimClock(START)
    ledger = TickLedger(
        replace(config, namespace="ticked"), redis=redis.Redis(connection_pool=pool), clock=ticked_clock
    )
    plain = BudgetEnforcer(replace(config, namespace="plain"), redis_url=redis_url, clock=plain_clock)
    model_a, model_b = OfflineModel(), OfflineModel()
    ticked = BudgetedClient(ledger.config, enforcer=ledger, anthropic_client=model_a, alerts=False)
    sequential = BudgetedClient(plain.config, enforcer=plain, anthropic_client=model_b, alerts=False)
    calls = _calls(5)

    Counting.sends = 0
    ledger.gather()
    for workflow, session, step in calls:
        with pytest.raises(Deferred):  # complete() stops at its reserve: nothing held, no model call
            ticked.complete(workflow, ASK, session_id=session, loop_step=step, task_id=None if session else "t")
    assert Counting.sends == 0 and model_a.calls == 0
    ledger.flush_reserves()
    assert Counting.sends == 1  # every reserve of the tick in one write
    results = []
    for workflow, session, step in calls:
        model_a.plan_reply(200)
        results.append(
            ticked.complete(workflow, ASK, session_id=session, loop_step=step, task_id=None if session else "t")
        )
    ledger.send_settles()
    assert Counting.sends == 2  # every settle in one more
    settlements = ledger.drain()
    ledger.direct()

    # The same calls one at a time on the plain ledger: every decision and figure the same.
    expected = []
    for workflow, session, step in calls:
        model_b.plan_reply(200)
        expected.append(
            sequential.complete(workflow, ASK, session_id=session, loop_step=step, task_id=None if session else "t")
        )
    assert [(r.budget_blocked, r.budget_reason, r.model, r.route_reason, r.cost_nano) for r in results] == [
        (r.budget_blocked, r.budget_reason, r.model, r.route_reason, r.cost_nano) for r in expected
    ]
    assert [r.budget_reason for r in results if r.budget_blocked] == [
        "daily_limit_exceeded",
        "loop_step_limit_exceeded",
    ]
    assert len(settlements) == len(calls) - 2
    month = ledger.periods()[1]
    assert [s.org_spent_nano for s in settlements][-1] == int(ledger.redis.get(ledger.keys.org_spent(month)))
    assert int(ledger.redis.get(ledger.keys.org_spent(month))) == int(plain.redis.get(plain.keys.org_spent(month)))
    assert ledger.open_holds() == 0 and plain.open_holds() == 0
    pool.disconnect()


def test_settles_in_flight_run_before_the_next_ticks_reserves(make_config, redis_url):
    """Settles are sent without waiting; the next tick's reserves follow them on the same connection, so
    each reserve sees the previous call settled (not still held at its worst case), as one call after
    another would: the same calls are let through as on the plain ledger, to the last one that fits."""
    # A day that holds one worst-case call and about seven of these 200-token replies on the PM's model:
    # the limit binds part-way through the 14 calls, and only if each call was settled before the next reserve.
    routing = make_config().workflows["pm_assistant"].routing
    asked = estimate_messages_tokens(ASK, None)
    hold = cost_nano(routing.default_model, asked, routing.max_tokens["default"])
    reply = cost_nano(routing.default_model, asked, 200)
    daily = hold + 7 * reply
    assert daily < 2 * hold  # two calls held at their worst case at once would not fit
    config = make_config({"workflows": {"pm_assistant": {"daily_usd": daily / 1e9}}})

    def run(ledger_class, namespace):
        clock = SimClock(START)
        ledger = ledger_class(replace(config, namespace=namespace), redis_url=redis_url, clock=clock)
        model = OfflineModel()
        client = BudgetedClient(ledger.config, enforcer=ledger, anthropic_client=model, alerts=False)
        results = []
        for minute in range(14):
            clock.jump(START + timedelta(minutes=minute))
            if ledger_class is TickLedger:
                ledger.gather()
                with pytest.raises(Deferred):
                    client.complete("pm_assistant", ASK, task_id=f"t{minute}")
                ledger.flush_reserves()
            model.plan_reply(200)  # far below the worst case each call holds
            results.append(client.complete("pm_assistant", ASK, task_id=f"t{minute}").budget_blocked)
            if ledger_class is TickLedger:
                ledger.send_settles()
                ledger.direct()
        if ledger_class is TickLedger:
            ledger.drain()
        return results, int(ledger.redis.get(ledger.keys.wf_spent_day("pm_assistant", ledger.periods()[0])))

    ticked, plain = run(TickLedger, "ticked"), run(BudgetEnforcer, "plain")
    assert ticked == plain
    assert True in ticked[0] and False in ticked[0]  # the limit bound part-way


def test_ticks_group_a_minute_and_never_two_turns_of_a_session(default_config):
    from acme_ci_budget.simulate.traffic import generate_traffic

    plan = generate_traffic(default_config, MONTH, 100, seed=0)
    day = max(plan.days, key=lambda d: len(d.calls))
    grouped = list(ticks(day.calls))
    assert [c for t in grouped for c in t] == list(day.calls)  # all of them, in order
    assert len(grouped) < len(day.calls) / 3  # busy minutes share a tick
    for tick in grouped:
        assert len({int(c.ts // 60) for c in tick}) == 1
        sessions = [c.session_id for c in tick if c.session_id]
        assert len(sessions) == len(set(sessions))


@pytest.mark.cluster
def test_a_simulation_on_a_cluster_decides_as_on_one_server(default_config, redis_url, redis_cluster_url):
    on_server = run_simulation(default_config, redis.Redis.from_url(redis_url), month=MONTH, scale=3, days=2)
    on_cluster = run_simulation(default_config, connect(redis_cluster_url), month=MONTH, scale=3, days=2)
    assert on_cluster.to_json() == on_server.to_json()


@pytest.mark.slow
def test_at_100x_the_hourly_mode_sees_the_warning_a_day_passes_within_the_hour(default_config, redis_url):
    """At 100x the developer assistant spends more in an hour than the 80%-100% band of a $4 day: the hourly
    full check alone would see the day already critical and never the warning the per-call check sends."""
    dev = replace(default_config.workflows["dev_assistant"], daily_nano=4 * 10**9)
    config = replace(default_config, workflows={"dev_assistant": dev})
    client = redis.Redis.from_url(redis_url)
    hourly = run_simulation(config, client, month=MONTH, scale=100, seed=0, days=1, alert_checks="hour")
    per_call = run_simulation(config, client, month=MONTH, scale=100, seed=0, days=1, alert_checks="call")
    assert hourly.to_json()["workflows"] == per_call.to_json()["workflows"]

    def kinds(result):
        return {(a.day, a.condition, a.scope, a.level) for a in result.alerts if a.condition.startswith("daily_")}

    assert kinds(hourly) == kinds(per_call)
    assert {c for _d, c, _s, _l in kinds(hourly)} == {"daily_warn", "daily_critical"}


def test_the_figures_of_a_seed_stay_as_they_were(default_config, redis_url):
    """Speed work must not move a single figure: the lab's config at 30x (every workflow, a day's limits
    binding on a $2 developer day) for the month's first three days gives these counts and nano-USD,
    pinned from the run before the tick's sends went to a thread and the client's second pass went away."""
    dev = replace(default_config.workflows["dev_assistant"], daily_nano=2 * 10**9)
    config = replace(default_config, workflows={**default_config.workflows, "dev_assistant": dev})
    result = run_simulation(config, redis.Redis.from_url(redis_url), month=MONTH, scale=30, seed=0, days=3)
    figures = {w.workflow_id: (w.calls, w.blocked_total, w.spend_nano, w.skipped_turns) for w in result.workflows}
    alerts = sorted((a.day.day, a.condition, a.scope, a.level) for a in result.alerts)
    assert (result.calls, result.blocked, result.org_spend_nano) == (8906, 296, 11_549_793_500)
    assert figures == {
        "ci_cd_review": (633, 18, 2_556_422_100, 0),
        "dev_assistant": (7176, 278, 5_996_931_000, 1700),
        "qa_test_gen": (69, 0, 2_462_278_000, 0),
        "pm_assistant": (1028, 0, 534_162_400, 0),
    }
    day = [("daily_critical", "dev_assistant", "CRITICAL"), ("daily_warn", "dev_assistant", "WARNING")]
    day += [("request_blocked", "ci_cd_review", "INFO"), ("request_blocked", "dev_assistant", "WARNING")]
    assert alerts == [(d, *alert) for d in (1, 2, 3) for alert in day]
