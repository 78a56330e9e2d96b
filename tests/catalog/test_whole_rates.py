"""The integer fast path of cost_nano gives the very figure the Decimal sum rounds to, tiers and overrides included."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from acme_ci_budget.catalog.pricing import cost_nano, price_for
from acme_ci_budget.catalog.whole_rates import NANO_PER_MTOK_USD, whole_rates
from acme_ci_budget.config.model import PriceOverride


def decimal_cost(model, i, o, cw, cr, cw1h, overrides=None) -> int:
    tier = price_for(model, overrides).tier_for(i + cw + cw1h + cr)
    exact = (
        i * tier.input + o * tier.output + cw * tier.cache_write + cw1h * tier.cache_write_1h_price
        + cr * tier.cache_read
    ) * NANO_PER_MTOK_USD
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("model", ["claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5", "claude-sonnet-4-5"])
def test_integer_costs_equal_the_decimal_sum(model):
    rng = random.Random(model)
    for _ in range(2000):  # prompts up to 400,000 tokens: past the long-context tier where a model has one
        counts = [rng.randrange(0, 400_000), rng.randrange(0, 64_000), rng.randrange(0, 50_000), rng.randrange(0, 50_000)]
        one_hour = rng.randrange(0, 10_000)
        assert cost_nano(model, *counts, cache_write_1h_tokens=one_hour) == decimal_cost(model, *counts, one_hour)


def test_a_rate_that_is_not_whole_takes_the_decimal_path_and_rounds_once():
    overrides = {"claude-haiku-5-5": PriceOverride(input=Decimal("0.8005"), output=Decimal("4"))}  # 800.5 nano a token
    assert whole_rates(price_for("claude-haiku-5-5", overrides), 10) is None
    assert cost_nano("claude-haiku-5-5", 3, 0, overrides=overrides) == 2402  # 2401.5, rounded half up once
    assert cost_nano("claude-haiku-5-5", 3, 7, 5, 2, overrides=overrides) == decimal_cost(
        "claude-haiku-5-5", 3, 7, 5, 2, 0, overrides
    )
