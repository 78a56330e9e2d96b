"""Per-repository attribution in the ledger: every event names its repository, the repository's month
counters move with the org's, and a ``repos:`` cap is enforced by the same reserve script.

Runs on both backends (``ledger_backend``): the repository's keys carry the namespace's hash tag, so the
scripts touch one cluster slot with them too.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.ledger.agent_runs import RunUsage
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, LedgerArgumentError, _run
from acme_ci_budget.ledger.journal import entry_for
from acme_ci_budget.ledger.results import REPO_MONTHLY, evolve
from tests.roles import CHEAP

APP, WEB = "acme/app", "acme/web"
MONTH = "2026-11"


@pytest.fixture
def capped(make_config):
    """A config whose only binding limit is acme/app's cap: room for exactly two 1000-in/1000-out cheap calls."""
    two_calls = 2 * cost_nano(CHEAP, 1000, 1000)
    return make_config({"repos": {APP: {"monthly_usd": two_calls / 1e9}}})


def _events(e: BudgetEnforcer) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _i, f in e.redis.xrange(e.keys.events())]


def _int(e: BudgetEnforcer, key: str) -> int:
    return int(e.redis.get(key) or 0)


def _repo_spent_equals_its_events(e: BudgetEnforcer, repo: str) -> None:
    calls = [ev for ev in _events(e) if ev["type"] == "call" and ev["repo"] == repo]
    assert _int(e, e.keys.repo_spent(repo, MONTH)) == sum(int(ev["cost_nano"]) for ev in calls)


def test_every_event_names_its_repository_and_an_empty_one_when_none_is_known(
    make_config, ledger_backend, clock, monkeypatch
):
    cfg = make_config({"ledger": {"hold_ttl_seconds": 60}})
    none = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    monkeypatch.setenv("GITHUB_REPOSITORY", WEB)
    from_env = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    given = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock, repo=APP)  # wins over the variable
    assert (none.repo, from_env.repo, given.repo) == ("", WEB, APP)

    none.settle(none.reserve("ci_cd_review", CHEAP, 100, 100), 100, 50)  # call, no repository
    from_env.release(from_env.reserve("ci_cd_review", CHEAP, 100, 100), error="529")  # failure
    given.reserve("ci_cd_review", CHEAP, 10**7, 100)  # block (per-task tokens)
    given.reserve("ci_cd_review", CHEAP, 100, 100)  # a hold its worker never settles ...
    clock.advance(seconds=61)
    given.status_snapshot()  # ... purged: hold_expired
    by_type = {ev["type"]: ev for ev in _events(none)}
    assert set(by_type) == {"call", "failure", "block", "hold_expired"}
    assert by_type["call"]["repo"] == ""
    assert by_type["failure"]["repo"] == WEB
    assert by_type["block"]["repo"] == APP
    assert by_type["hold_expired"]["repo"] == APP


def test_a_repository_cap_blocks_with_its_own_reason_and_other_repositories_go_on(capped, ledger_backend, clock):
    app = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    web = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=WEB)
    none = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock)
    first, second = (app.reserve("ci_cd_review", CHEAP, 1000, 1000) for _ in range(2))
    assert first.allowed and second.allowed  # exactly at the cap: spent + held + this == cap is allowed
    assert first.headroom["repo_remaining_nano"] == cost_nano(CHEAP, 1000, 1000)
    third = app.reserve("ci_cd_review", CHEAP, 1000, 1000)
    assert (third.allowed, third.reason) == (False, REPO_MONTHLY)
    assert web.reserve("ci_cd_review", CHEAP, 1000, 1000).allowed  # no cap for acme/web
    assert none.reserve("ci_cd_review", CHEAP, 1000, 1000).allowed  # nor for calls of no repository

    stats = {k.decode(): int(v) for k, v in app.redis.hgetall(app.keys.stats(MONTH)).items()}
    assert stats[f"blocked|ci_cd_review|{REPO_MONTHLY}"] == 1
    assert stats[f"repo_blocked|{APP}|{REPO_MONTHLY}"] == 1
    (block,) = [ev for ev in _events(app) if ev["type"] == "block"]
    assert (block["repo"], block["reason"]) == (APP, REPO_MONTHLY)

    # a settle below the hold frees the difference: the repository has room again
    app.settle(first, 1000, 10)
    assert app.reserve("ci_cd_review", CHEAP, 100, 100).allowed


def test_settle_release_and_purge_move_the_repository_counters(capped, ledger_backend, clock):
    app = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    held_key, spent_key = app.keys.repo_held(APP, MONTH), app.keys.repo_spent(APP, MONTH)
    a = app.reserve("ci_cd_review", CHEAP, 1000, 1000)
    b = app.reserve("ci_cd_review", CHEAP, 1000, 1000)
    assert _int(app, held_key) == a.held_nano + b.held_nano
    hold = {k.decode(): v.decode() for k, v in app.redis.hgetall(app.keys.hold(a.id)).items()}
    assert (hold["repo"], hold["repo_held"]) == (APP, held_key)  # the hold knows which counters to give back

    settled = app.settle(a, 1000, 400)
    assert _int(app, spent_key) == settled.cost_nano
    assert _int(app, held_key) == b.held_nano
    app.release(b, error="529")
    assert _int(app, held_key) == 0
    _repo_spent_equals_its_events(app, APP)

    # a crashed worker: its hold is purged past the TTL and gives the repository its held money back
    c = app.reserve("ci_cd_review", CHEAP, 1000, 1000)
    assert _int(app, held_key) == c.held_nano
    clock.advance(seconds=app.config.ledger.hold_ttl_seconds + 1)
    app.status_snapshot()
    assert _int(app, held_key) == 0
    # ... and its late settle is still spent money, charged to the repository (and flagged as over its hold)
    late = app.settle(c, 1000, 1000)
    assert not late.hold_found
    assert _int(app, spent_key) == settled.cost_nano + late.cost_nano
    _repo_spent_equals_its_events(app, APP)
    stats = {k.decode(): int(v) for k, v in app.redis.hgetall(app.keys.stats(MONTH)).items()}
    assert stats[f"repo_calls|{APP}"] == 2
    assert stats[f"repo_cost|{APP}"] == settled.cost_nano + late.cost_nano


def test_a_journaled_call_replays_to_its_repository(capped, ledger_backend, clock):
    app = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    res = app.reserve("ci_cd_review", CHEAP, 1000, 1000)
    app.release(res)
    entry = entry_for(res, app.config.namespace, app.ledger_id, CHEAP, (1000, 10, 0, 0, 0), 123)
    assert entry.repo == APP
    other = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=WEB)
    other.record_journaled(evolve_entry(entry))
    assert _int(app, app.keys.repo_spent(APP, MONTH)) > 0
    assert _int(app, app.keys.repo_spent(WEB, MONTH)) == 0
    _repo_spent_equals_its_events(app, APP)


def evolve_entry(entry):
    """The journaled call under a fresh id (its first reservation was released, so settle would be a dup)."""
    return replace(entry, reservation="journaled-" + entry.reservation[:8])


def test_events_filter_by_repository(make_config, ledger_backend, clock):
    cfg = make_config()
    for repo in (APP, WEB, None):
        e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock, repo=repo)
        e.settle(e.reserve("ci_cd_review", CHEAP, 100, 100), 100, 10)
    assert [ev["repo"] for ev in e.events(repo=APP)] == [APP]
    assert [ev["repo"] for ev in e.events(repo="")] == [""]
    assert len(list(e.events())) == 3


def test_a_malformed_repository_is_refused_before_anything_is_written(capped, ledger_backend, clock, monkeypatch):
    with pytest.raises(UsageError, match="repo 'not a repo': expected OWNER/NAME"):
        BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo="not a repo")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme")
    with pytest.raises(UsageError, match="GITHUB_REPOSITORY 'acme'"):
        BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock)
    monkeypatch.delenv("GITHUB_REPOSITORY")
    # the script checks the name again (a caller past the Python check): refused, nothing written
    e = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    draft, wf = e._reserve_draft(clock(), "ci_cd_review", CHEAP, 10, 10, None, None, None, None, 0, 0, None)
    bad = evolve(draft, repo="acme/app:x")
    with pytest.raises(LedgerArgumentError, match="bad argument repository"):
        _run(e._reserve, e._reserve_keys(bad), e._reserve_args(wf, bad, clock()))
    assert e.redis.xlen(e.keys.events()) == 0
    assert e.open_holds() == 0


def test_a_whole_month_reset_frees_the_capped_repositories_too(capped, ledger_backend, clock):
    app = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    for _ in range(2):
        app.settle(app.reserve("ci_cd_review", CHEAP, 1000, 1000), 1000, 1000)
    assert app.reserve("ci_cd_review", CHEAP, 1000, 1000).reason == REPO_MONTHLY
    app.reset("ci_cd_review", "month")  # one workflow's month: the repository's cap still stands
    assert app.reserve("ci_cd_review", CHEAP, 1000, 1000).reason == REPO_MONTHLY
    result = app.reset(None, "month")
    assert result.org_after == 0 and _int(app, app.keys.repo_spent(APP, MONTH)) == 0
    assert app.reserve("ci_cd_review", CHEAP, 1000, 1000).allowed


# --- agent runs (reserve_run.lua / settle_run.lua): the same attribution and cap ----------------------


def test_an_agent_run_is_held_within_the_repository_cap_and_settled_to_it(make_config, ledger_backend, clock):
    config = make_config({"repos": {APP: {"monthly_usd": 0.5}}})
    app = BudgetEnforcer(config, redis_url=ledger_backend, clock=clock, repo=APP)
    held_key, spent_key = app.keys.repo_held(APP, MONTH), app.keys.repo_spent(APP, MONTH)
    run = app.reserve_run("ci_cd_review", 2_000_000_000, 600)  # asks for $2: cut to the repository's $0.50
    assert run.allowed and run.held_nano == 500_000_000 and run.repo == APP
    assert _int(app, held_key) == 500_000_000
    refused = app.reserve_run("ci_cd_review", 2_000_000_000, 600)  # no room left under the cap
    assert (refused.allowed, refused.reason) == (False, REPO_MONTHLY)

    # another process (the action's settle step) finds the run, and its repository, from its id
    other = BudgetEnforcer(config, redis_url=ledger_backend, clock=clock)
    found = other.load_run(run.id)
    assert found.repo == APP
    haiku = config.workflows["dev_assistant"].routing.default_model
    done = other.settle_run(found, [RunUsage(haiku, 1_000, 200, 0, 0)])
    assert _int(app, held_key) == 0
    assert _int(app, spent_key) == done.cost_nano
    _repo_spent_equals_its_events(app, APP)
    kinds = {(ev["type"], ev["repo"]) for ev in _events(app)}
    assert kinds == {("block", APP), ("call", APP)}
    stats = app.month_stats(MONTH)
    assert stats[f"repo_calls|{APP}"] == 1 and stats[f"repo_blocked|{APP}|{REPO_MONTHLY}"] == 1


def test_an_agent_runs_hold_is_given_back_to_the_repository_when_it_expires(capped, ledger_backend, clock):
    app = BudgetEnforcer(capped, redis_url=ledger_backend, clock=clock, repo=APP)
    run = app.reserve_run("ci_cd_review", 1_000_000, 60, minimum_nano=1)
    assert run.allowed and _int(app, app.keys.repo_held(APP, MONTH)) == run.held_nano
    clock.advance(seconds=61)
    app.status_snapshot()
    assert _int(app, app.keys.repo_held(APP, MONTH)) == 0
    (expired,) = [ev for ev in _events(app) if ev["type"] == "hold_expired"]
    assert expired["repo"] == APP
