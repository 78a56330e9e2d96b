"""The ledger's snapshot as Prometheus families, on a real redis-server: tokens settled before the ledger
counted them by model, blocks of a workflow the config does not know, the repository families, rendering
and parsing back."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml
from prometheus_client.parser import text_string_to_metric_families

from acme_ci_budget.integrations.prometheus import render
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.telemetry.prometheus_metrics import UNATTRIBUTED, families
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

HAIKU = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]["default_model"]


def _parsed(config, enforcer: BudgetEnforcer) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    text = render(families(config, enforcer.metrics_snapshot())).decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_tokens_from_before_the_per_model_count_are_unattributed_and_totals_stay_exact(
    redis_url, default_config
) -> None:
    e = BudgetEnforcer(default_config, redis_url=redis_url, clock=Clock(datetime(2026, 11, 10, 15, tzinfo=UTC)))
    res = e.reserve("dev_assistant", HAIKU, 1_000, 100)
    e.settle(res, 100, 10, 0, 5, latency_ms=5, model=HAIKU)
    # what a settle of an earlier release left: the workflow's totals only
    e.redis.hincrby(e.keys.stats("2026-11"), "tok_in|dev_assistant", 40)
    # a block of a workflow id the config does not know (the reserve script records what it was sent)
    e.redis.hincrby(e.keys.stats("2026-11"), "blocked|old|wf|unknown_workflow", 2)
    got = _parsed(default_config, e)
    tokens = got["acme_budget_tokens_total"]
    key = (("model", HAIKU), ("type", "input"), ("workflow", "dev_assistant"))
    assert tokens[key] == 100
    assert tokens[(("model", UNATTRIBUTED), ("type", "input"), ("workflow", "dev_assistant"))] == 40
    assert tokens[(("model", HAIKU), ("type", "cache_read"), ("workflow", "dev_assistant"))] == 5
    assert not any(dict(k)["model"] == UNATTRIBUTED and dict(k)["type"] != "input" for k in tokens)
    blocked = got["acme_budget_blocked_total"]
    assert blocked == {(("reason", "unknown_workflow"), ("workflow", "old|wf")): 2.0}


def test_repository_families_read_the_fields_the_repository_attribution_writes(redis_url, default_config) -> None:
    """Issue 17 item 3's scripts write repo_cost|<repo>, repo_calls|<repo>, repo_blocked|<repo>|<reason>."""
    e = BudgetEnforcer(default_config, redis_url=redis_url, clock=Clock(datetime(2026, 11, 10, 15, tzinfo=UTC)))
    assert not any(name.startswith("acme_budget_repo") for name in _parsed(default_config, e))  # none yet
    stats = e.keys.stats("2026-11")
    e.redis.hset(stats, mapping={"repo_cost|acme/api": 1_500_000_000, "repo_calls|acme/api": 3,
                                 "repo_blocked|acme/web|repo_limit_exceeded": 2})
    got = _parsed(default_config, e)
    assert got["acme_budget_repo_spent_usd"] == {(("repo", "acme/api"),): 1.5}
    assert got["acme_budget_repo_calls_total"] == {(("repo", "acme/api"),): 3.0}
    assert got["acme_budget_repo_blocked_total"] == {(("reason", "repo_limit_exceeded"), ("repo", "acme/web")): 2.0}


def test_repository_families_equal_what_the_scripts_wrote(redis_url, make_config) -> None:
    """Through the real scripts (not hand-written stats): spent, calls and the cap's refusals per repository."""
    config = make_config({"repos": {"acme/web": {"monthly_usd": 0.002}}})
    clock = Clock(datetime(2026, 11, 10, 15, tzinfo=UTC))
    api = BudgetEnforcer(config, redis_url=redis_url, clock=clock, repo="acme/api")
    web = BudgetEnforcer(config, redis_url=redis_url, clock=clock, repo="acme/web")
    spent = [api.settle(api.reserve("dev_assistant", HAIKU, 1_000, 100), 1_000, 100).cost_nano for _ in range(3)]
    refused = 0
    for _ in range(20):
        res = web.reserve("ci_cd_review", HAIKU, 2_000, 500)
        if res.allowed:
            web.settle(res, 2_000, 500)
        else:
            assert res.reason == "repo_limit_exceeded"
            refused += 1
    got = _parsed(config, api)
    assert got["acme_budget_repo_spent_usd"][(("repo", "acme/api"),)] == sum(spent) / 1e9
    assert got["acme_budget_repo_calls_total"][(("repo", "acme/api"),)] == 3.0
    assert refused > 0
    assert got["acme_budget_repo_blocked_total"] == {(("reason", "repo_limit_exceeded"), ("repo", "acme/web")): refused}
    web_spent = int(api.redis.get(api.keys.repo_spent("acme/web", "2026-11")))
    assert got["acme_budget_repo_spent_usd"][(("repo", "acme/web"),)] == web_spent / 1e9 <= 0.002
