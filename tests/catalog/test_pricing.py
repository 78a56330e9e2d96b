"""Prices from genai-prices and config overrides; exact nano-USD cost maths."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from acme_ci_budget.catalog.pricing import UnknownModelError, calculate_cost, cost_nano, price_for
from acme_ci_budget.cli import cli
from acme_ci_budget.config import PriceOverride


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
    assert bad.exit_code == 2
    assert "Error: no price for model 'claude-nope'" in bad.stderr  # issue 15: a line, not an exception


def test_price_cache_skips_the_genai_prices_import_on_a_warm_start(tmp_path):
    import subprocess
    import sys

    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "ACME_BUDGET_CONFIG": ""}
    probe = (
        "import sys\nfrom acme_ci_budget.catalog.pricing import cost_nano\n"
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


# --- overrides match the ids the snapshot matches (issue 11, item 8) -----------------------------


def test_override_under_the_alias_prices_the_dated_reply_and_back():
    negotiated = PriceOverride(Decimal("1.5"), Decimal("7.5"))
    by_alias = {"claude-sonnet-4-5": negotiated}
    dated = price_for("claude-sonnet-4-5-20250929", by_alias)
    assert (dated.input, dated.output) == (Decimal("1.5"), Decimal("7.5"))
    assert dated.source.startswith("config pricing.claude-sonnet-4-5")
    assert cost_nano("claude-sonnet-4-5-20250929", 100_000, 0, overrides=by_alias) == 100_000 * 1_500
    by_date = {"claude-sonnet-4-5-20250929": negotiated}
    assert price_for("claude-sonnet-4-5", by_date).input == Decimal("1.5")
    # `-latest` aliases are one family with their dated ids too
    latest = {"claude-3-5-haiku-latest": PriceOverride(Decimal("0.4"), Decimal("2"))}
    assert price_for("claude-3-5-haiku-20241022", latest).input == Decimal("0.4")
    # the exact id wins over its family, and another family is untouched
    both = {**by_alias, "claude-sonnet-4-5-20250929": PriceOverride(Decimal("2"), Decimal("10"))}
    assert price_for("claude-sonnet-4-5-20250929", both).input == Decimal("2")
    assert price_for("claude-sonnet-4-5-20260101", both).input == Decimal("1.5")
    assert price_for("claude-sonnet-4-0", by_alias).input == Decimal("3")


def test_override_keeps_the_long_context_tiers_scaled_and_says_so():
    snapshot = price_for("claude-sonnet-4-5")
    assert [t.start for t in snapshot.tiers] == [200_000]
    overrides = {"claude-sonnet-4-5": PriceOverride(Decimal("2.4"), Decimal("12"))}  # 20% off
    price = price_for("claude-sonnet-4-5-20250929", overrides)
    (tier,) = price.tiers
    assert (tier.start, tier.input, tier.output) == (200_000, Decimal("4.8"), Decimal("18"))
    assert (tier.cache_write, tier.cache_read) == (Decimal("6"), Decimal("0.48"))
    assert "long-context tiers scaled from the snapshot" in price.source
    # a 250k-token prompt is billed at the (negotiated) long-context rate, not the base one
    assert cost_nano("claude-sonnet-4-5-20250929", 250_000, 1_000, overrides=overrides) == 250_000 * 4800 + 1_000 * 18_000


def test_prices_command_shows_the_scaled_tier(tmp_path):
    import yaml

    from tests.conftest import DEFAULT_CONFIG_TEXT

    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["pricing"] = {"claude-sonnet-4-5": {"input": 2.4, "output": 12}}
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["prices", "claude-sonnet-4-5-20250929", "--config", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "config pricing.claude-sonnet-4-5; long-context tiers scaled from the snapshot" in lines[1]
    # one price format, cents always (issue 15 item 5; was "$4.8", "$18", "$6")
    assert lines[2].split() == ["prompt", ">", "200,000", "$4.80", "$18.00", "$6.00", "$0.48", "long-context", "tier"]


def test_prices_reports_an_unknown_model_on_its_own_line_and_prints_the_rest():
    # issue 15 item 5: before, one unknown model was the only output (an error, no table).
    result = CliRunner().invoke(cli, ["prices", "claude-3-5-haiku-20241022", "claude-nope", "claude-3-haiku-20240307"])
    assert result.exit_code == 2
    table = result.stdout.splitlines()
    assert [line.split()[0] for line in table[1:]] == ["claude-3-5-haiku-20241022", "claude-3-haiku-20240307"]
    assert table[1].split()[1:5] == ["$0.80", "$4.00", "$1.00", "$0.08"]
    [error] = result.stderr.splitlines()
    assert error.startswith("Error: no price for model 'claude-nope': not a known model id")
    as_json = CliRunner().invoke(cli, ["prices", "claude-nope", "claude-3-5-haiku-20241022", "--format", "json"])
    assert as_json.exit_code == 2 and list(json.loads(as_json.stdout)) == ["claude-3-5-haiku-20241022"]


# --- misspelled ids and conditional snapshot prices (item 9) ------------------------------------


@pytest.mark.parametrize(
    ("model", "hint"),
    [
        ("claude-3-5-haiku-20241022-typo", "claude-3-5-haiku-20241022"),
        ("claude-sonnet-4-5-2025092", "claude-sonnet-4-5"),  # seven digits
        ("claude-sonnet-4-5-20251399", "claude-sonnet-4-5"),  # no such date
        ("claude-sonet-4-5", "claude-sonnet-4-5"),
        ("claude-3-5-haikuu", "claude-3-5-haiku"),
    ],
)
def test_a_misspelled_id_gets_no_price_and_a_hint(model, hint):
    with pytest.raises(UnknownModelError) as err:
        price_for(model)
    assert f"did you mean {hint!r}?" in str(err.value)


@pytest.mark.parametrize(
    "model",
    ["claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest", "claude-opus-4-20250514", "claude-haiku-5-5-20261001"],
)
def test_known_ids_and_dated_snapshots_are_priced(model):
    assert price_for(model).input > 0


def test_a_stale_cache_entry_for_a_typo_is_not_trusted(tmp_path, monkeypatch):
    import importlib.metadata
    import json

    from acme_ci_budget.catalog import pricing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(pricing, "_MEMO", {})
    monkeypatch.setattr(pricing, "_DISK", None)
    version = importlib.metadata.version("genai-prices")
    old = tmp_path / "acme-ci-budget" / f"genai-prices-{version}.json"  # what earlier releases wrote
    old.parent.mkdir(parents=True)
    entry = {"input": "0.8", "output": "4", "cache_write": "1", "cache_read": "0.08", "source": "x", "tiers": []}
    old.write_text(json.dumps({"claude-3-5-haiku-20241022-typo": entry}))
    with pytest.raises(UnknownModelError):
        price_for("claude-3-5-haiku-20241022-typo")


def test_a_price_that_starts_on_a_date_is_looked_up_for_today(tmp_path, monkeypatch):
    from datetime import date

    from acme_ci_budget.catalog import pricing

    # genai-prices needs a timestamp for conditional prices; None crashed with "'NoneType' ... 'tzinfo'"
    assert price_for("claude-sonnet-4-6").input == Decimal("3")
    before, until = pricing._lookup_snapshot("claude-sonnet-4-6", date(2026, 3, 12))
    assert [t.start for t in before.tiers] == [200_000] and until == "2026-03-13"
    after, until = pricing._lookup_snapshot("claude-sonnet-4-6", date(2026, 3, 13))
    assert after.tiers == () and until is None
    # a cached price past its `until` is looked up again, not served stale
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(pricing, "_MEMO", {})
    monkeypatch.setattr(pricing, "_DISK", {"claude-sonnet-4-6": {**pricing._to_json(before), "until": "2026-03-13"}})
    assert price_for("claude-sonnet-4-6").tiers == ()
