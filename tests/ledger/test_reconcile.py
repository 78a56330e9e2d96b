"""Reconcile's ledger side (ledger/reconcile.py, lua/adjust.lua) on a real redis-server, standalone and cluster:
adjustments are idempotent, charged where they should be, and the ledger still equals the sum of its events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acme_ci_budget.budget.reconcile import TOKEN_TYPES, Adjustment, drift_from_stats, ledger_cells
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.ledger.errors import LedgerArgumentError
from acme_ci_budget.ledger.reconcile import (
    adjustment_id,
    record_adjustments,
    record_result,
    recorded_adjustments,
    spend_events,
)
from tests.clock import Clock

DAY = "2026-10-14"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def enforcer(ledger_backend, default_config):
    return BudgetEnforcer(default_config, redis_url=ledger_backend, clock=Clock(at(2026, 11, 2, 8)))


def model(config, tier="default_model") -> str:
    return getattr(config.workflows["ci_cd_review"].routing, tier)


def adj(nano, mdl, day=DAY, workflow=None, **tokens) -> Adjustment:
    return Adjustment(day, mdl, nano, {**dict.fromkeys(TOKEN_TYPES, 0), **tokens}, workflow)


def spend_state(e: BudgetEnforcer, month: str, wf: str) -> tuple:
    r, k = e.redis, e.keys
    return (
        r.get(k.org_spent(month)),
        r.get(k.wf_spent_month(wf, month)),
        r.get(k.wf_spent_day(wf, DAY)),
        sorted(r.hgetall(k.stats(month)).items()),
        r.xlen(k.events()),
    )


def assert_ledger_equals_events(e: BudgetEnforcer, month: str) -> None:
    spent = [ev for ev in e.events() if ev["type"] in ("call", "adjustment") and ev.get("month") == month]
    assert int(e.redis.get(e.keys.org_spent(month)) or 0) == sum(ev["cost_nano"] for ev in spent)


def test_adjustments_are_written_once_and_the_ledger_still_equals_its_events(enforcer, default_config):
    haiku, sonnet = model(default_config), model(default_config, "complex_model")
    enforcer.clock.at(at(2026, 10, 14, 9))
    assert enforcer.check_and_record("ci_cd_review", haiku, 1000, 100)["allowed"]
    enforcer.clock.at(at(2026, 11, 2, 8))
    todo = [adj(1_500_000, haiku, **{"output_tokens": 40}), adj(-300_000, sonnet, workflow="ci_cd_review")]
    first = record_adjustments(enforcer, "2026-10", todo)
    assert [r.written for r in first] == [True, True]
    assert first[0].id == adjustment_id("2026-10", DAY, haiku) == f"2026-10|{DAY}|{haiku}"
    assert_ledger_equals_events(enforcer, "2026-10")
    # the org-only adjustment is the one gap between the org's month and the sum of its workflows'
    k, r = enforcer.keys, enforcer.redis
    stats = {a.decode(): int(b) for a, b in r.hgetall(k.stats("2026-10")).items()}
    workflows = sum(int(r.get(k.wf_spent_month(w, "2026-10")) or 0) for w in default_config.workflows)
    unassigned = stats["adjust_nano|org"] - sum(
        v for f, v in stats.items() if f.startswith("adjust_nano|") and f != "adjust_nano|org"
    )
    assert int(r.get(k.org_spent("2026-10"))) == workflows + unassigned == workflows + 1_500_000
    before = spend_state(enforcer, "2026-10", "ci_cd_review")

    again = record_adjustments(enforcer, "2026-10", [adj(9_999, haiku), adj(-300_000, sonnet, workflow="ci_cd_review")])
    assert [(r.written, r.nano) for r in again] == [(False, 1_500_000), (False, -300_000)]
    assert spend_state(enforcer, "2026-10", "ci_cd_review") == before  # a second run changes nothing
    assert recorded_adjustments(enforcer) == {first[0].id: 1_500_000, first[1].id: -300_000}


def test_an_adjustment_charges_the_org_and_its_workflow_on_the_utc_day_it_corrects(enforcer, default_config):
    haiku = model(default_config)
    k, r = enforcer.keys, enforcer.redis
    record_adjustments(
        enforcer, "2026-10", [adj(2_000, haiku), adj(5_000, haiku, day="2026-10-15", workflow="ci_cd_review")]
    )
    assert int(r.get(k.org_spent("2026-10"))) == 7_000
    assert int(r.get(k.wf_spent_month("ci_cd_review", "2026-10"))) == 5_000
    assert int(r.get(k.wf_spent_day("ci_cd_review", "2026-10-15"))) == 5_000
    stats = {a.decode(): int(b) for a, b in r.hgetall(k.stats("2026-10")).items()}
    assert stats["adjust_nano|org"] == 7_000 and stats["adjust_count|org"] == 2
    assert stats["cost|ci_cd_review"] == 5_000 and stats["day_cost|ci_cd_review|15"] == 5_000
    # the event sits at noon of its UTC day, so a reconcile of that day counts it (recorded_ms says when)
    events = list(spend_events(enforcer, ms(at(2026, 10, 15)), ms(at(2026, 10, 16))))
    assert [(e["type"], e["cost_nano"], e.get("workflow")) for e in events] == [("adjustment", 5_000, "ci_cd_review")]
    assert events[0]["ts_ms"] == ms(at(2026, 10, 15, 12)) and events[0]["reason"] == "reconcile"
    assert ledger_cells(events)[("2026-10-15", haiku)].adjusted_nano == 5_000


def test_adjustment_tokens_are_recorded_as_the_events_counts(enforcer, default_config):
    haiku = model(default_config)
    tokens = {
        "uncached_input_tokens": -7,
        "cache_creation.ephemeral_5m_input_tokens": 3,
        "cache_creation.ephemeral_1h_input_tokens": 2,
        "output_tokens": 11,
    }
    record_adjustments(enforcer, "p", [adj(1, haiku, **tokens)])
    (event,) = enforcer.events(types=["adjustment"])
    assert (
        event["input_tokens"],
        event["cache_creation_input_tokens"],
        event["cache_creation_1h_input_tokens"],
        event["output_tokens"],
    ) == (-7, 5, 2, 11)
    assert ledger_cells([event])[(DAY, haiku)].tokens == {**dict.fromkeys(TOKEN_TYPES, 0), **tokens}


def test_a_bad_amount_writes_nothing(enforcer, default_config):
    with pytest.raises(LedgerArgumentError, match="amount"):
        record_adjustments(enforcer, "p", [adj(10**16, model(default_config))])
    assert enforcer.redis.xlen(enforcer.keys.events()) == 0
    assert recorded_adjustments(enforcer) == {}


def test_the_months_figure_is_kept_in_its_stats_for_the_report(enforcer):
    record_result(enforcer, "2026-10", 1_020, 1_000)
    figure = drift_from_stats(enforcer.month_figures("2026-10").stats)
    assert (figure.ledger_nano, figure.provider_nano, figure.drift_text) == (1_020, 1_000, "+2.00%")
    assert figure.at_ms == ms(at(2026, 11, 2, 8))
