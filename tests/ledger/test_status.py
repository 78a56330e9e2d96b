"""The ledger's status reads for ``metrics``: one round trip, the whole stats hash, tokens by model.

On a real redis-server: ``metrics_snapshot`` is the status script's one EVALSHA (no other command),
returns what ``status_snapshot`` returns plus each workflow's month held and the month's stats hash,
and settle counts tokens per workflow and model (``tok_*|wf|model``), which the monthly report leaves
out of its workflow list.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

_ROUTING = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]
HAIKU, SONNET = _ROUTING["default_model"], _ROUTING["complex_model"]  # the cheap and strong roles


@pytest.fixture
def enforcer(redis_url, default_config) -> BudgetEnforcer:
    return BudgetEnforcer(default_config, redis_url=redis_url, clock=Clock(datetime(2026, 11, 10, 15, 0, tzinfo=UTC)))


def _settle(e: BudgetEnforcer, wf: str, model: str, tokens: tuple[int, int, int, int]) -> None:
    res = e.reserve(wf, model, 2_000, 500)
    assert res.allowed, res.reason
    e.settle(res, *tokens, latency_ms=10, model=model)


def _commands(r) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): stat["calls"] for name, stat in r.info("commandstats").items()}


def test_metrics_snapshot_is_one_round_trip_with_the_whole_stats_hash(enforcer, redis_client) -> None:
    _settle(enforcer, "dev_assistant", HAIKU, (100, 20, 30, 400))
    _settle(enforcer, "dev_assistant", SONNET, (50, 5, 0, 0))
    held = enforcer.reserve("dev_assistant", HAIKU, 1_000, 100)  # in flight
    enforcer.status_snapshot()  # the script is cached server-side now
    before = _commands(redis_client)
    snapshot = enforcer.metrics_snapshot()
    after = _commands(redis_client)
    ran = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    # the script's own calls (MGET, HMGET, HGETALL, ZCOUNT...) count too: exactly one EVALSHA from the client
    assert ran.pop("evalsha") == 1 and "get" not in ran and "pipeline" not in ran
    assert {k: v for k, v in snapshot.items() if k not in ("stats", "month_held_nano")} == enforcer.status_snapshot()
    assert snapshot["month_held_nano"]["dev_assistant"] == held.held_nano
    stats = snapshot["stats"]
    assert stats["calls|dev_assistant|" + HAIKU] == 1 and stats["calls|dev_assistant|" + SONNET] == 1
    assert (stats[f"tok_in|dev_assistant|{HAIKU}"], stats[f"tok_out|dev_assistant|{HAIKU}"]) == (100, 20)
    assert (stats[f"tok_cw|dev_assistant|{HAIKU}"], stats[f"tok_cr|dev_assistant|{HAIKU}"]) == (30, 400)
    assert stats["tok_in|dev_assistant"] == 150  # the per-workflow totals stay as they were
    assert "day_cost|dev_assistant|10" in stats
