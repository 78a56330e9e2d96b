"""Reconcile end to end below the CLI: the real ledger on redis-server, the real client, the fake Admin API.

Each case builds the same usage twice: as calls the ledger settles (reserve + settle, the money path) and
as the rows the provider reports; then it changes one side and checks what reconcile says about it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from acme_ci_budget.budget.reconcile import drift_from_stats
from acme_ci_budget.catalog.pricing import price_for
from acme_ci_budget.integrations.anthropic_admin import AdminAPIError, AdminClient
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.runs.reconcile import Period, render, resolve_period, run_reconcile
from tests.clock import Clock
from tests.fakes.anthropic_admin import ADMIN_KEY, FakeAdminAPI, UsageRow, malformed, prices_from, rate_limited

OCTOBER = Period("2026-10", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), "2026-10")
WF = "ci_cd_review"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class World:
    """One ledger and one fake provider that see the same calls unless a test says otherwise."""

    def __init__(self, config, redis_url: str, fake: FakeAdminAPI) -> None:
        self.config, self.fake = config, fake
        self.clock = Clock(at(2026, 11, 2, 7))
        self.enforcer = BudgetEnforcer(config, redis_url=redis_url, clock=self.clock)
        self.redis_url = redis_url
        self.waits: list[float] = []

    def model(self, tier: str = "default_model") -> str:
        return getattr(self.config.workflows[WF].routing, tier)

    def call(self, when, model, uncached, output, cw5=0, cw1=0, cr=0, *, ledger=True, provider=True, key="apikey_ci"):
        if ledger:
            self.clock.at(when)
            res = self.enforcer.reserve(
                WF, model, uncached + cw5 + cw1 + cr, output, cache_write_tokens=cw5, cache_write_1h_tokens=cw1
            )
            assert res.allowed, res.reason
            self.enforcer.settle(res, uncached, output, cw5 + cw1, cr, cache_creation_1h_input_tokens=cw1)
        if provider:
            self.fake.add(UsageRow(when, model, uncached, output, cw5, cw1, cr, api_key_id=key))

    def run(self, period=OCTOBER, tolerance="1", record=False, **client_kw):
        self.clock.at(at(2026, 11, 2, 7))
        client = AdminClient(ADMIN_KEY, self.fake.url, sleep=self.waits.append, **client_kw)
        return run_reconcile(
            self.config,
            period,
            tolerance_pct=Decimal(tolerance),
            record_adjustments=record,
            redis_url=self.redis_url,
            client=client,
            clock=self.clock,
        )


@pytest.fixture
def world(redis_url, default_config):
    models = {
        getattr(wf.routing, t)
        for wf in default_config.workflows.values()
        for t in ("default_model", "complex_model", "simple_model")
        if getattr(wf.routing, t)
    }
    prices = prices_from(lambda m: price_for(m, default_config.pricing).tier_for(0), models)
    with FakeAdminAPI([], prices) as fake:
        yield World(default_config, redis_url, fake)


def month(world):
    haiku, sonnet = world.model(), world.model("complex_model")
    world.call(at(2026, 10, 3, 9), haiku, 2800, 500, cw5=1200, cr=4000)
    world.call(at(2026, 10, 3, 15), sonnet, 1000, 900, cw1=2048)
    world.call(at(2026, 10, 20, 11), haiku, 3100, 700)
    return haiku, sonnet


def test_a_perfect_match(world):
    month(world)
    run = world.run()
    r = run.result
    assert [x.status for x in r.rows] == ["match", "match", "match"]
    assert r.within_tolerance and r.provider_nano > 0
    assert abs(r.drift_nano) <= len(r.rows)  # the ledger rounds each call to the nano, the bill each day
    assert r.rows[0].ledger_tokens == r.rows[0].provider_tokens
    assert run.requests == 2  # 31 days: one page of each report
    figure = drift_from_stats(world.enforcer.month_figures("2026-10").stats)
    assert figure.ledger_nano == r.ledger_nano and figure.provider_nano == r.provider_nano


def test_a_drift_on_one_day_and_model(world):
    haiku, _ = month(world)
    world.call(at(2026, 10, 20, 13), haiku, 50_000, 4_000, ledger=False)  # billed, the ledger missed it
    r = world.run().result
    assert [(x.day, x.model, x.status) for x in r.rows if x.status != "match"] == [("2026-10-20", haiku, "drift")]
    assert not r.within_tolerance and r.drift_nano < 0
    assert r.rows[-1].provider_tokens["uncached_input_tokens"] == 53_100


def test_provider_only_usage_is_unattributed_or_outside_the_budget(world, make_config):
    month(world)
    world.call(at(2026, 10, 9, 10), world.model(), 10_000, 1_000, ledger=False, key=None)  # the console
    r = world.run().result
    (row,) = r.by_status("provider_only")
    assert row.day == "2026-10-09" and row.ledger_nano == 0 and row.provider_nano > 0
    # with the product's keys named, the console's usage is outside the budget, not a row
    world.config = make_config(reconcile={"api_key_ids": ["apikey_ci"]})
    scoped = world.run()
    assert scoped.result.within_tolerance and scoped.result.outside_nano == row.provider_nano
    assert "apikey_ci" in scoped.scope and "outside the budget" in render(scoped, "text")


def test_ledger_only_usage_is_a_red_flag(world):
    month(world)
    world.call(at(2026, 10, 25, 10), world.model(), 900, 90, provider=False)
    run = world.run(record=True)
    (row,) = run.result.by_status("ledger_only")
    assert row.day == "2026-10-25" and row.provider_nano == 0
    assert run.recorded == ()  # never written off automatically
    assert "RED FLAG" in render(run, "text")


def test_a_timezone_day_that_straddles_two_utc_days(world, make_config, redis_url):
    world.config = make_config(timezone="America/Los_Angeles")
    world.enforcer = BudgetEnforcer(world.config, redis_url=redis_url, clock=world.clock)
    haiku = world.model()
    world.call(at(2026, 10, 14, 23, 30), haiku, 1000, 100)  # 16:30 in Los Angeles, Oct 14
    world.call(at(2026, 10, 15, 0, 30), haiku, 2000, 200)  # 17:30 in Los Angeles, still Oct 14
    assert {e["day"] for e in world.enforcer.events(types=["call"])} == {"2026-10-14"}
    r = world.run().result
    assert [(x.day, x.status) for x in r.rows] == [("2026-10-14", "match"), ("2026-10-15", "match")]
    assert [x.provider_tokens["uncached_input_tokens"] for x in r.rows] == [1000, 2000]


def test_recorded_adjustments_make_the_ledger_agree_and_a_second_run_changes_nothing(world, make_config):
    haiku, _ = month(world)
    world.call(at(2026, 10, 20, 13), haiku, 50_000, 4_000, ledger=False)
    world.config = make_config(reconcile={"api_key_ids": ["apikey_ci"], "key_workflows": {"apikey_ci": WF}})
    first = world.run(record=True)
    (adjusted,) = first.recorded
    assert adjusted.written and adjusted.workflow == WF and adjusted.nano == -first.result.drift_nano
    wf_month = world.enforcer.redis.get(world.enforcer.keys.wf_spent_month(WF, "2026-10"))
    second = world.run(record=True)
    assert second.result.within_tolerance and second.recorded == ()
    assert second.result.adjusted_nano == adjusted.nano and abs(second.result.drift_nano) <= 3
    assert world.enforcer.redis.get(world.enforcer.keys.wf_spent_month(WF, "2026-10")) == wf_month
    text = render(second, "text")
    assert "adjustments already in the ledger" in text


def test_401_429_and_a_malformed_page(world):
    month(world)
    world.fake.enqueue(rate_limited("2"))
    assert world.run().result.within_tolerance and world.waits == [2.0]
    world.fake.enqueue(malformed())
    with pytest.raises(AdminAPIError, match="malformed usage report page 1"):
        world.run()
    world.enforcer.redis.delete(world.enforcer.keys.stats("2026-10"))
    with pytest.raises(AdminAPIError, match="refused the admin key"):
        run_reconcile(
            world.config,
            OCTOBER,
            tolerance_pct=Decimal(1),
            redis_url=world.redis_url,
            client=AdminClient("sk-ant-admin01-wrong", world.fake.url),
        )
    assert drift_from_stats(world.enforcer.month_figures("2026-10").stats) is None  # nothing written


def test_periods():
    now = at(2026, 11, 2, 7)
    assert resolve_period(None, None, None, now) == OCTOBER
    current = resolve_period("current", None, None, now)
    assert (current.since, current.until) == (at(2026, 11, 1), at(2026, 11, 2))
    span = resolve_period(None, "2026-10-30", "2026-11-02", now)
    assert (span.label, span.month) == ("2026-10-30..2026-11-02", None)
    for args, message in [
        (("2026-13", None, None), "--month"),
        ((None, "2026-10-01", None), "--until"),
        ((None, "2026-10-05", "2026-10-01"), "must be after"),
        ((None, "yesterday", "2026-10-01"), "--since"),
        (("2026-10", "2026-10-01", "2026-10-02"), "not both"),
        (("2026-12", None, None), "no complete UTC day"),
    ]:
        with pytest.raises(ValueError, match=message):
            resolve_period(*args, now)


def test_an_adjustment_charges_a_workflow_only_when_all_its_usage_is_that_workflows_keys(world, make_config):
    haiku, _ = month(world)
    world.call(at(2026, 10, 20, 13), haiku, 50_000, 4_000, ledger=False)  # the product's key
    world.call(at(2026, 10, 3, 13), haiku, 50_000, 4_000, ledger=False, key=None)  # the console, same model
    world.config = make_config(reconcile={"key_workflows": {"apikey_ci": WF}})  # no key filter: whole org
    by_day = {r.adjustment.day: r.workflow for r in world.run(record=True).recorded}
    assert by_day == {"2026-10-20": WF, "2026-10-03": None}
