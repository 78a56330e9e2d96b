"""ledger.claims: the alerts' keys and round trips on a real redis-server, standalone and cluster.

The claim keys, the compare-and-set script (``ledger/lua/claim_cas.lua``), the one-round-trip
claim and the incidents hash are the ledger's; ``alerts.dedup`` only decides what they mean.
"""

from __future__ import annotations

import re
import time

import pytest

from acme_ci_budget.core.resources import lua_path
from acme_ci_budget.ledger.claims import INCIDENT_TTL_MS, AlertClaims, ClaimRequest
from acme_ci_budget.ledger.enforcer import BudgetEnforcer


@pytest.fixture(params=["standalone", "cluster"])
def ledger(request, make_config):
    url = request.getfixturevalue("redis_url" if request.param == "standalone" else "redis_cluster_url")
    return BudgetEnforcer(make_config(namespace="claims-test"), redis_url=url)


def test_the_script_says_its_keys_and_arguments():
    text = lua_path("claim_cas.lua").read_text()
    assert re.search(r"^-- KEYS\[1\] ", text, re.M) and re.search(r"^-- ARGV\[1\] .*ARGV\[2\] ", text, re.M)
    assert "KEYS[2]" not in text and "ARGV[3]" not in text


def test_alert_keys_share_the_namespace_slot(ledger):
    claims = AlertClaims(ledger)
    claim = claims.key("daily_warn", "0.8", "ci_cd_review", "2026-11-10")
    assert claim == ledger.keys.p + "alert:daily_warn:0.8:ci_cd_review:2026-11-10"
    assert claims.channel_key(claim, "slack") == claim + ":to:slack"
    assert claims.incidents_key() == ledger.keys.incidents()  # the hash the reserve script counts
    tag = re.search(r"\{[^}]*\}", ledger.keys.p).group(0)
    assert all(tag in k for k in (claim, claims.seen_key("2026-11"), claims.incidents_key()))
    # one pipeline over all of them works on a cluster only because they share the slot
    reply = claims.claim(
        [ClaimRequest(claim, "d", 60_000, (claims.channel_key(claim, "slack"),))],
        ("2026-11", {"blocked|x|y": 1}, 60_000),
    )
    assert reply.won == (True,) and reply.channel_values == ((None,),)


def test_a_claim_is_won_once_and_lives_for_its_ttl(ledger):
    claims = AlertClaims(ledger)
    key = claims.key("monthly_warn", "org", "2026-11")
    first = claims.claim([ClaimRequest(key, "dedup-1", 5_000)])
    second = claims.claim([ClaimRequest(key, "dedup-2", 5_000)])
    assert first.won == (True,) and second.won == (False,)
    assert ledger.redis.get(key) == b"dedup-1" and 0 < ledger.redis.pttl(key) <= 5_000


def test_compare_and_set_only_for_the_holder_and_keeps_the_expiry(ledger):
    claims = AlertClaims(ledger)
    key = claims.channel_key(claims.key("daily_critical", "1", "ci_cd_review", "2026-11-10"), "pagerduty")
    assert claims.take([(key, "pending@1", 60_000), (key, "pending@2", 60_000)]) == [True, False]
    assert claims.swap(key, "pending@2", "sent") is False  # another process's value: unchanged
    assert ledger.redis.get(key) == b"pending@1"
    assert claims.swap(key, "pending@1", "retry@99") is True
    assert ledger.redis.get(key) == b"retry@99" and 0 < ledger.redis.pttl(key) <= 60_000  # KEEPTTL
    assert claims.swap(claims.key("missing"), "x", "y") is False and ledger.redis.get(claims.key("missing")) is None


def test_a_stale_incident_is_won_by_exactly_one_process(ledger):
    claims, other = AlertClaims(ledger), AlertClaims(ledger)
    claims.save_incident("pd-1", {"condition": "daily_critical", "kind": "day", "period": "2026-11-09"})
    assert 0 < ledger.redis.pttl(claims.incidents_key()) <= INCIDENT_TTL_MS
    assert claims.claim([], stale=["pd-1"]).won_stale == ("pd-1",)
    assert other.claim([], stale=["pd-1"]).won_stale == ()


def test_a_failure_event_and_its_count(ledger):
    claims = AlertClaims(ledger)
    ts_ms = int(time.time() * 1000)
    claims.record_failure(
        {"type": "alert_delivery_failed", "ts_ms": ts_ms, "channel": "slack", "status": ""}, "2026-11", "slack"
    )
    ((_id, fields),) = ledger.redis.xrange(ledger.keys.events())
    assert fields == {b"type": b"alert_delivery_failed", b"ts_ms": str(ts_ms).encode(), b"channel": b"slack"}
    # (empty values left out)
    assert ledger.redis.hget(ledger.keys.stats("2026-11"), "alert_failed|slack") == b"1"
