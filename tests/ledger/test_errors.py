"""The one pair of Redis-error classifiers (``ledger.errors``), on errors a real redis-server raises.

Issue 18: four copies (the ledger's, the client's settle retry, the runs' stop, the report command's)
became these two; the client's copy missed a socket's ``OSError``, which now retries and journals a
settle as the ledger's reads already treated it.
"""

from __future__ import annotations

import socket

import pytest
import redis

from acme_ci_budget.ledger import LedgerUnavailable, StoreError
from acme_ci_budget.ledger.errors import is_connection_error, is_ledger_error
from acme_ci_budget.ledger.store import connect


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_unreachable_or_slow_is_a_connection_error(redis_url: str) -> None:
    down = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5)
    with pytest.raises(redis.RedisError) as refused:
        down.ping()
    assert is_connection_error(refused.value) and is_ledger_error(refused.value)

    slow = redis.Redis.from_url(redis_url, socket_timeout=0.05)
    with pytest.raises(redis.RedisError) as timed_out:
        slow.execute_command("DEBUG", "SLEEP", "0.3")
    slow.close()
    assert isinstance(timed_out.value, redis.TimeoutError)
    assert is_connection_error(timed_out.value) and is_ledger_error(timed_out.value)

    unavailable = LedgerUnavailable("budget ledger unreachable")
    assert is_connection_error(unavailable) and is_ledger_error(unavailable)
    # A bare socket error is "unreachable" where Redis was being talked to (the settle, the reads); on its
    # own it does not say the ledger failed, so a run does not take any OSError for a ledger stop.
    assert is_connection_error(OSError("socket closed")) and not is_ledger_error(OSError("socket closed"))


def test_a_refused_write_is_a_ledger_error_but_not_a_connection_error(redis_client: redis.Redis) -> None:
    redis_client.set("acb-test-string", "x")
    with pytest.raises(redis.RedisError) as wrong_type:
        redis_client.hset("acb-test-string", "field", 1)  # WRONGTYPE: Redis answered, and said no
    assert is_ledger_error(wrong_type.value) and not is_connection_error(wrong_type.value)

    with pytest.raises(StoreError) as bad_url:
        connect("http://not-a-redis-url")
    assert is_ledger_error(bad_url.value) and not is_connection_error(bad_url.value)

    for other in (ValueError("x"), RuntimeError("y"), KeyError("z")):
        assert not is_ledger_error(other) and not is_connection_error(other)
