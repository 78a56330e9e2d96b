"""Two Redis round trips per model call (issue 16): reserve decides budget pressure, alerts use the settle's figures.

Every call goes through the real anthropic SDK against the loopback fake API and a real redis-server.
What the client sends is read from the server's own ``MONITOR`` feed (commands run inside a script
are marked ``lua`` there and left out) and from the connection's writes (one per round trip).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest
import redis as redis_lib
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_ci_budget.alerts import AlertManager
from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client import BudgetedClient
from acme_ci_budget.ledger import BudgetEnforcer
from acme_ci_budget.ledger.args import share_threshold
from acme_ci_budget.router import TaskRouter
from tests.clock import Clock
from tests.fakes.anthropic_server import FakeAnthropicServer, ok

START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 10:00 in New York, the config's timezone
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]
SENTINEL = "acb-test-end-of-call"


class CountingConnection(redis_lib.Connection):
    """Counts what goes over the wire: one ``send_packed_command`` per round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def make_client(redis_url: str, server: FakeAnthropicServer, clock: Clock):
    """A client with alerts ON (AlertManager, as the runs and commands hand it in), on a connection that counts
    its round trips."""
    pools: list[redis_lib.ConnectionPool] = []

    def build(config: Any, repo: str | None = None, **kwargs: Any) -> BudgetedClient:
        pool = redis_lib.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
        pools.append(pool)
        enforcer = BudgetEnforcer(config, redis=redis_lib.Redis(connection_pool=pool), clock=clock, repo=repo)
        sdk = anthropic.Anthropic(base_url=server.url, api_key="sk-test", max_retries=0)
        kwargs.setdefault("alerts", AlertManager)
        return BudgetedClient(config, enforcer=enforcer, anthropic_client=sdk, **kwargs)

    yield build
    for pool in pools:
        pool.disconnect()


def sent(redis_url: str, action: Callable[[], Any]) -> tuple[list[list[str]], int, Any]:
    """(the commands the clients sent while ``action`` ran, as the server saw them; round trips; its result)."""
    watcher = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    other = redis_lib.Redis.from_url(redis_url)
    other.ping()  # connected (and its HELLO sent) before the feed starts
    commands: list[list[str]] = []
    with watcher.monitor() as feed:
        CountingConnection.sends = 0
        result = action()
        trips = CountingConnection.sends
        other.echo(SENTINEL)
        for entry in feed.listen():
            if entry["client_type"] == "lua":
                continue  # run inside a script: part of its one round trip
            words = entry["command"].split(" ")
            if words[0].upper() == "ECHO" and SENTINEL in words:
                break
            commands.append(words)
    other.close()
    watcher.close()
    return commands, trips, result


# --- round trips ------------------------------------------------------------------------------------


def test_a_call_is_two_round_trips_reserve_then_settle(make_client, make_config, redis_url, server):
    client = make_client(make_config())
    assert client.alerts is not None  # the real AlertManager: the alert check is part of the call
    server.set_default(ok("x", input_tokens=10, output_tokens=50))
    client.complete("dev_assistant", ASK)  # loads the scripts (SCRIPT LOAD once per process)

    commands, trips, result = sent(redis_url, lambda: client.complete("dev_assistant", ASK))
    assert not result.budget_blocked and result.route_reason == "default"
    names = [(words[0].upper(), words[1]) for words in commands]
    assert names == [("EVALSHA", client.enforcer._reserve.sha), ("EVALSHA", client.enforcer._settle.sha)]
    assert trips == 2
    # The same with a session and a task id (their counters live in the same two scripts).
    commands, trips, _ = sent(redis_url, lambda: client.complete("dev_assistant", ASK, session_id="s1", loop_step=1))
    assert [w[0].upper() for w in commands] == ["EVALSHA", "EVALSHA"] and trips == 2


def test_a_call_downgraded_for_budget_pressure_is_still_two_round_trips(make_client, make_config, redis_url, server):
    # The routine model is the strong role here, so that the cheapest (the Haiku role) differs from it.
    strong = make_config().workflows["dev_assistant"].routing.complex_model
    routing_over = {"budget_pressure_pct": 0.000001, "default_model": strong}
    config = make_config({"workflows": {"dev_assistant": {"routing": routing_over}}})
    client = make_client(config)
    server.set_default(ok("x", input_tokens=10, output_tokens=500))  # $0.002: past 0.0001% of $250
    first = client.complete("dev_assistant", ASK)
    commands, trips, second = sent(redis_url, lambda: client.complete("dev_assistant", ASK))
    routing = config.workflows["dev_assistant"].routing
    assert first.model == routing.default_model and second.model == routing.simple_model  # the cheapest
    assert second.route_reason.startswith("budget pressure: dev_assistant at ")
    assert [w[0].upper() for w in commands] == ["EVALSHA", "EVALSHA"] and trips == 2
    assert [r.json["model"] for r in server.message_requests] == [routing.default_model, routing.simple_model]


def test_a_call_of_a_capped_repository_is_still_two_round_trips(make_client, make_config, redis_url, server):
    client = make_client(make_config({"repos": {"acme/app": {"monthly_usd": 5}}}), repo="acme/app")
    server.set_default(ok("x", input_tokens=10, output_tokens=50))
    client.complete("dev_assistant", ASK)
    commands, trips, result = sent(redis_url, lambda: client.complete("dev_assistant", ASK))
    assert not result.budget_blocked
    assert [w[0].upper() for w in commands] == ["EVALSHA", "EVALSHA"] and trips == 2
    calls = [ev for ev in client.enforcer.events(types=["call"])]
    assert [ev["repo"] for ev in calls] == ["acme/app", "acme/app"]


def test_a_repository_cap_block_is_worded_and_nothing_is_sent(make_client, make_config, server):
    client = make_client(make_config({"repos": {"acme/app": {"monthly_usd": 0.000001}}}), repo="acme/app",
                         alerts=False)
    result = client.complete("dev_assistant", ASK)
    assert result.budget_blocked and result.budget_reason == "repo_limit_exceeded"
    assert result.message.startswith("Blocked: repository acme/app reached its monthly cap $0.00 ($0.0000 spent; ")
    assert server.message_requests == []


def test_the_alert_check_reads_redis_only_when_a_threshold_is_crossed(make_client, make_config, redis_url, server):
    """Below every threshold: nothing. The call that crosses one: a read and one SET NX claim, one alert.
    Past it, already claimed: two round trips again."""
    model = make_config().workflows["dev_assistant"].routing.default_model
    seed = cost_nano(model, 1, 10_000)  # spent before the test's calls
    call = cost_nano(model, 10, 600)  # each call of the test
    limit_usd = math.ceil((seed + call) / 0.81 / 100_000) / 10_000  # in whole 1/10,000 USD
    limit = round(limit_usd * 1e9)
    assert seed < 0.8 * limit <= seed + call and seed + 2 * call < limit  # what the numbers are for
    config = make_config({"workflows": {"dev_assistant": {"daily_usd": limit_usd}}})
    client = make_client(config)
    spent = client.enforcer.reserve("dev_assistant", model, 1, 10_000)
    client.enforcer.settle(spent, 1, 10_000)
    server.set_default(ok("x", input_tokens=10, output_tokens=600))

    commands, trips, crossing = sent(redis_url, lambda: client.complete("dev_assistant", ASK))
    assert crossing.budget["daily"]["spent_nano"] == seed + call
    names = [w[0].upper() for w in commands]
    assert names[:2] == ["EVALSHA", "EVALSHA"] and "SET" in names and trips > 2
    claims = [w for w in commands if w[0].upper() == "SET"]
    assert any(":alert:daily_warn:" in w[1] for w in claims) and all("NX" in [x.upper() for x in w] for w in claims)
    fired = client.enforcer.redis.keys(f"{client.enforcer.keys.p}alert:daily_warn:*")
    assert len(fired) == 1

    commands, trips, steady = sent(redis_url, lambda: client.complete("dev_assistant", ASK))
    assert not steady.budget_blocked and steady.budget["daily"]["spent_nano"] == seed + 2 * call
    assert [w[0].upper() for w in commands] == ["EVALSHA", "EVALSHA"] and trips == 2


# --- budget pressure, decided atomically by the reserve ---------------------------------------------


class MovingRouter(TaskRouter):
    """Runs ``between`` right after routing, as another worker's spend (or an admin reset) would land."""

    between: Callable[[], None] = staticmethod(lambda: None)

    def route(self, *args: Any, **kwargs: Any):
        decision = super().route(*args, **kwargs)
        self.between()
        return decision


def test_counters_that_move_between_routing_and_reserve_decide_the_model(make_client, make_config, clock, server):
    # Routine work on the strong role, so that the cheapest model (the Haiku role) differs from it; a month
    # priced so that nine 15,000-token calls of another worker are 54% of it, and turns that admit them.
    strong = make_config().workflows["dev_assistant"].routing.complex_model
    per_call = cost_nano(strong, 1, 15_000)
    monthly_usd = per_call * 9 / 0.54 / 1e9
    limits = {"monthly_usd": monthly_usd, "daily_usd": monthly_usd, "per_task_tokens": {"soft": 15_001, "hard": 15_001}}
    routing_over = {"budget_pressure_pct": 0.5, "default_model": strong}
    config = make_config({"workflows": {"dev_assistant": {**limits, "routing": routing_over}}})
    routing = config.workflows["dev_assistant"].routing
    assert routing.default_model != routing.simple_model  # a cheaper model to fall to
    share = 9 * per_call / config.workflows["dev_assistant"].monthly_nano
    assert 0.5 <= share < 0.55
    router = MovingRouter(config)
    client = make_client(config, router=router, alerts=False)
    other = BudgetEnforcer(config, redis=client.enforcer.redis, clock=clock)  # another worker, same ledger
    server.set_default(ok("x", input_tokens=10, output_tokens=50))

    def another_worker_spends() -> None:
        res = other.reserve("dev_assistant", routing.default_model, 1, 15_000)
        assert res.allowed and res.max_output_tokens == 15_000, res.reason
        other.settle(res, 1, 15_000)

    # Routed with the month at 0%; by the time of the reserve another worker has spent past 50%.
    router.between = lambda: [another_worker_spends() for _ in range(9)]
    result = client.complete("dev_assistant", ASK)
    assert server.message_requests[-1].json["model"] == routing.simple_model == result.model
    assert result.route_reason.startswith(f"budget pressure: dev_assistant at {share:.1%} ")
    assert result.route_reason.endswith("of its monthly budget (>= 50%); cheapest allowed model")
    events = [{k.decode(): v.decode() for k, v in f.items()} for _i, f in other.redis.xrange(other.keys.events())]
    mine = [e for e in events if e["type"] == "call" and e["reservation"] == result.reservation_id]
    assert mine[0]["model"] == routing.simple_model and mine[0]["route_reason"] == result.route_reason  # logged
    assert int(mine[0]["held_nano"]) == cost_nano(routing.simple_model, 21, 2048)  # the cheaper model was held

    # The other way: routed under pressure, but an admin reset the month before the reserve.
    router.between = lambda: other.reset("dev_assistant", "month")
    result = client.complete("dev_assistant", ASK)
    assert result.model == routing.default_model and result.route_reason == "default"


def test_the_pressure_boundary_is_exact_to_the_nano(make_config, redis_url, clock):
    config = make_config(
        {"workflows": {"dev_assistant": {"monthly_usd": 3, "daily_usd": 3, "routing": {"budget_pressure_pct": 0.7}}}}
    )
    wf = config.workflows["dev_assistant"]
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    at = int(share_threshold(wf.monthly_nano, 0.7))
    assert at / wf.monthly_nano >= 0.7 > (at - 1) / wf.monthly_nano
    _day, month = e.periods()
    for spent, pressured in ((at - 1, False), (at, True)):
        e.redis.set(e.keys.wf_spent_month("dev_assistant", month), spent)
        res = e.reserve("dev_assistant", wf.routing.default_model, 10, 10, pressure_model=wf.routing.simple_model)
        assert res.allowed and (res.pressure == "workflow_month") is pressured
        assert res.model == (wf.routing.simple_model if pressured else wf.routing.default_model)
        expected = cost_nano(res.model, 10, 10)
        assert res.held_nano == expected
        assert int(e.redis.hget(e.keys.hold(res.id), "amount")) == expected
        e.release(res)


def test_org_reserve_boundary_and_no_offer_no_downgrade(make_config, redis_url, clock):
    config = make_config({"org": {"monthly_usd": 1000, "reserve_pct": 0.25}})
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    routing = config.workflows["pm_assistant"].routing
    _day, month = e.periods()
    for spent, pressured in ((750_000_000_000, False), (750_000_000_001, True)):  # past $750: in the reserve
        e.redis.set(e.keys.org_spent(month), spent)
        res = e.reserve("pm_assistant", routing.default_model, 10, 10, pressure_model=routing.simple_model)
        assert (res.pressure == "org_reserve") is pressured and res.model == (
            routing.simple_model if pressured else routing.default_model
        )
        e.release(res)
        plain = e.reserve("pm_assistant", routing.default_model, 10, 10)  # nothing offered: nothing changes
        assert plain.pressure == "" and plain.model == routing.default_model
        e.release(plain)


def test_a_block_under_pressure_names_the_cheaper_model(make_client, make_config, server):
    config = make_config(
        {"workflows": {"dev_assistant": {"daily_usd": 0.000001, "routing": {"budget_pressure_pct": 0}}}}
    )
    client = make_client(config, alerts=False)
    result = client.complete("dev_assistant", ASK)
    cheap = config.workflows["dev_assistant"].routing.simple_model
    assert result.budget_blocked and result.budget_reason == "daily_limit_exceeded"
    assert result.model == cheap and result.route_reason.startswith("budget pressure: dev_assistant at 0.0%")
    assert server.message_requests == []
    raw = client.enforcer.redis.xrange(client.enforcer.keys.events())
    (block,) = [{k.decode(): v.decode() for k, v in f.items()} for _i, f in raw]
    assert block["type"] == "block" and block["model"] == cheap
    assert f"needs up to ${cost_nano(cheap, 21, 2048) / 1e9:.4f}" in result.message


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(min_value=0, max_value=10**16),
    fraction=st.floats(min_value=0, max_value=1, allow_nan=False),
    spent=st.integers(min_value=0, max_value=2 * 10**16),
)
def test_the_share_threshold_agrees_with_the_float_share(limit, fraction, spent):
    at = share_threshold(limit, fraction)
    share = spent / limit if limit else 0.0  # the status read's and the router's share
    assert (at != "" and spent >= int(at)) == (share >= fraction)


# --- alerts from the settle's figures ------------------------------------------------------------------

TEST_MODEL = "acb-test-model"  # one token costs $0.001: $8.50 is 8,500 tokens
PD_KEY = "R0UTINGKEYR0UTINGKEYR0UTINGKEY42"


@pytest.fixture
def alerting(make_config, redis_url, clock):
    import responses

    from acme_ci_budget.alerts.manager import PAGERDUTY_EVENTS_URL, AlertManager

    config = make_config(
        {
            "pricing": {TEST_MODEL: {"input": 1000, "output": 1000}},
            "alerts": {"pagerduty_routing_key": PD_KEY, "min_level": "CRITICAL"},
            "workflows": {"ci_cd_review": {"daily_usd": 10}},  # the tests' figures are shares of a $10 day
        }
    )
    enforcer = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.add(responses.POST, PAGERDUTY_EVENTS_URL, json={"status": "success"}, status=202)
        yield enforcer, AlertManager(config, enforcer=enforcer, sleep=lambda s: None), http


def _spend(enforcer: BudgetEnforcer, workflow: str, tokens: int):
    res = enforcer.reserve(workflow, TEST_MODEL, tokens // 2, tokens - tokens // 2)
    assert res.allowed, res.reason
    return res, enforcer.settle(res, tokens // 2, tokens - tokens // 2)


def _figures(res, settlement) -> dict[str, Any]:
    return {
        "day": res.day,
        "org_spent_nano": settlement.org_spent_nano,
        "month_spent_nano": settlement.month_spent_nano,
        "day_spent_nano": settlement.day_spent_nano,
        "over_hold_nano": settlement.over_hold_nano,
        "open_incidents": res.open_incidents,
        "org_held_nano": settlement.org_held_nano,
        "month_held_nano": settlement.month_held_nano,
        "day_held_nano": settlement.day_held_nano,
    }


PIECE = 15_000  # tokens of one call in the spend below
PIECE_LIMITS = {"soft": PIECE, "hard": PIECE}


@pytest.mark.parametrize(
    ("ci", "dev"),
    [
        (1, 0),
        (7, 0),
        (60, 0),
        (66.66, 0),
        (66.67, 0),
        (159.99, 0),
        (160, 0),
        (200, 0),
        (200, 100),
        (200, 120),
        (200, 121),
        (200, 150),
    ],
)
def test_the_local_evaluation_finds_what_the_full_check_claims(make_config, redis_url, clock, ci, dev):
    """For the figures of one settle, the conditions evaluated locally are exactly those the full check claims:
    daily, monthly and org thresholds, the org reserve and the month-end forecasts (Nov 10: spend x 3)."""
    from acme_ci_budget.alerts import AlertManager
    from acme_ci_budget.budget.forecast import local_date

    small = {"monthly_usd": 25, "daily_usd": 5}
    config = make_config(
        {
            "org": {"monthly_usd": 400, "reserve_pct": 0.2},
            "pricing": {TEST_MODEL: {"input": 1000, "output": 1000}},
            "workflows": {  # per-task limits that admit the 15,000-token pieces the spend is made of
                "ci_cd_review": {"monthly_usd": 200, "daily_usd": 200, "per_task_tokens": PIECE_LIMITS},
                "dev_assistant": {"monthly_usd": 150, "daily_usd": 150, "per_task_tokens": PIECE_LIMITS},
                "qa_test_gen": small,
                "pm_assistant": small,
            },
        }
    )
    enforcer = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    manager = AlertManager(config, enforcer=enforcer, deliver=False)
    for workflow, dollars in (("dev_assistant", dev), ("ci_cd_review", ci)):
        tokens = round(dollars * 1000)
        while tokens > 0:  # the per-task limit caps one call: spend in pieces
            res, settled = _spend(enforcer, workflow, min(tokens, PIECE))
            tokens -= PIECE
    now = clock()
    local = manager._spend_pending(
        "ci_cd_review",
        local_date(now, config.tz),
        now,
        settled.org_spent_nano,
        settled.month_spent_nano,
        settled.day_spent_nano,
        {},
    )
    manager.check("ci_cd_review")
    claimed = {k.decode() for k in enforcer.redis.keys(f"{enforcer.keys.p}alert:*")}
    assert {p.claim_key for p in local} == {k for k in claimed if ":blocked_seen:" not in k}
    assert manager.check_spend("ci_cd_review", **_figures(res, settled)) == []  # all claimed: nothing new


def test_check_spend_fires_what_check_would_and_only_once(alerting, redis_url):
    enforcer, manager, _http = alerting
    res, settled = _spend(enforcer, "ci_cd_review", 7_000)  # $7 of $10 a day: below 80%
    commands, _trips, fired = sent(redis_url, lambda: manager.check_spend("ci_cd_review", **_figures(res, settled)))
    assert fired == [] and commands == []  # nothing sent to Redis
    res, settled = _spend(enforcer, "ci_cd_review", 1_500)  # $8.50: the daily warning
    fired = manager.check_spend("ci_cd_review", **_figures(res, settled))
    assert [(a.condition, a.workflow_id) for a in fired] == [("daily_warn", "ci_cd_review")]
    assert fired[0].message.startswith("CI/CD code review (ci_cd_review): daily spend $8.50 of $10.00 (85%)")
    res, settled = _spend(enforcer, "ci_cd_review", 500)
    commands, _trips, fired = sent(redis_url, lambda: manager.check_spend("ci_cd_review", **_figures(res, settled)))
    assert fired == [] and commands == []
    # Another process (its own manager) claims nothing twice: it reads, finds the claim taken, sends nothing.
    from acme_ci_budget.alerts import AlertManager

    again = AlertManager(manager.config, enforcer=enforcer, sleep=lambda s: None)
    assert again.check_spend("ci_cd_review", **_figures(res, settled)) == []


def test_check_spend_finds_the_one_call_critical_that_holds_in_flight_make(alerting):
    """Below 100%, a day with less than one worst-case call left (spend + other calls' holds) is critical in
    the full check (health.critical_reason); the settle's reply carries those holds, so the per-call check
    finds it too, past a warning it already claimed."""
    from acme_ci_budget.budget.health import worst_call_nano

    enforcer, manager, _http = alerting
    wf = manager.config.workflows["ci_cd_review"]
    margin = worst_call_nano(wf, manager.config.pricing)
    res, settled = _spend(enforcer, "ci_cd_review", 8_500)  # $8.50 of $10: the warning, claimed here
    assert [a.condition for a in manager.check_spend("ci_cd_review", **_figures(res, settled))] == ["daily_warn"]
    in_flight = enforcer.reserve("ci_cd_review", TEST_MODEL, 40, 40)  # another call's $0.08, held
    assert in_flight.allowed
    nano_per_token = 10**6
    tokens = -(-(wf.daily_nano - margin - in_flight.held_nano - settled.day_spent_nano) // nano_per_token) + 1
    res, settled = _spend(enforcer, "ci_cd_review", tokens)
    assert settled.day_held_nano == settled.month_held_nano == settled.org_held_nano == in_flight.held_nano
    left = wf.daily_nano - settled.day_spent_nano
    assert left - in_flight.held_nano < margin <= left  # the hold in flight is what leaves less than one call
    fired = manager.check_spend("ci_cd_review", **_figures(res, settled))
    assert [(a.condition, a.level) for a in fired] == [("daily_critical", "CRITICAL")]
    assert "less than one worst-case call" in fired[0].message
    enforcer.release(in_flight)


def test_a_call_above_its_hold_runs_the_full_check(alerting):
    enforcer, manager, _http = alerting
    res = enforcer.reserve("ci_cd_review", TEST_MODEL, 100, 100)
    settled = enforcer.settle(res, 100, 400)  # billed above the worst case held
    assert settled.over_hold_nano > 0
    fired = manager.check_spend("ci_cd_review", **_figures(res, settled))
    assert [a.condition for a in fired] == ["settled_over_hold"]


def test_stale_incidents_are_resolved_by_the_first_call_of_the_next_day_only(alerting, clock, redis_url):
    from acme_ci_budget.alerts.manager import PAGERDUTY_EVENTS_URL

    enforcer, manager, http = alerting
    res, settled = _spend(enforcer, "ci_cd_review", 10_000)  # 100% of the day: critical, paged
    assert [a.condition for a in manager.check_spend("ci_cd_review", **_figures(res, settled))] == ["daily_critical"]
    assert enforcer.redis.hlen(enforcer.keys.incidents()) == 1
    clock.advance(days=1)
    res, settled = _spend(enforcer, "ci_cd_review", 100)
    assert res.open_incidents == 1  # the reserve read it, in its one round trip
    fired = manager.check_spend("ci_cd_review", **_figures(res, settled))
    assert [a.condition for a in fired] == ["daily_critical_resolved"]
    assert [c.request.url for c in http.calls].count(PAGERDUTY_EVENTS_URL) == 2  # trigger, resolve
    res, settled = _spend(enforcer, "ci_cd_review", 100)
    assert res.open_incidents == 0
    commands, _trips, fired = sent(redis_url, lambda: manager.check_spend("ci_cd_review", **_figures(res, settled)))
    assert fired == [] and commands == []


def test_below_the_quiet_floors_no_spend_condition_holds(make_config):
    """check_spend's shortcut: under each floor ``_spend_pending`` is empty; at a floor something holds."""
    from datetime import date

    from acme_ci_budget.alerts import AlertManager

    config = make_config({"org": {"reserve_pct": 0.3}, "alerts": {"warn_pct": 0.7, "critical_pct": 0.95}})
    manager = AlertManager(config, redis_url="redis://127.0.0.1:1/0", deliver=False)  # never connects here
    wf = config.workflows["pm_assistant"]

    @settings(max_examples=400, deadline=None)
    @given(
        day=st.integers(min_value=1, max_value=30),
        d=st.integers(min_value=0, max_value=wf.daily_nano * 2),
        m=st.integers(min_value=0, max_value=wf.monthly_nano * 2),
        org=st.integers(min_value=0, max_value=config.org_monthly_nano * 2),
    )
    def check(day, d, m, org):
        today = date(2026, 11, day)
        now = datetime(2026, 11, day, 17, tzinfo=UTC)
        d_floor, m_floor, org_floor = manager._quiet_floors("pm_assistant", today)
        found = manager._spend_pending("pm_assistant", today, now, org, m, d, {})
        if d < d_floor and m < m_floor and org < org_floor:
            assert found == []
        for figures in ((d_floor, 0, 0), (0, m_floor, 0), (0, 0, org_floor)):
            assert manager._spend_pending("pm_assistant", today, now, figures[2], figures[1], figures[0], {})

    check()
