"""Phase 1 estimate: the lab's exact figures, growth scenarios, formats."""

from __future__ import annotations

import json

from click.testing import CliRunner

from acme_ci_budget.cli import cli
from acme_ci_budget.estimate import build_estimate


def test_lab_figures_are_exact(default_config):
    est = build_estimate(default_config)
    by_id = {w.workflow_id: w.cost_nano for w in est.workflows}
    assert by_id == {
        "ci_cd_review": 1_017_600_000,
        "dev_assistant": 5_529_600_000,
        "qa_test_gen": 936_000_000,
        "pm_assistant": 414_720_000,
    }
    assert est.total_nano == 7_897_920_000
    assert est.headroom_nano == 792_102_080_000


def test_json_output_keys_and_values():
    result = CliRunner().invoke(cli, ["estimate", "--format", "json"], env={"ACME_BUDGET_CONFIG": ""})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total_monthly_usd"] == 7.89792
    assert data["budget_usd"] == 800.0
    assert data["headroom_usd"] == 792.10208
    assert round(data["utilization_pct"], 5) == 0.98724
    ci = data["workflows"]["ci_cd_review"]
    assert set(ci) >= {"input_tokens", "output_tokens", "input_cost_usd", "output_cost_usd", "cost_usd"}
    assert ci["cost_usd"] == 1.0176
    assert ci["input_cost_usd"] == 0.5376 and ci["output_cost_usd"] == 0.48
    assert data["workflows"]["pm_assistant"]["cost_usd"] == 0.41472


def test_text_prints_exact_sum_not_sum_of_rounded_lines():
    result = CliRunner().invoke(cli, ["estimate"], env={"ACME_BUDGET_CONFIG": ""})
    assert "TOTAL MONTHLY ESTIMATE: $7.90" in result.output
    assert "TOTAL MONTHLY ESTIMATE: $7.91" not in result.output
    assert "Headroom: $792.10" in result.output
    assert "Utilization: 1.0%" in result.output


def test_growth_scenarios_name_the_budgets_they_exceed(default_config):
    est = build_estimate(default_config, (10, 100))
    ten, hundred = est.scenarios
    assert ten.total_nano == 10 * est.total_nano
    assert ten.over_budget == ()
    assert hundred.total_nano == 100 * est.total_nano
    assert hundred.over_budget == ("dev_assistant",)  # $552.96 against $250
    result = CliRunner().invoke(cli, ["estimate", "--growth", "100"], env={"ACME_BUDGET_CONFIG": ""})
    assert "At 100x adoption: $789.79/month" in result.output
    assert "dev_assistant" in result.output


def test_caching_line_is_computed_from_prices(make_config):
    cfg = make_config({"workflows": {"dev_assistant": {"inventory": {"cacheable_input_tokens": 2100}}}})
    dev = next(w for w in build_estimate(cfg).workflows if w.workflow_id == "dev_assistant")
    # 160 sessions: one 2,100-token write each, 7 reads each; the other 300 input tokens of a turn are fresh
    expected = (1280 * 300) * 800 + (1280 * 600) * 4000 + (160 * 2100) * 1000 + (1120 * 2100) * 80
    assert dev.cached_cost_nano == expected and dev.cache_note == ""
    md = CliRunner().invoke(cli, ["estimate", "--format", "markdown"], env={"ACME_BUDGET_CONFIG": ""})
    assert "| **Total** |" in md.output


def test_prompts_below_the_cache_minimum_are_not_counted_as_cached(default_config):
    # The lab's stable prompts (300-1,200 tokens) are shorter than Haiku's 2,048-token minimum: no saving.
    est = build_estimate(default_config)
    by_id = {w.workflow_id: w for w in est.workflows}
    for wid in ("ci_cd_review", "dev_assistant", "pm_assistant"):
        assert by_id[wid].cached_cost_nano == by_id[wid].cost_nano
        assert "2,048-token cache minimum" in by_id[wid].cache_note
    qa = by_id["qa_test_gen"]  # 1,200 tokens on Sonnet (1,024 minimum): cached, but one call per ticket
    assert qa.cache_note == "" and qa.cached_cost_nano > qa.cost_nano
    text = CliRunner().invoke(cli, ["estimate"], env={"ACME_BUDGET_CONFIG": ""}).output
    assert "not cached, Developer coding assistant: 600-token prompt is below" in text
