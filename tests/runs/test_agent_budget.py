"""runs/agent_budget.py: how much an agent run holds, and for how long (no Redis needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.ledger.agent_runs import MIN_RUN_HOLD_NANO
from acme_ci_budget.runs.agent_budget import KILL_GRACE_SECONDS, hold_ttl_seconds, plan_hold

USD = 1_000_000_000


@pytest.fixture
def wf(make_config):
    return make_config({"workflows": {"dev_assistant": {"per_run_usd": 2, "run_timeout_seconds": 900}}}).workflow(
        "dev_assistant"
    )


def test_the_lower_of_max_usd_and_per_run_usd(wf):
    assert plan_hold(wf, None, None, None).requested_nano == 2 * USD
    assert plan_hold(wf, Decimal("0.5"), None, None).requested_nano == USD // 2
    assert plan_hold(wf, Decimal("9"), None, None).requested_nano == 2 * USD  # --max-usd only lowers the cap
    assert plan_hold(wf, None, None, None).minimum_nano == MIN_RUN_HOLD_NANO
    assert plan_hold(wf, Decimal("0.05"), None, None).minimum_nano == 50_000_000  # a small run asked for: whole


def test_a_given_budget_is_held_exactly_or_refused(wf):
    plan = plan_hold(wf, None, Decimal("0.75"), None)
    assert plan.requested_nano == plan.minimum_nano == 750_000_000
    with pytest.raises(UsageError, match="--max-budget-usd 3 is above the most this dev_assistant run may hold"):
        plan_hold(wf, None, Decimal("3"), None)


def test_no_cap_at_all_is_bad_input(make_config):
    bare = make_config().workflow("ci_cd_review")
    with pytest.raises(UsageError, match=r"workflows\.ci_cd_review has no per_run_usd: give --max-usd"):
        plan_hold(bare, None, None, None)


def test_the_hold_outlives_the_timeout(wf):
    assert plan_hold(wf, None, None, None).timeout_seconds == 900  # the workflow's run_timeout_seconds
    plan = plan_hold(wf, None, None, 60)
    assert plan.timeout_seconds == 60 and plan.ttl_seconds == hold_ttl_seconds(60) > 60 + KILL_GRACE_SECONDS
    assert hold_ttl_seconds(86_000) < 86_400  # within a hold's most (a day)
