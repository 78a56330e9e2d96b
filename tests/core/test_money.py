"""core/money.py: the one price format (issue 15 item 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from acme_ci_budget.core.money import fmt_price


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        (Decimal("0.8"), "$0.80"),
        (Decimal("4"), "$4.00"),
        (Decimal("3.75"), "$3.75"),
        (Decimal("0.125"), "$0.125"),  # more places only when the price has them
        (Decimal("0.080"), "$0.08"),
        (Decimal("1500"), "$1,500.00"),
        ("18", "$18.00"),
        (0.3, "$0.30"),
    ],
)
def test_fmt_price_shows_cents_always(price, shown):
    assert fmt_price(price) == shown
