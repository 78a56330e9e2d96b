"""Prices in whole nano-USD a token: the integer fast path of ``catalog.pricing.cost_nano``.

Owns one question about a price: is every rate of the tier a request falls in a whole number of nano-USD a
token (``$0.80`` per million tokens is 800)? Then a request's cost is an exact integer sum, the very figure
the Decimal sum in ``cost_nano`` rounds to, at a fraction of its cost (every model call prices two or three
times). It must not price anything itself or know where prices come from; a price is read through its
``tier_for`` and ``tiers`` (a ``catalog.pricing.ModelPrice``).
"""

from __future__ import annotations

from typing import Any

from acme_ci_budget.core.money import NANO_PER_USD

NANO_PER_MTOK_USD = NANO_PER_USD // 1_000_000  # $1 per million tokens is 1,000 nano per token

# price (by identity) -> (the price, ((tier start, its whole rates or None), ...), the base tier first)
_KNOWN: dict[int, tuple[Any, tuple[tuple[int, tuple[int, ...] | None], ...]]] = {}


def whole_rates(price: Any, prompt_tokens: int) -> tuple[int, ...] | None:
    """(input, output, cache write, 1-hour cache write, cache read) in nano-USD a token for the tier that
    applies to a prompt of ``prompt_tokens`` (``ModelPrice.tier_for``'s rule), when each is whole; else None."""
    known = _KNOWN.get(id(price))
    if known is None or known[0] is not price:
        if len(_KNOWN) > 256:  # prices built per call (config overrides) must not pile up
            _KNOWN.clear()
        tiers = (price.tier_for(0), *price.tiers)
        known = _KNOWN[id(price)] = (price, tuple((tier.start, _whole(tier)) for tier in tiers))
    table = known[1]
    rates = table[0][1]
    for start, tier_rates in table[1:]:
        if prompt_tokens > start:
            rates = tier_rates
    return rates


def _whole(tier: Any) -> tuple[int, ...] | None:
    usd = (tier.input, tier.output, tier.cache_write, tier.cache_write_1h_price, tier.cache_read)
    rates = [price * NANO_PER_MTOK_USD for price in usd]
    if any(rate != rate.to_integral_value() for rate in rates):
        return None
    return tuple(int(rate) for rate in rates)
