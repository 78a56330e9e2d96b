"""ledger/scripts.py: the spare connection the per-call scripts run on, against a real redis-server.

What the spare must keep of redis-py's own path: a connection the server closed while idle is
reconnected before anything is sent; an error reply leaves it in step; a forked child and other
threads never share it; a failed read closes it; and the pool still owns it.
"""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest
import redis

from acme_ci_budget.ledger import scripts
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.ledger.errors import LedgerArgumentError, LedgerUnavailable


@pytest.fixture
def enforcer(redis_url, default_config, clock) -> BudgetEnforcer:  # standalone only: the spare is redis.Redis's
    return BudgetEnforcer(default_config, redis_url=redis_url, clock=clock)


def cheap(e: BudgetEnforcer) -> str:
    return e.config.workflows["dev_assistant"].routing.default_model


def call(e: BudgetEnforcer, tokens: int = 1000) -> int:
    r = e.reserve("dev_assistant", cheap(e), tokens, 500)
    assert r.allowed, r.reason
    return e.settle(r, tokens, 500).cost_nano


def spent(e: BudgetEnforcer) -> int:
    return int(e.redis.get(e.keys.org_spent("2026-11")) or 0)


def checkouts(e: BudgetEnforcer, monkeypatch) -> list[int]:
    counted: list[int] = []
    pool = e.redis.connection_pool
    original = pool.get_connection

    def counting(*args, **kwargs):
        counted.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", counting)
    return counted


def test_the_calls_run_on_one_spare_connection_without_pool_checkouts(enforcer, monkeypatch):
    first = call(enforcer)
    spare = scripts._spare[enforcer.redis.connection_pool]
    counted = checkouts(enforcer, monkeypatch)
    total = sum(call(enforcer) for _ in range(20))
    assert counted == []  # 40 scripts, no checkout
    assert scripts._spare[enforcer.redis.connection_pool] is spare
    assert spent(enforcer) == first + total
    enforcer.redis.connection_pool.disconnect()  # the pool still owns it: it is closed with the others
    assert spare._sock is None


def test_a_spare_the_server_closed_while_idle_is_reconnected_before_sending(enforcer):
    before = call(enforcer)
    spare = scripts._spare[enforcer.redis.connection_pool]
    admin = redis.Redis.from_url(enforcer.redis_url)
    spare.send_command("CLIENT", "ID")
    mine = int(spare.read_response())
    assert admin.client_kill_filter(_id=mine) == 1  # as a server `timeout` or a proxy would
    after = call(enforcer)  # no ConnectionError: the poll saw the close before anything was sent
    assert spent(enforcer) == before + after
    assert enforcer.open_holds() == 0


def test_an_error_reply_leaves_the_spare_in_step(enforcer):
    call(enforcer)
    spare = scripts._spare[enforcer.redis.connection_pool]
    keys = enforcer._reserve_keys(enforcer.reserve("dev_assistant", cheap(enforcer), 10, 10))
    with pytest.raises(LedgerArgumentError, match="bad argument"):
        scripts.run_script(enforcer._reserve, keys, ["not-a-time"])
    assert scripts._spare[enforcer.redis.connection_pool] is spare
    first = call(enforcer, 1000)
    second = call(enforcer, 2000)
    assert first < second  # each reply is its own call's: nothing read out of turn


def checked_calls(e: BudgetEnforcer, n: int) -> int:
    """n calls, each settle's reply checked to be its own reserve's (a shared socket crosses them)."""
    total = 0
    for i in range(n):
        r = e.reserve("dev_assistant", cheap(e), 1000 + i, 500)
        s = e.settle(r, 1000 + i, 500)
        assert s.reservation_id == r.id
        total += s.cost_nano
    return total


def test_a_forked_child_never_uses_the_parents_spare(enforcer):
    parent_first = call(enforcer)
    spare = scripts._spare[enforcer.redis.connection_pool]
    ctx = mp.get_context("fork")
    out, go = ctx.Queue(), ctx.Event()

    def in_child() -> None:  # the same enforcer object, inherited by the fork, busy while the parent is
        go.wait(10)
        try:
            out.put(checked_calls(enforcer, 40))
        except BaseException as exc:
            out.put(repr(exc))

    child = ctx.Process(target=in_child)
    child.start()
    go.set()
    parent_rest = checked_calls(enforcer, 40)  # at the same time, on its own socket
    child_total = out.get(timeout=60)
    child.join(30)
    assert isinstance(child_total, int), child_total
    assert child.exitcode == 0
    assert scripts._spare[enforcer.redis.connection_pool] is spare
    assert spent(enforcer) == parent_first + child_total + parent_rest


def test_threads_never_share_the_spare_and_every_reply_is_its_own(enforcer):
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                tokens = 100 + n * 100 + i
                r = enforcer.reserve("dev_assistant", cheap(enforcer), tokens, 1)
                s = enforcer.settle(r, tokens, 1)
                assert s.reservation_id == r.id
                results.append((tokens, s.cost_nano))
        except BaseException as exc:  # reported below: an assert in a thread is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 90
    assert spent(enforcer) == sum(cost for _t, cost in results)
    assert enforcer.open_holds() == 0
    in_use = len(enforcer.redis.connection_pool._in_use_connections)
    assert in_use <= 1  # one spare kept; the other threads' connections went back to the pool


def test_a_read_cut_half_way_closes_the_spare(enforcer, monkeypatch):
    call(enforcer)
    spare = scripts._spare[enforcer.redis.connection_pool]

    def cut(*args, **kwargs):
        raise redis.ConnectionError("connection lost mid-read")

    monkeypatch.setattr(spare, "read_response", cut)
    with pytest.raises(LedgerUnavailable):  # lost: an outage, refused (the lab config fails closed)
        enforcer.reserve("dev_assistant", cheap(enforcer), 1000, 500)
    assert spare._sock is None  # closed, so no later reply can be read out of turn
    assert enforcer.redis.connection_pool not in scripts._spare
    monkeypatch.undo()
    call(enforcer)  # a fresh connection
