"""ledger/admin.py: ``reset`` keeps the org's month total the sum of the workflows' (issue 15 item 5)."""

from __future__ import annotations

import pytest

from acme_ci_budget.ledger.admin import ResetRefused
from acme_ci_budget.ledger.enforcer import BudgetEnforcer


def _ledger(redis_url: str, config) -> tuple[BudgetEnforcer, dict[str, int]]:
    e = BudgetEnforcer(config, redis_url=redis_url)
    charged = {}
    for wid, tokens in (("dev_assistant", 9_000), ("ci_cd_review", 4_700), ("qa_test_gen", 2_000)):
        model = config.workflows[wid].routing.default_model
        charged[wid] = e.settle(e.reserve(wid, model, tokens, 500), tokens, 500).cost_nano
    return e, charged


def _month(e: BudgetEnforcer) -> dict[str, int]:
    return {wid: s["monthly_spend_nano"] for wid, s in e.get_all_status().items()}


def test_a_month_reset_of_one_workflow_takes_it_off_the_org_total(redis_url, default_config) -> None:
    # Before: the workflow's counter was deleted and the org's kept it, so org != sum of workflows.
    e, charged = _ledger(redis_url, default_config)
    org_before = e.get_org_status()["spend_nano"]
    assert org_before == sum(charged.values())
    result = e.reset("dev_assistant", "month")
    assert result.zeroed == (("dev_assistant", charged["dev_assistant"]),)
    assert (result.org_before, result.org_after) == (org_before, org_before - charged["dev_assistant"])
    month = _month(e)
    assert month["dev_assistant"] == 0 and month["ci_cd_review"] == charged["ci_cd_review"]
    assert e.get_org_status()["spend_nano"] == sum(month.values())
    [event] = list(e.events(types=["admin_reset"]))
    assert event["zeroed_nano"] == charged["dev_assistant"] and event["org_zeroed_nano"] == charged["dev_assistant"]
    assert event["cost_nano"] == 0 and event["workflow"] == "dev_assistant"


def test_a_day_reset_leaves_the_month_and_the_org_alone(redis_url, default_config) -> None:
    e, charged = _ledger(redis_url, default_config)
    result = e.reset(None, "day")
    assert {w: n for w, n in result.zeroed if n} == charged and result.org_before == result.org_after == sum(charged.values())
    assert all(s["daily_spend_nano"] == 0 for s in e.get_all_status().values())
    assert {w: n for w, n in _month(e).items() if n} == charged


def test_a_month_reset_of_every_workflow_zeroes_the_org(redis_url, default_config) -> None:
    e, charged = _ledger(redis_url, default_config)
    result = e.reset(None, "month")
    assert result.total_nano == sum(charged.values()) and result.org_after == 0
    assert e.get_org_status()["spend_nano"] == 0 and set(_month(e).values()) == {0}


def test_a_reset_that_would_take_the_org_below_zero_is_refused_and_changes_nothing(
    redis_url, default_config
) -> None:
    e, charged = _ledger(redis_url, default_config)
    org_key = e.keys.org_spent(e.periods()[1])
    e.redis.set(org_key, charged["dev_assistant"] - 1)  # counters that disagree already (a hand edit)
    with pytest.raises(ResetRefused, match="below dev_assistant's"):
        e.reset("dev_assistant", "month")
    assert {w: n for w, n in _month(e).items() if n} == charged and int(e.redis.get(org_key)) == charged["dev_assistant"] - 1
    assert list(e.events(types=["admin_reset"])) == []
