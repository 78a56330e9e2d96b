"""Prices from genai-prices and config overrides; exact nano-USD cost maths."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from acme_ci_budget.cli import cli
from acme_ci_budget.config import PriceOverride
from acme_ci_budget.pricing import UnknownModelError, calculate_cost, cost_nano, price_for


@pytest.mark.parametrize(
    ("model", "inp", "out"),
    [
        ("claude-3-5-sonnet-20241022", "3", "15"),
        ("claude-3-5-haiku-20241022", "0.8", "4"),
        ("claude-3-haiku-20240307", "0.25", "1.25"),
    ],
)
def test_lab_models_price_as_the_lab_says(model, inp, out):
    price = price_for(model)
    assert price.input == Decimal(inp)
    assert price.output == Decimal(out)
    assert "genai-prices" in price.source
    assert calculate_cost(model, 1_000_000, 1_000_000) == float(Decimal(inp) + Decimal(out))


def test_cache_tokens_are_priced_as_cache():
    # haiku 3.5: cache write $1/MTok, cache read $0.08/MTok
    assert cost_nano("claude-3-5-haiku-20241022", 0, 0, cache_creation_input_tokens=1_000_000) == 10**9
    assert cost_nano("claude-3-5-haiku-20241022", 0, 0, cache_read_input_tokens=1_000_000) == 80_000_000
    assert cost_nano("claude-3-5-haiku-20241022", 1000, 100, 2000, 3000) == 1000 * 800 + 100 * 4000 + 2000 * 1000 + 3000 * 80


def test_long_context_tier_applies_per_request_on_the_whole_prompt():
    price = price_for("claude-sonnet-4-5")
    assert price.tiers, "sonnet 4.5 has a long-context tier in genai-prices"
    small = cost_nano("claude-sonnet-4-5", 200_000, 0)
    assert small == 200_000 * 3000
    # cache reads count towards the prompt size that selects the tier
    big = cost_nano("claude-sonnet-4-5", 100_000, 0, cache_read_input_tokens=100_001)
    assert big == 100_000 * 6000 + 100_001 * 600


def test_unknown_model_is_an_error_not_a_default():
    with pytest.raises(UnknownModelError, match="claude-nonexistent"):
        cost_nano("claude-nonexistent", 10, 10)


def test_override_beats_snapshot_and_adds_models():
    overrides = {
        "claude-3-5-haiku-20241022": PriceOverride(Decimal("0.5"), Decimal("2")),
        "in-house-model": PriceOverride(Decimal("1"), Decimal("1"), Decimal("0"), Decimal("0")),
    }
    assert price_for("claude-3-5-haiku-20241022", overrides).source == "config pricing.claude-3-5-haiku-20241022"
    assert cost_nano("claude-3-5-haiku-20241022", 1_000_000, 0, overrides=overrides) == 500_000_000
    # cache prices default to Anthropic's multipliers of the overridden input price
    assert cost_nano("claude-3-5-haiku-20241022", 0, 0, 1_000_000, 1_000_000, overrides) == 625_000_000 + 50_000_000
    assert cost_nano("in-house-model", 1_000_000, 1_000_000, overrides=overrides) == 2 * 10**9


@given(
    st.integers(0, 2_000_000), st.integers(0, 200_000), st.integers(0, 100_000), st.integers(0, 100_000)
)
def test_cost_is_additive_within_a_tier(inp, out, cw, cr):
    model = "claude-3-5-haiku-20241022"  # no tiers: the cost of a request is the sum of its parts
    whole = cost_nano(model, inp, out, cw, cr)
    parts = cost_nano(model, inp, 0) + cost_nano(model, 0, out) + cost_nano(model, 0, 0, cw) + cost_nano(model, 0, 0, 0, cr)
    assert whole == parts
    assert isinstance(whole, int)


def test_prices_command_shows_source_and_rejects_unknown():
    runner = CliRunner()
    result = runner.invoke(cli, ["prices", "claude-3-5-haiku-20241022"])
    assert result.exit_code == 0
    assert "$0.8" in result.output and "genai-prices" in result.output
    bad = runner.invoke(cli, ["prices", "claude-nope"])
    assert bad.exit_code != 0
    assert "claude-nope" in str(bad.exception)


def test_price_cache_skips_the_genai_prices_import_on_a_warm_start(tmp_path):
    import subprocess
    import sys

    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "ACME_BUDGET_CONFIG": ""}
    probe = (
        "import sys\nfrom acme_ci_budget.pricing import cost_nano\n"
        "print(cost_nano('claude-3-5-haiku-20241022', 1000, 100), 'genai_prices' in sys.modules)"
    )
    cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert cold.stdout.split() == ["1200000", "True"]
    assert warm.stdout.split() == ["1200000", "False"]
    cache = next((tmp_path / "acme-ci-budget").glob("genai-prices-*.json"))
    cache.write_text("{not json")  # a corrupt cache is rebuilt, never trusted
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert again.stdout.split() == ["1200000", "True"]


def test_light_commands_do_not_import_the_sdks(tmp_path):
    import subprocess
    import sys

    probe = (
        "import sys\nfrom acme_ci_budget.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', [m for m in ('anthropic', 'github', 'jinja2') if m in sys.modules], file=sys.stderr)"
    )
    for argv in (["--help"], ["estimate"], ["config", "validate"], ["prices"]):
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "ACME_BUDGET_CONFIG": "", "HOME": str(tmp_path)})
        assert "LOADED []" in out.stderr, (argv, out.stderr)
