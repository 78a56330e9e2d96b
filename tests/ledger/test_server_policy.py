"""ledger/server_policy.py against real redis-servers: which memory settings can make the ledger forget spend."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from acme_ci_budget.ledger.server_policy import eviction_warnings


@pytest.mark.parametrize(
    ("maxmemory", "policy", "evicts"),
    [
        ("100mb", "volatile-lru", "keys with a TTL (day counters, sessions)"),
        ("1gb", "allkeys-lru", "any key"),
        ("64mb", "volatile-ttl", "keys with a TTL (day counters, sessions)"),
        ("100mb", "noeviction", None),  # full: writes refused, nothing forgotten
        ("0", "allkeys-lru", None),  # no limit: nothing is ever evicted
    ],
)
def test_a_memory_limit_with_an_eviction_policy_is_named_with_its_fix(fresh_redis, maxmemory, policy, evicts):
    server = fresh_redis("--maxmemory", maxmemory, "--maxmemory-policy", policy)
    warnings = eviction_warnings(redis.Redis.from_url(server.url))
    if evicts is None:
        assert warnings == []
        return
    (line,) = warnings
    assert f"evicts {evicts}" in line and f"maxmemory-policy {policy}" in line
    assert line.endswith("set maxmemory-policy noeviction")
    assert {"100mb": "100 MB", "1gb": "1 GB", "64mb": "64 MB"}[maxmemory] in line


def test_the_default_redis_server_is_safe(redis_url):
    assert eviction_warnings(redis.Redis.from_url(redis_url)) == []


@pytest.mark.cluster
def test_every_master_of_a_cluster_is_read_and_only_the_risky_one_named(redis_cluster_server):
    nodes = redis_cluster_server.nodes
    risky = redis.Redis(host="127.0.0.1", port=nodes[1].port)
    risky.config_set("maxmemory", 50 * 1024 * 1024)
    risky.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        cluster = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in nodes])
        (line,) = eviction_warnings(cluster)
        assert line.startswith(f"Redis 127.0.0.1:{nodes[1].port} evicts any key when its 50 MB are full")
        cluster.close()
    finally:
        risky.config_set("maxmemory", 0)
        risky.config_set("maxmemory-policy", "noeviction")


def test_a_server_that_refuses_info_is_not_warned_about(fresh_redis):
    server = fresh_redis("--rename-command", "INFO", "")  # as some managed services lock commands down
    assert eviction_warnings(redis.Redis.from_url(server.url)) == []
