"""The reconcile maths (budget/reconcile.py): exact cents, UTC days, attribution, statuses, tolerance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from acme_ci_budget.budget.provider_reports import provider_side
from acme_ci_budget.budget.reconcile import (
    CACHE_1H,
    CACHE_5M,
    OUTPUT,
    UNCACHED,
    compare,
    drift_from_stats,
    ledger_cells,
    within,
)

SONNET = "claude-sonnet-5-5"
D1 = "2026-10-01T00:00:00Z"


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def usage(results, start=D1):
    return [{"starting_at": start, "ending_at": "x", "results": results}]


def cost(results, start=D1):
    return [{"starting_at": start, "ending_at": "x", "results": results}]


def tok(model=SONNET, key=None, uncached=0, output=0, c5=0, c1=0):
    return {
        "model": model,
        "api_key_id": key,
        "uncached_input_tokens": uncached,
        "output_tokens": output,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": c5, "ephemeral_1h_input_tokens": c1},
    }


def amount(cents, kind=UNCACHED, model=SONNET, workspace=None):
    return {
        "amount": cents,
        "currency": "USD",
        "cost_type": "tokens",
        "model": model,
        "token_type": kind,
        "workspace_id": workspace,
    }


def test_ledger_events_fall_on_the_utc_day_of_their_time_not_the_local_day():
    events = [
        {
            "type": "call",
            "ts_ms": ms(2026, 10, 1, 23, 59, 59),
            "model": SONNET,
            "cost_nano": 5,
            "input_tokens": 1,
            "cache_creation_input_tokens": 7,
            "cache_creation_1h_input_tokens": 3,
            "day": "2026-10-02",
        },
        {"type": "call", "ts_ms": ms(2026, 10, 2, 0, 0, 0), "model": SONNET, "cost_nano": 6, "output_tokens": 2},
        {"type": "block", "ts_ms": ms(2026, 10, 2, 1), "model": SONNET, "cost_nano": 0},
        {"type": "adjustment", "ts_ms": ms(2026, 10, 2, 12), "model": SONNET, "cost_nano": -2},
    ]
    cells = ledger_cells(events)
    first, second = cells[("2026-10-01", SONNET)], cells[("2026-10-02", SONNET)]
    assert (first.nano, first.tokens[UNCACHED], first.tokens[CACHE_5M], first.tokens[CACHE_1H]) == (5, 1, 4, 3)
    assert (second.nano, second.adjusted_nano, second.tokens[OUTPUT]) == (4, -2, 2)


def test_statuses_and_tolerance():
    ledger = ledger_cells(
        [
            {
                "type": "call",
                "ts_ms": ms(2026, 10, 1, 9),
                "model": SONNET,
                "cost_nano": 100_000_000,
                "input_tokens": 100,
            },
            {
                "type": "call",
                "ts_ms": ms(2026, 10, 1, 9),
                "model": "claude-haiku-5-5",
                "cost_nano": 9,
                "input_tokens": 3,
            },
            {
                "type": "call",
                "ts_ms": ms(2026, 10, 2, 9),
                "model": SONNET,
                "cost_nano": 99_500_000,
                "input_tokens": 100,
            },
        ]
    )
    provider = provider_side(
        usage([tok(uncached=100)])
        + usage([tok(uncached=100)], "2026-10-02T00:00:00Z")
        + usage([tok(model="claude-opus-5-5", uncached=5)], "2026-10-03T00:00:00Z"),
        cost([amount("8")])
        + cost([amount("10")], "2026-10-02T00:00:00Z")
        + cost([amount("1", model="claude-opus-5-5")], "2026-10-03T00:00:00Z"),
    )
    result = compare(ledger, provider, Decimal("1"), "2026-10")
    assert [(r.day, r.model, r.status) for r in result.rows] == [
        ("2026-10-01", "claude-haiku-5-5", "ledger_only"),
        ("2026-10-01", SONNET, "drift"),  # $0.10 vs $0.08
        ("2026-10-02", SONNET, "match"),  # 0.5% under
        ("2026-10-03", "claude-opus-5-5", "provider_only"),
    ]
    assert not result.within_tolerance
    assert result.ledger_nano == 199_500_009 and result.provider_nano == 190_000_000
    assert result.drift_nano == 9_500_009
    adjustments = result.adjustments()
    assert [(a.day, a.model, a.nano) for a in adjustments] == [
        ("2026-10-01", SONNET, -20_000_000),
        ("2026-10-03", "claude-opus-5-5", 10_000_000),
    ]
    assert adjustments[1].tokens[UNCACHED] == 5
    data = result.to_json()
    assert set(data) >= {"period", "tolerance_pct", "ledger_usd", "provider_usd", "drift_usd", "drift_pct", "rows"}
    assert set(data["rows"][0]) >= {
        "day",
        "model",
        "ledger_usd",
        "provider_usd",
        "ledger_tokens",
        "provider_tokens",
        "status",
    }
    assert compare(ledger, provider, Decimal("25"), "p").by_status("drift") == ()


def test_token_drift_alone_is_drift():
    ledger = ledger_cells(
        [
            {
                "type": "call",
                "ts_ms": ms(2026, 10, 1, 9),
                "model": SONNET,
                "cost_nano": 10_000_000,
                "input_tokens": 50,
                "output_tokens": 50,
            }
        ]
    )
    provider = provider_side(usage([tok(uncached=100)]), cost([amount("1")]))
    assert compare(ledger, provider, 1, "p").rows[0].status == "drift"


def test_within_is_relative_to_the_provider():
    assert within(101, 100, Decimal(1)) and not within(102, 100, Decimal(1))
    assert within(0, 0, Decimal(0)) and not within(1, 0, Decimal(100))


def test_the_report_figure_comes_from_the_month_stats():
    assert drift_from_stats({"cost|x": 5}) is None
    figure = drift_from_stats(
        {"reconcile_ledger_nano": 102, "reconcile_provider_nano": 100, "reconcile_at_ms": 0, "adjust_nano|org": -2}
    )
    assert figure.drift_text == "+2.00%" and figure.adjusted_nano == -2


def test_a_dated_id_and_its_alias_are_one_row():
    ledger = ledger_cells(
        [
            {
                "type": "call",
                "ts_ms": ms(2026, 10, 1, 9),
                "model": f"{SONNET}-20261001",
                "cost_nano": 10_000_000,
                "input_tokens": 100,
            }
        ]
    )
    provider = provider_side(usage([tok(uncached=100)]), cost([amount("1", model=f"{SONNET}-20261001")]))
    (row,) = compare(ledger, provider, 1, "p").rows
    assert (row.model, row.status) == (SONNET, "match")
