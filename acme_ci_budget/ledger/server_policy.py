"""The one Redis server setting the money depends on: what the server does when its memory is full.

Owns reading it and saying what is wrong, in one line. A server with a memory limit (``maxmemory``)
and a policy other than ``noeviction`` frees memory by deleting keys: ``volatile-*`` picks keys with
a TTL (the ledger's day counters, sessions and settle markers carry one), ``allkeys-*`` any key (the
month's counters, holds). A deleted spend counter forgets its spend, and the next reserve sells
that budget again: the one way a ledger that is never wrong under concurrency can still overspend.
``noeviction`` refuses writes instead, so a full server refuses calls (fail closed) and loses nothing.

It reads ``INFO memory`` (allowed where ``CONFIG GET`` is not, as on most managed Redis), on every
master of a cluster. It must not change a server setting, and must not say more than the node's
address (never a password: the caller's redacted URL names the ledger).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SAFE_POLICY = "noeviction"


def eviction_warnings(redis: Any) -> list[str]:
    """One line per server (a cluster's masters) that may evict a budget key; [] when none can.

    A server that will not say (INFO refused, an old or unusual server) is not warned about: the
    check must never stand between a team and its status.
    """
    import redis as redis_lib
    from redis.cluster import RedisCluster

    try:
        if isinstance(redis, RedisCluster):
            replies = redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
            by_node = replies if _per_node(replies) else {"": replies}
        else:
            by_node = {"": redis.info("memory")}
    except redis_lib.ResponseError:
        return []
    return [line for node, info in sorted(by_node.items()) if (line := _warning(str(node), info))]


def _per_node(replies: Mapping[str, Any]) -> bool:
    return bool(replies) and all(isinstance(value, Mapping) for value in replies.values())


def _warning(node: str, info: Mapping[str, Any]) -> str | None:
    policy = str(info.get("maxmemory_policy", SAFE_POLICY))
    limit = int(info.get("maxmemory", 0) or 0)
    if policy == SAFE_POLICY or limit <= 0:  # no limit: nothing is ever evicted
        return None
    where = f"Redis {node}" if node else "the ledger's Redis"
    kind = "keys with a TTL (day counters, sessions)" if policy.startswith("volatile") else "any key"
    return (
        f"{where} evicts {kind} when its {_size(limit)} are full (maxmemory-policy {policy}): a budget "
        f"counter evicted forgets its spend and that budget is sold again; set maxmemory-policy {SAFE_POLICY}"
    )


def _size(limit: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if limit >= size:
            return f"{limit / size:g} {unit}"
    return f"{limit} bytes"
