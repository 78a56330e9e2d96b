"""The ledger at its edges (issue 11), on a real redis-server.

Holds that come back however late the purge runs, status that never shows an expired hold, cache
writes held and priced at their TTL's rate, overruns and replies without usage recorded and flagged,
loop steps per task, exact money past $100,000 and past 2^53 nano-USD, scripts that refuse a bad
argument before writing anything, unknown releases, and events stamped with their counters' day.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from acme_ci_budget.alerts.manager import OVER_HOLD, WARNING, AlertManager
from acme_ci_budget.catalog.pricing import cost_nano, price_for
from acme_ci_budget.commands.status import render_status
from acme_ci_budget.core.money import fmt_usd, nano_to_usd
from acme_ci_budget.ledger.enforcer import (
    LOOP_STEPS,
    RELEASED,
    UNKNOWN_RESERVATION,
    BudgetEnforcer,
    LedgerArgumentError,
    Reservation,
    SettleError,
    _run,
)
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from tests.clock import Clock
from tests.roles import CHEAP

# The lab's Haiku role: the cheap model of the shipped config (tests/roles.py).
HAIKU = CHEAP


@pytest.fixture
def enforcer(redis_url, default_config, clock) -> BudgetEnforcer:
    return BudgetEnforcer(default_config, redis_url=redis_url, clock=clock)


def events(e: BudgetEnforcer) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _id, f in e.redis.xrange(e.keys.events())]


def stats(e: BudgetEnforcer, month: str = "2026-11") -> dict[str, int]:
    return {k.decode(): int(v) for k, v in e.redis.hgetall(e.keys.stats(month)).items()}


def keyspace(e: BudgetEnforcer) -> dict[bytes, bytes]:
    """Every key's serialized value and TTL: equal snapshots mean nothing was written."""
    r = e.redis
    return {key: (r.dump(key), r.pttl(key) > 0) for key in sorted(r.keys("*"))}


# --- 1. holds never leak; status never shows an expired hold -------------------------------------


def test_a_hold_record_lives_as_long_as_its_index_entry(enforcer):
    # The old hold HASH expired on Redis time (2 x TTL + 60 s) while its index entry waited for the next
    # reserve: a purge after that found nothing and the hold's amount stayed on the counters for the month.
    r = enforcer.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert enforcer.redis.pttl(enforcer.keys.hold(r.id)) == -1  # no expiry of its own
    assert enforcer.redis.hget(enforcer.keys.hold(r.id), "amount") == str(r.held_nano).encode()


def test_a_crashed_hold_comes_back_however_late_the_purge_runs(make_config, redis_url, clock):
    hold = cost_nano(HAIKU, 1000, 2000)  # the worst case a reserve of 1000 in, 2000 out holds
    cfg = make_config({"workflows": {"ci_cd_review": {"daily_usd": nano_to_usd(hold * 3 // 2)}}})  # 1.5 holds
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    crashed = e.reserve("ci_cd_review", HAIKU, 1000, 2000)  # two thirds of the day's limit, then the worker dies
    assert crashed.allowed and crashed.held_nano == hold
    assert 2 * hold > cfg.workflows["ci_cd_review"].daily_nano  # a second hold fits only once this one comes back
    clock.advance(hours=5)  # far past 2 x TTL + 60 s: nobody reserved meanwhile
    again = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert again.allowed, again.reason
    e.settle(again, 1000, 2000)
    assert e.redis.get(e.keys.wf_held_day("ci_cd_review", "2026-11-10")) == b"0"
    assert e.open_holds() == 0
    (expired,) = [ev for ev in events(e) if ev["type"] == "hold_expired"]
    assert expired["reservation"] == crashed.id and expired["held_nano"] == str(crashed.held_nano)
    assert (expired["day"], expired["month"]) == ("2026-11-10", "2026-11")


def test_status_never_shows_an_expired_hold(enforcer, clock):
    r = enforcer.reserve("ci_cd_review", HAIKU, 3000, 2000)
    assert enforcer.status_snapshot()["workflows"]["ci_cd_review"]["held_nano"] == r.held_nano
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)  # the worker died; no reserve since
    snapshot = enforcer.status_snapshot()
    assert snapshot["workflows"]["ci_cd_review"]["held_nano"] == 0
    assert snapshot["org"]["held_nano"] == 0 and snapshot["org"]["remaining"] == snapshot["org"]["budget"]
    assert enforcer.get_all_status()["ci_cd_review"]["held_usd"] == 0
    assert enforcer.open_holds() == 0
    assert [ev["type"] for ev in events(enforcer)] == ["hold_expired"]


def test_a_status_read_is_one_round_trip_that_purges(enforcer, clock, monkeypatch):
    enforcer.reserve("ci_cd_review", HAIKU, 3000, 2000)
    enforcer.status_snapshot()  # the script is cached server-side now
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)
    sent = []
    original = enforcer.redis.execute_command

    def counting(*args, **kwargs):
        sent.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(enforcer.redis, "execute_command", counting)
    assert enforcer.status_snapshot()["org"]["held_nano"] == 0
    assert sent == ["EVALSHA"]


# --- 4 and 5. cache writes held and priced at their TTL's rate -----------------------------------


@pytest.fixture
def roomy(make_config, redis_url, clock) -> BudgetEnforcer:
    """dev_assistant with room for a 10,000-token prompt and 1,000 out in one call (its default hard limit is lower)."""
    cfg = make_config({"workflows": {"dev_assistant": {"per_task_tokens": {"soft": 20_000, "hard": 20_000}}}})
    return BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)


def _in_nano(model: str) -> Decimal:
    """The model's input price in nano-USD a token (1,000x its $/MTok): Anthropic prices cache writes from it."""
    return price_for(model).input * 1000


def test_cache_writes_are_held_at_the_cache_write_rate(roomy):
    model = roomy.config.workflows["dev_assistant"].routing.default_model  # the Haiku role
    plain = roomy.reserve("dev_assistant", model, 10_000, 1000)
    cached = roomy.reserve("dev_assistant", model, 10_000, 1000, cache_write_tokens=6000)
    hour = roomy.reserve("dev_assistant", model, 10_000, 1000, cache_write_tokens=2000, cache_write_1h_tokens=6000)
    assert plain.allowed and cached.allowed and hour.allowed
    assert plain.held_nano == cost_nano(model, 10_000, 1000)
    assert cached.held_nano == cost_nano(model, 4000, 1000, 6000)  # 6,000 at the write rate instead of input's
    assert cached.held_nano - plain.held_nano == 6000 * _in_nano(model) * Decimal("0.25") > 0
    assert hour.held_nano == cost_nano(model, 2000, 1000, 2000, cache_write_1h_tokens=6000)
    unit = _in_nano(model)
    assert hour.held_nano - plain.held_nano == 2000 * unit * Decimal("0.25") + 6000 * unit  # 1.25x and 2x input
    # never more cache writes than input: the 1-hour ones (dearer) are kept first
    capped = roomy.reserve("dev_assistant", model, 100, 10, cache_write_tokens=500, cache_write_1h_tokens=80)
    assert (capped.cache_write_1h_tokens, capped.cache_write_tokens) == (80, 20)
    with pytest.raises(SettleError, match="non-negative"):
        roomy.reserve("dev_assistant", model, 100, 10, cache_write_tokens=-1)


def test_one_hour_cache_writes_are_priced_at_the_one_hour_rate(roomy, make_config):
    model = roomy.config.workflows["dev_assistant"].routing.default_model  # the Haiku role
    # the 1-hour write is 2x input: from the price snapshot, and for a price source that names no 1-hour price
    # (a config override; haiku 3.5's own rates: input $0.80, 5-minute write $1.00, so 1-hour $1.60 per MTok).
    # 10,000 tokens: a prompt past a long-context tier start (100,000 for the Haiku role) is billed at that tier.
    assert cost_nano(model, 0, 0, cache_write_1h_tokens=10_000) == 2 * _in_nano(model) * 10_000
    negotiated = make_config({"pricing": {model: {"input": 0.80, "output": 4, "cache_write": 1.00}}}).pricing
    assert cost_nano(model, 0, 0, overrides=negotiated, cache_write_1h_tokens=10_000) == 10_000 * 1600
    r = roomy.reserve("dev_assistant", model, 10_000, 1000, cache_write_1h_tokens=8000)
    assert r.allowed
    s = roomy.settle(r, 2000, 500, 8000, 0, cache_creation_1h_input_tokens=6000)
    assert s.cost_nano == cost_nano(model, 2000, 500, 2000, cache_write_1h_tokens=6000)
    in_nano, out_nano = _in_nano(model), price_for(model).output * 1000
    assert s.cost_nano == 2000 * in_nano + 500 * out_nano + 2000 * in_nano * Decimal("1.25") + 6000 * in_nano * 2
    (call,) = [ev for ev in events(roomy) if ev["type"] == "call"]
    assert (call["cache_creation_input_tokens"], call["cache_creation_1h_input_tokens"]) == ("8000", "6000")
    st = stats(roomy)
    assert (st["tok_cw|dev_assistant"], st["tok_cw1h|dev_assistant"]) == (8000, 6000)
    with pytest.raises(SettleError, match="cannot exceed"):
        roomy.settle(roomy.reserve("dev_assistant", model, 10, 10), 10, 1, 5, 0, cache_creation_1h_input_tokens=6)


# --- 6. overruns are recorded, flagged, alerted, shown -------------------------------------------


def test_an_overrun_is_recorded_flagged_alerted_and_shown(make_config, redis_url, clock):
    hold = cost_nano(HAIKU, 1000, 1000)
    cfg = make_config({"workflows": {"dev_assistant": {"daily_usd": nano_to_usd(hold * 21 // 10)}}})  # 2.1 holds
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    r, r2 = (e.reserve("dev_assistant", HAIKU, 1000, 1000) for _ in range(2))  # `hold` held each: both fit
    assert r.allowed and r2.allowed and r.held_nano == r2.held_nano == hold
    s = e.settle(r, 12_000, 1000)  # the API counted 12x the input
    assert s.cost_nano == cost_nano(HAIKU, 12_000, 1000)
    assert s.over_hold_nano == s.cost_nano - r.held_nano > 0
    (call,) = [ev for ev in events(e) if ev["type"] == "call"]
    assert call["over_hold_nano"] == str(s.over_hold_nano) and call["held_nano"] == str(r.held_nano)
    st = stats(e)
    assert (st["over_hold|dev_assistant"], st["over_hold_nano|dev_assistant"]) == (1, s.over_hold_nano)
    assert e.settle(r, 12_000, 1000).duplicate and stats(e)["over_hold|dev_assistant"] == 1
    assert not e.reserve("dev_assistant", HAIKU, 10, 10).allowed  # past the limit: nothing more is sold

    manager = AlertManager(cfg, enforcer=e, deliver=False)
    fired = [a for a in manager.check("dev_assistant") if a.condition == OVER_HOLD]
    assert [a.level for a in fired] == [WARNING]
    assert "settled above its hold" in fired[0].message and fmt_usd(s.over_hold_nano, 4) in fired[0].message
    assert not [a for a in manager.check("dev_assistant") if a.condition == OVER_HOLD]  # deduped
    s2 = e.settle(r2, 5000, 1000)  # a second overrun the same day: counted, not alerted again
    assert not [a for a in AlertManager(cfg, enforcer=e, deliver=False).check() if a.condition == OVER_HOLD]
    # the spend past the daily limit is covered by the flagged overruns, never more
    spent = int(e.redis.get(e.keys.wf_spent_day("dev_assistant", "2026-11-10")))
    assert 0 < spent - cfg.workflows["dev_assistant"].daily_nano <= s.over_hold_nano + s2.over_hold_nano

    snapshot = e.status_snapshot()
    assert snapshot["workflows"]["dev_assistant"]["over_hold_calls"] == 2
    text = render_status(snapshot, "test")
    assert "Settled above their hold this month: 2 calls" in text and "(dev_assistant 2)" in text

    report = build_report(cfg, e.redis, "2026-11", clock=clock)
    assert report.workflow("dev_assistant").over_hold_calls == 2 and report.total_over_hold_calls == 2
    assert report.to_json()["org"]["over_hold_calls"] == 2
    assert "Over hold:  2 calls settled" in render(report, "text")
    assert "2 settled over their hold" in render(report, "markdown")
    assert "Over hold" in render(report, "html")


def test_a_settle_after_the_hold_expired_is_all_over_hold(enforcer, clock):
    r = enforcer.reserve("dev_assistant", HAIKU, 1000, 1000)
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 5)
    enforcer.status_snapshot()  # the purge gives the hold back: its room may be sold again
    s = enforcer.settle(r, 1000, 500)
    assert not s.hold_found and s.over_hold_nano == s.cost_nano


# --- 7. a reply without usage is charged its hold's worst case ----------------------------------


def test_usage_missing_charges_the_hold_and_is_counted(enforcer, clock):
    r = enforcer.reserve("dev_assistant", HAIKU, 3000, 800, cache_write_tokens=1000)
    s = enforcer.settle(r, usage_missing=True, latency_ms=5)
    assert s.cost_nano == r.held_nano and s.usage_missing and s.over_hold_nano == 0
    (call,) = [ev for ev in events(enforcer) if ev["type"] == "call"]
    assert call["usage_missing"] == "1" and call["cost_nano"] == str(r.held_nano)
    assert (call["input_tokens"], call["output_tokens"], call["cache_creation_input_tokens"]) == ("2000", "800", "1000")
    assert stats(enforcer)["usage_missing|dev_assistant"] == 1
    report = build_report(enforcer.config, enforcer.redis, "2026-11", clock=clock)
    assert report.workflow("dev_assistant").usage_missing == 1
    assert "Usage missing: 1" in render(report, "text")


# --- 10. loop steps per task id, in Redis ---------------------------------------------------------


def test_loop_steps_are_counted_per_task_whatever_loop_step_says(make_config, redis_url, clock):
    cfg = make_config({"workflows": {"qa_test_gen": {"max_loop_steps": 3}}})
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    for _ in range(3):
        r = e.reserve("qa_test_gen", HAIKU, 100, 100, task_id="ticket-7", loop_step=1)  # the caller lies
        assert r.allowed
        e.settle(r, 100, 100)
    blocked = e.reserve("qa_test_gen", HAIKU, 100, 100, task_id="ticket-7", loop_step=1)
    assert not blocked.allowed and blocked.reason == LOOP_STEPS
    assert e.task_steps("ticket-7") == 3
    assert e.reserve("qa_test_gen", HAIKU, 100, 100, task_id="ticket-8").allowed  # another task is free
    assert e.reserve("qa_test_gen", HAIKU, 100, 100).allowed  # no task id: nothing to count


# --- 11. money leaves Lua exactly ---------------------------------------------------------------


def test_money_past_100k_dollars_comes_back_exact(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 1000, 500)
    big = 123_456_789_012_345_678  # $123,456,789.012345678: past 2^53 nano-USD too
    enforcer.redis.set(enforcer.keys.org_spent("2026-11"), big)
    enforcer.redis.set(enforcer.keys.wf_spent_month("dev_assistant", "2026-11"), 100_000_000_000_001)
    s = enforcer.settle(r, 1000, 500)
    assert s.org_spent_nano == big + s.cost_nano
    assert s.month_spent_nano == 100_000_000_000_001 + s.cost_nano
    again = enforcer.settle(r, 1000, 500)  # the duplicate answer comes from the stored marker
    assert again.duplicate and again.org_spent_nano == big + s.cost_nano


def test_limits_compare_exactly_past_2_to_the_53_nano(make_config, redis_url, clock):
    cfg = make_config({"org": {"monthly_usd": 10_000_000}})
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    probe = e.reserve("dev_assistant", HAIKU, 1, 1)
    e.release(probe)
    need, limit = probe.held_nano, cfg.org_monthly_nano
    spent = limit - need + 1  # one nano-USD too much
    assert float(spent) + float(need) == float(limit), "doubles cannot tell these apart: the test means something"
    e.redis.set(e.keys.org_spent("2026-11"), spent)
    assert e.reserve("dev_assistant", HAIKU, 1, 1).reason == "total_org_budget_exceeded"
    e.redis.set(e.keys.org_spent("2026-11"), spent - 1)  # exactly at the limit: allowed
    assert e.reserve("dev_assistant", HAIKU, 1, 1).allowed


# --- 12. the month's stats hash: a hash table from a workflow's first settle, fields unchanged -----


def test_the_stats_hash_is_a_hash_table_after_a_workflows_first_settle_with_only_the_settles_fields(enforcer):
    # a small hash is a packed list Redis scans on every HINCRBY (~17 a settle); settle converts it
    enforcer.settle(enforcer.reserve("dev_assistant", HAIKU, 1000, 500, session_id="s1", user_id="ann"), 900, 400)
    key = enforcer.keys.stats("2026-11")
    assert enforcer.redis.object("encoding", key) == b"hashtable"
    fields = stats(enforcer)
    assert all(len(name) < 100 for name in fields)  # the field that converted it is gone
    assert fields["calls|dev_assistant"] == 1 and fields["user_calls|ann"] == 1 and fields["sessions|dev_assistant"] == 1
    enforcer.settle(enforcer.reserve("dev_assistant", HAIKU, 1000, 500, session_id="s1", user_id="ann"), 900, 400)
    assert stats(enforcer) == {**{k: v * 2 for k, v in fields.items()}, "sessions|dev_assistant": 1}


# --- 14. every script refuses a bad argument before its first write -------------------------------


def _script_calls(e: BudgetEnforcer, r: Reservation) -> dict[str, tuple]:
    """Each script with the keys and arguments the ledger would send, and the argument positions to spoil."""
    wf = e.config.workflows[r.workflow_id]
    reserve_args = e._reserve_args(wf, r, e.now())
    settle_keys = [e.keys.holds(), e.keys.hold(r.id), e.keys.result(r.id), e.keys.org_spent(r.month),
                   e.keys.wf_spent_month(r.workflow_id, r.month), e.keys.wf_spent_day(r.workflow_id, r.day),
                   e.keys.session(None), e.keys.stats(r.month), e.keys.events(), e.keys.repo_spent("", r.month)]
    settle_args = [r.id, 1000, 20, e._ms(e.now()), e._retention_ms, r.workflow_id, HAIKU, "", r.day[-2:],
                   10, 10, 0, 0, 0, 0, e._retention_ms, 0, 0, ""]  # no repository, no event fields
    release_keys = [e.keys.holds(), e.keys.hold(r.id), e.keys.result(r.id), e.keys.stats(r.month), e.keys.events()]
    release_args = [r.id, e._ms(e.now()), e._retention_ms, r.workflow_id, e._retention_ms, 0, ""]
    status_keys = [e.keys.holds(), e.keys.events(), e.keys.stats(r.month), e.keys.org_held(r.month)]
    status_args = [e._ms(e.now()), e.keys.p, e._retention_ms, e._retention_ms, "over_hold|dev_assistant"]
    return {
        "reserve": (e._reserve, e._reserve_keys(r), reserve_args),
        "settle": (e._settle, settle_keys, settle_args),
        "release": (e._release, release_keys, release_args),
        "status": (e._status, status_keys, status_args),
    }


BAD = {
    # script: [(argument index, bad value), ...]
    "reserve": [(0, "soon"), (1, 10**15 * 1000), (1, 0), (2, ""), (2, "a b"), (3, -5), (3, 10**16), (4, "1e9"),
                (5, 10**19), (6, "-1"), (7, 2**60), (8, "x"), (9, "no_such_reason"), (10, ""), (11, "acb:{other}:"),
                (12, 0), (13, 10**14), (14, -1), (15, "{not json"), (15, '{"a": 1}'), (16, "2"), (17, "2026-11-1"),
                (18, "Nov"), (19, "x"), (19, -1), (19, "5"), (20, "m" * 300), (21, "-1"), (21, ""), (22, "1e3"),
                (15, "40"), (15, "-1"), (25, ""),  # event fields: more pairs than given; an empty field name
                (23, "not a repo"), (23, "acme/app/x"), (24, "5"), (24, "-1"),  # a bad repository; a cap without one
                (3, "0042"), (13, "034560000000"), (0, "-0")],  # integers Redis would refuse mid-script
    "settle": [(0, ""), (1, -1), (1, 10**16), (2, "x"), (3, "now"), (4, 10**15 * 1000), (5, ""), (6, ""),
               (8, "7"), (9, -3), (10, "1.5"), (11, "x"), (12, -1), (13, 99), (14, "yes"), (15, 0), (16, "[1,"),
               (17, 2), (16, "1"), (18, "acme"),  # one event field pair announced, none given; a bad repository
               (1, "0123"), (4, "034560000000")],  # integers Redis would refuse after the hold was dropped
    "release": [(0, ""), (1, "x"), (2, 0), (3, ""), (4, -1), (5, "nope"), (6, "a b/c"), (2, "0600000")],
    "status": [(0, "later"), (1, "acb:{other}:"), (2, 0), (3, 10**15), (4, "x" * 400)],
}


@pytest.mark.parametrize("script", list(BAD))
def test_a_bad_argument_leaves_every_counter_untouched(enforcer, clock, script):
    held = enforcer.reserve("dev_assistant", HAIKU, 1000, 500, session_id="s1")  # an open hold
    done = enforcer.reserve("ci_cd_review", HAIKU, 1000, 500)
    enforcer.settle(done, 900, 400)
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)  # an expired hold a purge would drop
    fresh = enforcer.reserve("dev_assistant", HAIKU, 10, 10)
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)
    target = {"reserve": replace_id(fresh), "settle": held, "release": held, "status": held}[script]
    run, keys, args = _script_calls(enforcer, target)[script]
    before = keyspace(enforcer)
    for index, value in BAD[script]:
        spoiled = list(args)
        spoiled[index] = value
        with pytest.raises(LedgerArgumentError, match="bad argument"):
            _run(run, keys, spoiled)
        assert keyspace(enforcer) == before, (script, index, value)
    with pytest.raises(LedgerArgumentError, match="KEYS"):
        _run(run, keys[:2] if script == "status" else keys[:-1], args)  # status reads any counters after 3
    assert keyspace(enforcer) == before


def replace_id(r: Reservation) -> Reservation:
    return replace(r, id=r.id + "b")


def test_an_untenable_hold_ttl_fails_before_any_counter_moves(make_config, redis_url, clock):
    # hold_ttl_seconds far past a day used to raise inside reserve.lua after the held counters were raised
    cfg = make_config()
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    object.__setattr__(cfg.ledger, "hold_ttl_seconds", 10**15)
    with pytest.raises(LedgerArgumentError, match="hold TTL"):
        e.reserve("dev_assistant", HAIKU, 100, 100)
    assert e.redis.keys("*") == []


# --- 18. unknown releases; events name the day and month they hit ---------------------------------


def test_releasing_an_unknown_reservation_is_a_reported_no_op(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 100, 100)
    ghost = replace(r, id="never-reserved-here")
    outcome = enforcer.release(ghost, error="timeout")
    assert outcome.status == UNKNOWN_RESERVATION and not outcome
    assert "failed|dev_assistant" not in stats(enforcer)
    assert [ev["type"] for ev in events(enforcer)] == []
    assert enforcer.release(r).status == RELEASED


def test_a_hold_released_after_it_expired_still_counts_its_failure(enforcer, clock):
    r = enforcer.reserve("dev_assistant", HAIKU, 100, 100)
    clock.advance(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)
    enforcer.status_snapshot()  # purged
    assert enforcer.release(r, error="timeout").status == RELEASED
    assert stats(enforcer)["failed|dev_assistant"] == 1


def test_events_name_the_day_and_month_they_were_charged_to(make_config, redis_url):
    clock = Clock(datetime(2026, 11, 30, 23, 59, 50, tzinfo=UTC))
    e = BudgetEnforcer(make_config(timezone="UTC"), redis_url=redis_url, clock=clock)
    r = e.reserve("dev_assistant", HAIKU, 100, 100)
    failed = e.reserve("dev_assistant", HAIKU, 100, 100)
    clock.advance(seconds=20)  # 00:00:10 on December 1st
    s = e.settle(r, 100, 50)
    e.release(failed, error="529")
    blocked = e.reserve("nope", HAIKU, 1, 1)
    by_type = {ev["type"]: ev for ev in events(e)}
    assert (by_type["call"]["day"], by_type["call"]["month"]) == ("2026-11-30", "2026-11")
    assert (by_type["failure"]["day"], by_type["failure"]["month"]) == ("2026-11-30", "2026-11")
    assert (by_type["block"]["day"], by_type["block"]["month"]) == (blocked.day, blocked.month) == ("2026-12-01",
                                                                                                   "2026-12")
    assert int(e.redis.get(e.keys.wf_spent_day("dev_assistant", "2026-11-30"))) == s.cost_nano
    assert stats(e, "2026-11")["day_cost|dev_assistant|30"] == s.cost_nano
    assert datetime.fromtimestamp(int(by_type["call"]["ts_ms"]) / 1000, UTC).day == 1


def test_status_json_carries_the_flags(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 100, 100)
    enforcer.settle(r, 100_000, 10)
    data = json.loads(json.dumps(enforcer.status_snapshot()))
    assert data["org"]["over_hold_calls"] == 1 and data["workflows"]["dev_assistant"]["over_hold_calls"] == 1
    assert data["org"]["usage_missing_calls"] == 0 and data["expired_holds_left"] == 0


# --- the simulator says how many calls went past their hold ---------------------------------------


def test_simulate_shows_the_calls_settled_above_their_hold(tmp_path):
    from click.testing import CliRunner

    from acme_ci_budget.cli import cli

    out = CliRunner().invoke(
        cli, ["simulate", "--month", "2026-11", "--scale", "2", "--days", "4", "--report-dir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    # cache-marked system prompts are held at the cache-write rate: nothing is billed above its hold
    assert "Calls settled above their hold: 0 ($0.0000); replies without usage: 0" in out.output
    assert "Over hold:  0 calls settled $0.0000 above their holds" in (tmp_path / "report.txt").read_text()
