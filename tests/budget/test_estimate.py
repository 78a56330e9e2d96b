"""Phase 1 estimate: the lab's exact figures (on its 2024 models), today's models, per-call pricing tiers,
growth scenarios, the --models what-if, every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from acme_ci_budget.budget.estimate import build_estimate, build_what_if
from acme_ci_budget.catalog.pricing import min_cacheable_tokens, price_for
from acme_ci_budget.cli import cli
from acme_ci_budget.config import load_config

ROOT = Path(__file__).resolve().parents[2]
LAB_2024 = ROOT / "examples" / "acme-lab-2024.yml"
NO_ENV = {"ACME_BUDGET_CONFIG": ""}


def _nano(tokens_in: int, tokens_out: int, model: str) -> int:
    """An independent price check: tokens x the snapshot's per-MTok base prices (1,000 nano per $1/MTok)."""
    p = price_for(model)
    return int(tokens_in * p.input * 1000 + tokens_out * p.output * 1000)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acme_ci_budget", *args], capture_output=True, text=True, cwd=ROOT)


# --- the lab as published, on its 2024 models ----------------------------------------------------


def test_lab_figures_are_exact_on_its_2024_models():
    est = build_estimate(load_config(LAB_2024))
    by_id = {w.workflow_id: (w.model, w.input_tokens, w.output_tokens, w.cost_nano) for w in est.workflows}
    assert by_id == {
        "ci_cd_review": ("claude-3-5-haiku-20241022", 752_000, 104_000, 1_017_600_000),
        "dev_assistant": ("claude-3-5-haiku-20241022", 1_728_000, 1_036_800, 5_529_600_000),
        "qa_test_gen": ("claude-3-5-sonnet-20241022", 32_000, 56_000, 936_000_000),
        "pm_assistant": ("claude-3-5-haiku-20241022", 158_400, 72_000, 414_720_000),
    }
    assert est.total_nano == 7_897_920_000
    assert est.headroom_nano == 792_102_080_000


def test_lab_phase_1_table_through_the_cli_prints_exact_figures():
    result = _run("estimate", "--config", "examples/acme-lab-2024.yml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    def row(label: str) -> str:
        (line,) = [x for x in lines if x.startswith(label)]
        return line

    # every line exact (the old four-decimal column printed $0.4147 for the PM line)
    assert row("CI/CD Code Review").split()[-3:] == ["752,000", "104,000", "$1.0176"]
    assert row("Developer Coding Assistant").split()[-3:] == ["1,728,000", "1,036,800", "$5.5296"]
    assert row("QA Test Generation").split()[-3:] == ["32,000", "56,000", "$0.936"]
    assert row("PM Requirements Drafting").split()[-3:] == ["158,400", "72,000", "$0.41472"]
    assert "input $0.6016 + output $0.416" in result.stdout  # the lab's $0.60 + $0.42
    assert "input $0.12672 + output $0.288" in result.stdout
    # the total is the exact sum of the lines, rounded once: $7.90 where the lab's sample adds rounded lines to $7.91
    assert "TOTAL MONTHLY ESTIMATE: $7.90  (exact $7.89792)" in result.stdout
    assert "$7.91" not in result.stdout
    assert "Budget: $800.00   Headroom: $792.10   Utilization: 1.0%" in result.stdout


def test_lab_json_output_keys_and_values():
    result = CliRunner().invoke(cli, ["estimate", "--format", "json", "--config", str(LAB_2024)], env=NO_ENV)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total_monthly_usd"] == 7.89792
    assert data["budget_usd"] == 800.0
    assert data["headroom_usd"] == 792.10208
    assert round(data["utilization_pct"], 5) == 0.98724
    ci = data["workflows"]["ci_cd_review"]
    assert set(ci) >= {"input_tokens", "output_tokens", "input_cost_usd", "output_cost_usd", "cost_usd"}
    assert ci["cost_usd"] == 1.0176
    assert ci["input_cost_usd"] == 0.6016 and ci["output_cost_usd"] == 0.416
    assert data["workflows"]["pm_assistant"]["cost_usd"] == 0.41472


def test_lab_markdown_shows_exact_lines_and_total():
    md = CliRunner().invoke(cli, ["estimate", "--format", "markdown", "--config", str(LAB_2024)], env=NO_ENV).output
    assert "| PM Requirements Drafting | `claude-3-5-haiku-20241022` | 288 | 158,400 | 72,000 | $0.41472 |" in md
    assert "| **Total** | | | | | **$7.89792** |" in md
    assert "Total $7.90 · budget $800.00" in md


def test_growth_scenarios_name_the_budgets_they_exceed():
    est = build_estimate(load_config(LAB_2024), (10, 100))
    ten, hundred = est.scenarios
    assert ten.total_nano == 10 * est.total_nano
    assert ten.over_budget == ()
    assert hundred.total_nano == 100 * est.total_nano
    assert hundred.over_budget == ("dev_assistant",)  # $552.96 against $350
    result = CliRunner().invoke(cli, ["estimate", "--growth", "100", "--config", str(LAB_2024)], env=NO_ENV)
    assert "At 100x adoption: $789.79/month of work" in result.output
    # named by label, with the limit that holds it back (issue 15 item 10)
    assert "  - Developer Coding Assistant: $552.96/month, over its $350.00 monthly budget" in result.output


def test_growth_scenarios_respect_daily_limits():
    hundred = build_estimate(load_config(LAB_2024), (100,)).scenarios[0]
    dev = next(line for line in hundred.lines if line.workflow_id == "dev_assistant")
    # $552.96 of work over 22 working days is about $25.13 a day against a $12 daily limit: $264 can run
    assert dev.busy_day_nano == 552_960_000_000 // 22 and dev.over_daily
    assert dev.allowed_nano == 12 * 22 * 10**9
    assert hundred.over_daily == ("dev_assistant",)
    assert hundred.allowed_nano == sum(line.allowed_nano for line in hundred.lines) < hundred.total_nano
    data = json.loads(
        CliRunner().invoke(cli, ["estimate", "--growth", "100", "--format", "json", "--config", str(LAB_2024)],
                           env=NO_ENV).output
    )
    [scenario] = data["scenarios"]
    assert scenario["workflows_over_daily_limit"] == ["dev_assistant"]
    assert scenario["allowed_monthly_usd"] == hundred.allowed_nano / 10**9


def test_growth_takes_several_numbers_as_the_readme_shows():
    one = CliRunner().invoke(cli, ["estimate", "--growth", "10", "100", "--config", str(LAB_2024)], env=NO_ENV)
    two = CliRunner().invoke(cli, ["estimate", "--growth", "10", "--growth", "100", "--config", str(LAB_2024)],
                             env=NO_ENV)
    assert one.exit_code == 0, one.output
    assert one.output == two.output and "At 10x adoption" in one.output and "At 100x adoption" in one.output
    stray = CliRunner().invoke(cli, ["estimate", "100", "--config", str(LAB_2024)], env=NO_ENV)
    assert stray.exit_code == 2 and "growth factors are whole numbers after --growth" in stray.output


def test_markdown_notes_and_scenarios_are_lists_that_render_in_github():
    md = CliRunner().invoke(
        cli, ["estimate", "--format", "markdown", "--growth", "100", "--config", str(LAB_2024)], env=NO_ENV
    ).output
    lines = md.splitlines()
    first_note = next(i for i, line in enumerate(lines) if line.startswith("- not cached, "))
    assert lines[first_note - 1] == ""  # a list needs a blank line before it, or GitHub folds it into the text
    assert not any(line.startswith("  not cached") for line in lines)
    assert "#### Growth scenarios" in md
    assert "  - Developer Coding Assistant: about $25.13 a working day, over its $12.00 daily limit" in md
    assert "`dev_assistant`" not in md  # workflows by label, not id


# --- Acme's config: the same inventory on today's models ------------------------------------------


def test_default_config_is_the_labs_inventory_on_todays_models(default_config):
    est = build_estimate(default_config)
    by_id = {w.workflow_id: w for w in est.workflows}
    calls = {"ci_cd_review": 160, "dev_assistant": 288 * 8, "qa_test_gen": 16, "pm_assistant": 48 * 6}
    per_call = {"ci_cd_review": (4700, 650), "dev_assistant": (750, 450), "qa_test_gen": (2000, 3500),
                "pm_assistant": (550, 250)}
    for wid, wf in default_config.workflows.items():
        line = by_id[wid]
        # the inventory's model is the workflow's default role (QA: the Sonnet role, the rest the Haiku role)
        assert line.model == wf.routing.default_model == wf.inventory.model
        tin, tout = per_call[wid]
        assert (line.calls, line.input_tokens, line.output_tokens) == (calls[wid], calls[wid] * tin, calls[wid] * tout)
        assert line.cost_nano == _nano(line.input_tokens, line.output_tokens, line.model)
    # claude-haiku-5-5 $0.10/$0.50 and claude-sonnet-5-5 $2/$10 per MTok: $0.1272 + $0.6912 + $0.624 + $0.05184
    assert est.total_nano == 1_494_240_000
    text = CliRunner().invoke(cli, ["estimate"], env=NO_ENV).output
    assert "TOTAL MONTHLY ESTIMATE: $1.49  (exact $1.49424)" in text


def test_a_month_is_priced_per_call_not_as_one_giant_request(default_config, make_config):
    # claude-haiku-5-5 bills a request above 100K prompt tokens at its long-context tier. A month of reviews is
    # 752,000 input tokens, but each review is 4,700: the month pays the base tier.
    ci = next(w for w in build_estimate(default_config).workflows if w.workflow_id == "ci_cd_review")
    price = price_for(ci.model)
    assert price.tiers and price.tiers[0].start == 100_000 and price.tiers[0].input > price.input
    assert ci.input_cost_nano == int(752_000 * price.input * 1000)  # $0.0752, not $0.376 at the upper tier
    # a workflow whose every call is above the tier pays the tier's prices on all of it
    big = make_config({"workflows": {"ci_cd_review": {"inventory": {"avg_input_tokens": 150_000}}}})
    ci_big = next(w for w in build_estimate(big).workflows if w.workflow_id == "ci_cd_review")
    tier = price.tiers[0]
    assert ci_big.input_cost_nano == int(160 * 150_000 * tier.input * 1000)
    assert ci_big.output_cost_nano == int(160 * 650 * tier.output * 1000)


def test_caching_line_is_computed_from_prices(make_config):
    cfg = make_config(
        {"workflows": {"dev_assistant": {"inventory": {"avg_input_tokens": 3000, "cacheable_input_tokens": 2100}}}}
    )
    dev = next(w for w in build_estimate(cfg).workflows if w.workflow_id == "dev_assistant")
    p = price_for(cfg.workflows["dev_assistant"].inventory.model)
    assert min_cacheable_tokens(dev.model) <= 2100
    # 288 sessions: one 2,100-token write each, 7 reads each; the other 900 input tokens of a turn are fresh
    expected = ((2304 * 900) * p.input + (2304 * 450) * p.output + (288 * 2100) * p.cache_write
                + (2016 * 2100) * p.cache_read) * 1000
    assert dev.cached_cost_nano == int(expected) and dev.cache_note == ""
    md = CliRunner().invoke(cli, ["estimate", "--format", "markdown"], env=NO_ENV)
    assert "| **Total** |" in md.output


def test_prompts_below_the_cache_minimum_are_not_counted_as_cached(default_config, make_config):
    # The lab's stable prompts (400-800 tokens) are shorter than the models' cache minimums: no saving.
    est = build_estimate(default_config)
    for w in est.workflows:
        assert w.cached_cost_nano == w.cost_nano
        assert f"{min_cacheable_tokens(w.model):,}-token cache minimum" in w.cache_note
    text = CliRunner().invoke(cli, ["estimate"], env=NO_ENV).output
    assert "not cached, Developer coding assistant: 600-token prompt is below" in text
    # a 1,200-token QA prompt on the Sonnet role (1,024 minimum) is cached, but one call per ticket only pays the write
    cfg = make_config({"workflows": {"qa_test_gen": {"inventory": {"cacheable_input_tokens": 1200}}}})
    qa = next(w for w in build_estimate(cfg).workflows if w.workflow_id == "qa_test_gen")
    assert qa.cache_note == "" and qa.cached_cost_nano > qa.cost_nano


# --- --models: the what-if of a migration ---------------------------------------------------------


def _roles(config) -> tuple[str, str]:
    routing = config.workflows["dev_assistant"].routing
    return routing.default_model, routing.complex_model


def test_what_if_prices_the_same_inventory_on_each_model(default_config, make_config):
    models = _roles(default_config)
    what_if = build_what_if(default_config, models)
    assert what_if.models == models
    for i, model in enumerate(models):
        # the same as the baseline of a config whose every inventory names that model
        moved = make_config({"workflows": {wid: {"inventory": {"model": model}} for wid in default_config.workflows}})
        expected = {w.workflow_id: w.cost_nano for w in build_estimate(moved).workflows}
        assert {line.workflow_id: line.cost_nano[i] for line in what_if.lines} == expected
        assert what_if.totals_nano[i] == sum(expected.values())
    assert what_if.configured_total_nano == build_estimate(default_config).total_nano


def test_what_if_from_the_2024_lab_to_todays_models_in_every_format():
    haiku, sonnet = _roles(load_config(ROOT / ".github" / "acme-budget.yml"))
    args = ["estimate", "--config", str(LAB_2024), "--models", f"{haiku}, {sonnet},{haiku}"]
    runner = CliRunner()

    data = json.loads(runner.invoke(cli, [*args, "--format", "json"], env=NO_ENV).output)
    assert data["models"] == [haiku, sonnet]  # duplicates dropped, order kept
    assert data["configured_total_monthly_usd"] == 7.89792
    ci = data["workflows"]["ci_cd_review"]
    assert ci["configured_model"] == "claude-3-5-haiku-20241022" and ci["configured_cost_usd"] == 1.0176
    assert ci["cost_usd"] == {haiku: _nano(752_000, 104_000, haiku) / 1e9, sonnet: _nano(752_000, 104_000, sonnet) / 1e9}
    assert data["total_monthly_usd"][haiku] == pytest.approx(
        sum(w["cost_usd"][haiku] for w in data["workflows"].values()), abs=1e-12
    )
    assert set(data["utilization_pct"]) == {haiku, sonnet}

    text = runner.invoke(cli, args, env=NO_ENV).output
    header = next(line for line in text.splitlines() if line.startswith("Workflow"))
    assert header.split()[-3:] == ["configured", haiku, sonnet]
    (total,) = [line for line in text.splitlines() if line.startswith("TOTAL (exact)")]
    assert total.split()[-3:] == ["$7.89792", f"${data['total_monthly_usd'][haiku]:g}",
                                  f"${data['total_monthly_usd'][sonnet]:g}"]

    md = runner.invoke(cli, [*args, "--format", "markdown"], env=NO_ENV).output
    assert f"| Workflow | Calls | Input tokens | Output tokens | As configured | `{haiku}` | `{sonnet}` |" in md
    assert "| **Total** | | | | **$7.89792** |" in md


def test_what_if_growth_scales_every_column(default_config):
    _haiku, sonnet = _roles(default_config)
    result = CliRunner().invoke(cli, ["estimate", "--models", sonnet, "--growth", "10", "--format", "json"], env=NO_ENV)
    data = json.loads(result.output)
    (scenario,) = data["scenarios"]
    assert scenario["growth"] == 10
    assert scenario["total_monthly_usd"][sonnet] == pytest.approx(10 * data["total_monthly_usd"][sonnet])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("claude-haiku-5-5,claude-imaginary-9", "Error: --models: no price for model 'claude-imaginary-9'"),
        (" , ", "Error: --models: expected a comma-separated list of model ids"),
    ],
)
def test_what_if_bad_model_is_one_line_exit_2(spec, message):
    result = _run("estimate", "--models", spec)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
