"""The dashboard's charts are scaled to the data with the budget marked (issue 15 item 9): a budget far
above the spend no longer flattens every line onto $0; a daily spend bar chart names its peak day."""

from __future__ import annotations

import re

from acme_ci_budget.report import charts

NANO = 10**9


def _points(svg: str) -> list[tuple[float, float]]:
    found = re.search(r'<polyline points="([^"]+)"', svg)
    assert found, svg
    return [tuple(map(float, p.split(","))) for p in found.group(1).split()]


def test_a_budget_far_above_the_spend_is_named_not_drawn_and_the_line_rises():
    # $3 spent against a $200 budget: on the budget's scale the line would sit 1.5% above $0
    svg = charts.cumulative_chart("c", "CI", [NANO, NANO, NANO], 30, 200 * NANO, 3)
    (_, y0), *_, (_, y3) = _points(svg)
    assert y0 - y3 > 100  # the spend climbs most of the 170-unit plot, not a pixel or two
    assert 'stroke-dasharray="6 4"' not in svg  # no budget line squeezed in
    assert "Budget $200 ↑" in svg  # but the budget is marked, at the top edge
    assert "against a $200.00 monthly budget" in svg  # and said in words


def test_a_budget_within_reach_is_drawn_on_the_same_scale():
    svg = charts.cumulative_chart("c", "CI", [4 * NANO] * 3, 30, 15 * NANO, 3)
    assert 'stroke-dasharray="6 4"' in svg and "Budget $15" in svg and "↑" not in svg


def test_spend_bars_scale_to_the_spend_and_mark_limits():
    rows = [("CI", 2 * NANO, 200 * NANO, "OK"), ("Dev", 10 * NANO, 12 * NANO, "WARN")]
    svg = charts.spend_bars("b", "Spend", rows)
    widths = [float(w) for w in re.findall(r'<rect x="0" y="[\d.]+" width="([\d.]+)" height="14" rx="3" fill="#', svg)]
    # tracks are full width; CI's $2 fill is a fifth of the largest spend's, not 1% of the $200 budget
    fills = [w for w in widths if w < 392]
    assert fills and min(fills) > 50
    assert "budget off scale" in svg  # CI's $200 budget is far off this scale
    assert svg.count('stroke="#c62828" stroke-width="2"') == 1  # Dev's $12 limit is drawn as a tick


def test_daily_bars_name_the_peak_day_and_the_daily_limit():
    days = [0] * 30
    days[3], days[13] = 2 * NANO, 5 * NANO
    svg = charts.daily_bars("d", "Dev", days, 20, 6 * NANO)
    assert svg.count("<rect") == 2 and "day 14: $5.00" in svg and "peak $5" in svg
    assert "peak day 14 at $5.00" in svg and "Daily limit $6" in svg
    far = charts.daily_bars("d2", "Dev", days, 20, 600 * NANO)
    assert "Daily limit" not in far and "Budget $600 ↑" in far
    idle = charts.daily_bars("d3", "Idle", [0] * 30, 20)
    assert "<rect" not in idle and "no spend" in idle
