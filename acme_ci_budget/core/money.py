"""Money as integer nano-USD: conversion and formatting.

Owns the one representation of money the ledger stores (1 USD = 10**9 nano)
and the conversions at the edges (config input, printed output). It must not
round anything that is later summed: callers add nano integers, then format.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NANO_PER_USD = 1_000_000_000


def usd_to_nano(usd: Decimal | int | float | str) -> int:
    """Whole nano-USD for a USD amount, rounded half up (floats go through ``str`` to stay exact)."""
    value = usd if isinstance(usd, Decimal) else Decimal(str(usd))
    return int((value * NANO_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def nano_to_usd(nano: int) -> float:
    """USD as a float, for display and JSON only."""
    return nano / NANO_PER_USD


def nano_to_decimal(nano: int) -> Decimal:
    return Decimal(nano) / NANO_PER_USD


def fmt_usd(nano: int, places: int = 2) -> str:
    """``$1,234.57``: rounded half up from the exact nano amount, never from a float."""
    amount = nano_to_decimal(nano).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.{places}f}"


def fmt_price(usd: Decimal | int | float | str) -> str:
    """A unit price (USD per million tokens) in one format: cents always, more places only when the price
    has them ("$0.80", "$4.00", "$3.75", "$0.125")."""
    amount = Decimal(str(usd))
    cents = amount.quantize(Decimal("0.01"))
    text = f"{cents:,.2f}" if cents == amount else f"{amount.normalize():,f}"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def pct(part: int, whole: int) -> float:
    """Percentage of ``whole`` (0 when there is no whole)."""
    return (part * 100.0 / whole) if whole else 0.0
