"""A reserve run twice with the same reservation id holds once (reserve.lua, reserve_run.lua).

redis-py retries a command whose reply was lost on a dropped connection (``redis.Redis(host=...)``
ten times by default, ``from_url`` not at all), so on every path that goes through redis-py's own
command execution (a cluster client, a pipeline, a client subclass) the same reserve can reach the
script twice. Run again, it holds nothing more and answers as the first run would have
(allowed, the counters before the hold), with a 16th element, ``again``; a settle then leaves nothing
held. The same when the id was already settled. Runs on both backends (``ledger_backend``); the lost
reply itself is reproduced through a loopback TCP proxy in front of the standalone server.
"""

from __future__ import annotations

import os
import socket
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from acme_ci_budget.ledger.enforcer import BudgetEnforcer, _run
from tests.roles import CHEAP

REPO = "acme/app"


def held(e: BudgetEnforcer, r) -> dict[str, int]:
    """Every counter a hold of ``r`` moves, and the open holds."""
    def get(key: str) -> int:
        return int(e.redis.get(key) or 0)

    session = e.keys.session(r.session_id)
    return {
        "org": get(e.keys.org_held(r.month)),
        "month": get(e.keys.wf_held_month(r.workflow_id, r.month)),
        "day": get(e.keys.wf_held_day(r.workflow_id, r.day)),
        "repo": get(e.keys.repo_held(REPO, r.month)),
        "session_tokens": int(e.redis.hget(session, "held_tokens") or 0),
        "session_steps": int(e.redis.hget(session, "steps") or 0),
        "task_steps": int(e.redis.hget(e.keys.task(r.task_id), "steps") or 0),
        "holds": e.redis.zcard(e.keys.holds()),
    }


def test_the_same_reserve_run_twice_holds_once_and_its_settle_leaves_nothing_held(
    default_config, ledger_backend, clock
):
    e = BudgetEnforcer(default_config, redis_url=ledger_backend, clock=clock, repo=REPO)
    now = e.now()
    draft, wf = e._reserve_draft(now, "dev_assistant", CHEAP, 2000, 1000, "sess-1", "task-1", 1, "ann", 0, 0, None)
    keys, args = e._reserve_keys(draft), e._reserve_args(wf, draft, now)

    first_raw = _run(e._reserve, keys, args)
    second_raw = _run(e._reserve, keys, args)  # the same command again, as a client's retry sends it
    first, second = e._reserved(draft, wf, first_raw), e._reserved(draft, wf, second_raw)

    assert first.allowed and second.allowed and first.held_nano > 0
    amount = first.held_nano
    assert held(e, first) == {"org": amount, "month": amount, "day": amount, "repo": amount,
                              "session_tokens": 3000, "session_steps": 1, "task_steps": 1, "holds": 1}
    assert len(first_raw) == 15 and second_raw[15] == b"again" and second_raw[:15] == first_raw
    assert second.headroom == first.headroom and second.held_nano == first.held_nano
    assert [ev[1][b"type"] for ev in e.redis.xrange(e.keys.events())] == []  # no block recorded either

    settled = e.settle(second, 1500, 400)
    assert settled.hold_found and not settled.duplicate
    after = held(e, first)
    assert {k: after[k] for k in ("org", "month", "day", "repo", "session_tokens", "holds")} == dict.fromkeys(
        ("org", "month", "day", "repo", "session_tokens", "holds"), 0
    )

    # once settled, the same reserve again holds nothing either (the result marker names the id)
    spent = int(e.redis.get(e.keys.org_spent(first.month)))
    late_raw = _run(e._reserve, keys, args)
    assert int(late_raw[0]) == 1 and late_raw[15] == b"again"
    assert held(e, first)["org"] == 0 and held(e, first)["holds"] == 0
    assert int(e.redis.get(e.keys.org_spent(first.month))) == spent == settled.cost_nano


def test_an_agent_runs_reserve_run_twice_holds_once(default_config, ledger_backend, clock, monkeypatch):
    e = BudgetEnforcer(default_config, redis_url=ledger_backend, clock=clock, repo=REPO)
    monkeypatch.setattr(os, "urandom", lambda n: b"\x07" * n)  # the same run id twice, as a retry sends it
    first = e.reserve_run("dev_assistant", 500_000_000, 600)
    second = e.reserve_run("dev_assistant", 500_000_000, 600)
    assert first.id == second.id and first.allowed and second.allowed
    assert second.held_nano == first.held_nano == 500_000_000 and second.headroom == first.headroom
    assert int(e.redis.get(e.keys.org_held(first.month))) == first.held_nano
    assert int(e.redis.get(e.keys.repo_held(REPO, first.month))) == first.held_nano
    assert e.redis.zcard(e.keys.holds()) == 1


class DropOneReply:
    """A loopback TCP proxy in front of a redis-server: when armed, it lets the next EVALSHA reach the
    server and run, then closes the client's connection instead of passing the reply on (a reply lost
    on the way back, as when a connection drops)."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            drop = threading.Event()
            threading.Thread(target=self._up, args=(client, server, drop), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, drop), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, drop: threading.Event) -> None:
        while chunk := self._recv(client):
            if self.armed.is_set() and b"EVALSHA" in chunk.upper():
                self.armed.clear()
                drop.set()
            server.sendall(chunk)
        server.close()

    def _down(self, server: socket.socket, client: socket.socket, drop: threading.Event) -> None:
        while chunk := self._recv(server):
            if drop.is_set():  # the script ran; its reply goes nowhere
                self.dropped.set()
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
                return
            client.sendall(chunk)
        client.close()

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        self.listener.close()


class TracedRedis(redis.Redis):
    """A user's own client class (say, one that adds tracing): the ledger runs its scripts through
    redis-py's own path for it, and that path retries a command whose reply was lost (ledger.scripts
    sends a plain ``redis.Redis``'s scripts on a spare connection without retrying; cluster clients and
    pipelines take redis-py's path too)."""


def test_a_reserve_whose_reply_was_lost_is_retried_by_redis_py_and_holds_once(default_config, redis_url, clock):
    port = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs["port"]
    proxy = DropOneReply(port)
    try:
        # retries set explicitly: redis-py 8 retries 10 times by default, 5.x (the floor) not at all
        client = TracedRedis(host="127.0.0.1", port=proxy.port, retry=Retry(NoBackoff(), 3),
                             retry_on_error=[redis.ConnectionError])
        e = BudgetEnforcer(default_config, redis=client, clock=clock, repo=REPO)
        e.release(e.reserve("ci_cd_review", CHEAP, 10, 10))  # the script is loaded: the next EVALSHA runs it
        proxy.armed.set()
        r = e.reserve("dev_assistant", CHEAP, 2000, 1000, session_id="sess-1")
        assert proxy.dropped.is_set(), "the proxy let the first reply through: nothing was retried"
        assert r.allowed
        assert held(e, r)["org"] == held(e, r)["day"] == r.held_nano
        assert held(e, r)["session_tokens"] == 3000 and held(e, r)["session_steps"] == 1
        e.settle(r, 1500, 400)
        assert held(e, r)["org"] == held(e, r)["day"] == held(e, r)["session_tokens"] == 0
        client.close()
    finally:
        proxy.close()
