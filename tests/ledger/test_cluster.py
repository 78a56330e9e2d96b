"""The ledger's edge tests again, unchanged, on a real three-master Redis Cluster, and the slot check.

Every key of a namespace shares one hash tag, so each Lua script runs in one slot; these tests
prove it by running edge tests through ``redis+cluster://`` (the core suite, ``test_ledger.py``,
runs on both backends itself, through the ``ledger_backend`` fixture).
"""

from __future__ import annotations

import pytest

from tests.ledger import test_edges as edges


@pytest.fixture
def redis_url(redis_cluster_url):  # the edges' enforcer takes redis_url: here it gets the cluster
    return redis_cluster_url


enforcer = edges.enforcer  # the clock is tests/ledger/conftest.py's

# The edges whose scripts build keys inside Lua (purge markers, status reads) or carry exact money.
for _name in (
    "test_a_crashed_hold_comes_back_however_late_the_purge_runs",
    "test_status_never_shows_an_expired_hold",
    "test_money_past_100k_dollars_comes_back_exact",
    "test_loop_steps_are_counted_per_task_whatever_loop_step_says",
    "test_a_hold_released_after_it_expired_still_counts_its_failure",
):
    globals()[f"{_name}_on_cluster"] = pytest.mark.cluster(getattr(edges, _name))


def test_the_keys_of_one_namespace_live_in_one_slot(redis_cluster_url, default_config):
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    e = BudgetEnforcer(default_config, redis_url=redis_cluster_url)
    k = e.keys
    slots = {e.redis.keyslot(key) for key in (k.holds(), k.org_spent("2026-11"), k.stats("2026-11"), k.events(),
                                               k.wf_spent_day("dev_assistant", "2026-11-10"), k.session("s"))}
    assert len(slots) == 1
    assert len(e.redis.get_primaries()) == 3
