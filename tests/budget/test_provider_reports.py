"""Reading Anthropic's report pages (budget/provider_reports.py): exact cents, UTC days, attribution, bad data."""

from __future__ import annotations

import pytest

from acme_ci_budget.budget.provider_reports import ReconcileDataError, parse_cents, provider_side
from acme_ci_budget.budget.reconcile import UNCACHED
from tests.budget.test_reconcile import SONNET, amount, cost, tok, usage


@pytest.mark.parametrize(
    "text, nano",
    [("123.45", 1_234_500_000), ("0", 0), ("0.0000001", 1), ("100", 1_000_000_000), ("-5", -50_000_000)],
)
def test_cents_strings_are_exact_nano(text, nano):
    assert parse_cents(text, "x") == nano


@pytest.mark.parametrize("bad", [12.5, "12,5", "NaN", "Infinity", "", None])
def test_bad_amounts_are_refused_by_name(bad):
    with pytest.raises(ReconcileDataError, match="bucket 3"):
        parse_cents(bad, "bucket 3")


def test_a_bucket_off_midnight_is_refused():
    with pytest.raises(ReconcileDataError, match="UTC midnight"):
        provider_side(usage([tok(uncached=1)], start="2026-10-01T05:00:00Z"), [])


def test_key_attribution_shares_each_cost_by_the_keys_tokens():
    side = provider_side(
        usage([tok(key="ci", uncached=300), tok(key="other", uncached=100), tok(key=None, uncached=100)]),
        cost([amount("0.5")]),  # 0.5 cents for 500 tokens
        api_key_ids=["ci"],
    )
    cell = side.cells[("2026-10-01", SONNET)]
    assert cell.tokens[UNCACHED] == 300 and cell.nano == 3_000_000  # 3/5 of 5,000,000 nano
    assert side.outside_nano == 2_000_000 and side.outside_tokens == 200
    assert side.cell_keys[("2026-10-01", SONNET)] == frozenset({"ci"})


def test_workspace_scope_and_non_token_costs_are_outside():
    side = provider_side(
        usage([tok(uncached=10)]),
        cost(
            [
                amount("1", workspace="ws_ci"),
                amount("7", workspace="ws_other"),
                {"amount": "2", "currency": "USD", "cost_type": "web_search", "model": None, "workspace_id": "ws_ci"},
            ]
        ),
        workspace_id="ws_ci",
    )
    assert side.cells[("2026-10-01", SONNET)].nano == 10_000_000
    assert side.outside_nano == 90_000_000


@pytest.mark.parametrize(
    "result, what",
    [
        ("x", "not a usage result object"),
        ({"model": SONNET, "uncached_input_tokens": "12"}, "uncached_input_tokens is '12'"),
        ({"model": SONNET, "output_tokens": -1}, "output_tokens is -1"),
        ({"model": SONNET, "cache_creation": [1]}, "not a usage result object"),
    ],
)
def test_unreadable_usage_results_are_refused_by_name(result, what):
    with pytest.raises(ReconcileDataError, match="usage report bucket 0 result 0") as err:
        provider_side(usage([result]), [])
    assert what in str(err.value)
    with pytest.raises(ReconcileDataError, match="cost report bucket 0 result 0: not a cost result"):
        provider_side([], cost(["x"]))


def test_the_keys_behind_each_cell_include_keyless_usage():
    side = provider_side(usage([tok(key="ci", uncached=3), tok(key=None, uncached=1)]), cost([amount("1")]))
    assert side.cell_keys[("2026-10-01", SONNET)] == frozenset({"ci", ""})  # the console's usage has no key
    assert side.cells[("2026-10-01", SONNET)].nano == 10_000_000  # no key filter: the whole bill is compared
