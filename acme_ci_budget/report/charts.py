"""Inline SVG charts for the HTML dashboard: pure functions from numbers to SVG markup.

Owns the drawing: scales, ticks, bars, lines and legends, each chart with a
``<title>`` and ``<desc>`` that say in words what it shows (the text
alternative for screen readers). Output is self-contained SVG (no scripts,
fonts, images or URLs; not even an ``xmlns``, which inline SVG in HTML does not
need) sized by ``viewBox`` so it scales to the page width. Every piece of text
is escaped. Money comes in as integer nano-USD. It must not read the report
model, Redis or files; the renderer passes plain values in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from acme_ci_budget.core.money import fmt_usd

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#F0E442")
HEALTH_COLORS = {"OK": "#1a7f37", "WARN": "#b06d00", "CRIT": "#c62828"}
INK = "#1f2937"  # labels: 14:1 on white
MUTED = "#4b5563"  # axis text: 7.6:1 on white
GRID = "#e5e7eb"
TRACK = "#eef0f3"
BUDGET = "#c62828"
SPEND = "#0072B2"
VALUE = "#1a7f37"

BUDGET_REACH = 4.0  # a budget up to this many times the data's peak is drawn on the data's scale (>= 1/4 height)
OFF_SCALE_TOP = 30.0  # room above the plot for the label of a budget far above the data
WIDTH = 400  # viewBox width: close to a phone's CSS width, so text stays readable when it scales


def _f(value: float) -> str:
    """A coordinate with at most one decimal (smaller SVG, stable output)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def usd_short(nano: int) -> str:
    """Axis label money: whole dollars when the amount allows, cents below $10."""
    if abs(nano) >= 10 * 10**9 or nano % 10**9 == 0:
        return fmt_usd(nano, 0)
    return fmt_usd(nano, 2)


def nice_ticks(max_nano: int, count: int = 4) -> list[int]:
    """Round tick values from 0 to at least ``max_nano`` (1, 2, 2.5 or 5 times a power of ten)."""
    if max_nano <= 0:
        return [0, 10**9]
    raw = max_nano / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    step_nano = max(1, round(step))
    ticks = [0]
    while ticks[-1] < max_nano:
        ticks.append(ticks[-1] + step_nano)
    return ticks


def _svg(
    cid: str,
    title: str,
    desc: str,
    height: float,
    body: list[str],
    css_class: str = "chart",
    aspect: str = "xMidYMid meet",
) -> Markup:
    head = (
        f'<svg class="{escape(css_class)}" viewBox="0 0 {WIDTH} {_f(height)}" role="img" '
        f'aria-labelledby="{escape(cid)}-t {escape(cid)}-d" preserveAspectRatio="{aspect}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
    )
    parts = [
        head,
        f'<title id="{escape(cid)}-t">{escape(title)}</title>',
        f'<desc id="{escape(cid)}-d">{escape(desc)}</desc>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))


def _text(
    x: float, y: float, text: str, *, size: int = 12, fill: str = INK, anchor: str = "start", weight: str = ""
) -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def _money_grid(ticks: Sequence[int], y: Callable[[float], float], left: float, right: float) -> list[str]:
    """Horizontal grid lines at ``ticks`` with their dollar labels left of the plot."""
    body = []
    for tick in ticks:
        body.append(
            f'<line x1="{_f(left)}" x2="{_f(WIDTH - right)}" y1="{_f(y(tick))}" y2="{_f(y(tick))}" stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y(tick) + 4, usd_short(tick), size=11, fill=MUTED, anchor="end"))
    return body


def _limit_line(y_at: float, left: float, right: float, label: str) -> list[str]:
    """A dashed budget line across the plot at ``y_at``, named at its left end."""
    return [
        f'<line x1="{_f(left)}" x2="{_f(WIDTH - right)}" y1="{_f(y_at)}" y2="{_f(y_at)}" '
        f'stroke="{BUDGET}" stroke-width="1.5" stroke-dasharray="6 4"/>',
        _text(left + 4, y_at - 5, label, size=11, fill=BUDGET),
    ]


def _off_scale(x: float, y: float, limit_nano: int, y_max: int) -> str:
    """The budget named at the top edge when it is far above the data (the chart is scaled to the data)."""
    times = limit_nano / y_max if y_max else 0
    return _text(
        x, y, f"Budget {usd_short(limit_nano)} ↑ ({times:,.0f}x this scale)", size=11, fill=BUDGET, anchor="end"
    )


def cumulative_chart(
    cid: str,
    label: str,
    daily_nano: Sequence[int],
    days_in_month: int,
    limit_nano: int,
    days_shown: int,
    forecast_nano: int | None = None,
) -> Markup:
    """Cumulative spend by day against the monthly budget line, with the even-pace diagonal.

    ``days_shown`` days of ``daily_nano`` are drawn (today for the current month); a forecast
    continues the line, dashed, to the month's last day.
    """
    cumulative, total = [], 0
    for value in daily_nano[:days_shown]:
        total += value
        cumulative.append(total)
    data_max = max(total, forecast_nano or 0)
    # Scaled to the data: a budget far above the spend would flatten the line onto $0, so it is drawn
    # only when it is within reach of the data, and named above the plot otherwise.
    on_scale = bool(limit_nano) and (not data_max or limit_nano <= data_max * BUDGET_REACH)
    top = 14.0 if on_scale or not limit_nano else OFF_SCALE_TOP
    left, right, bottom, height = 46.0, 12.0, 26.0, 196.0 + top
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    ticks = nice_ticks(max(data_max, limit_nano if on_scale else 0))
    y_max = ticks[-1]

    def x(day: float) -> float:
        return left + plot_w * day / days_in_month

    def y(nano: float) -> float:
        return top + plot_h - plot_h * nano / y_max

    body = _money_grid(ticks, y, left, right)
    for day in sorted({1, 8, 15, 22, days_in_month}):
        body.append(_text(x(day), height - 8, str(day), size=11, fill=MUTED, anchor="middle"))
    base = f'<line x1="{_f(left)}" x2="{_f(WIDTH - right)}" y1="{_f(y(0))}" y2="{_f(y(0))}" stroke="{MUTED}"/>'
    body.append(base)
    if on_scale:
        body.append(
            f'<line x1="{_f(x(0))}" y1="{_f(y(0))}" x2="{_f(x(days_in_month))}" y2="{_f(y(limit_nano))}" '
            f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="2 3"/>'
        )
        body += _limit_line(y(limit_nano), left, right, f"Budget {usd_short(limit_nano)}")
    elif limit_nano:
        body.append(_off_scale(WIDTH - right, 12, limit_nano, y_max))
    if cumulative:
        points = [(x(0), y(0))] + [(x(d), y(v)) for d, v in enumerate(cumulative, start=1)]
        line = " ".join(f"{_f(px)},{_f(py)}" for px, py in points)
        area = f"{line} {_f(points[-1][0])},{_f(y(0))} {_f(points[0][0])},{_f(y(0))}"
        body.append(f'<polygon points="{area}" fill="{SPEND}" fill-opacity="0.12"/>')
        body.append(
            f'<polyline points="{line}" fill="none" stroke="{SPEND}" stroke-width="2.5" stroke-linejoin="round"/>'
        )
        end_x, end_y = points[-1]
        if forecast_nano is not None and days_shown < days_in_month:
            body.append(
                f'<line x1="{_f(end_x)}" y1="{_f(end_y)}" x2="{_f(x(days_in_month))}" y2="{_f(y(forecast_nano))}" '
                f'stroke="{SPEND}" stroke-width="2" stroke-dasharray="5 4"/>'
            )
        body.append(f'<circle cx="{_f(end_x)}" cy="{_f(end_y)}" r="3.5" fill="{SPEND}"/>')
    spent = cumulative[-1] if cumulative else 0
    desc = f"{label}: {fmt_usd(spent)} spent by day {days_shown} of {days_in_month}"
    desc += f" against a {fmt_usd(limit_nano)} monthly budget" if limit_nano else " (no budget)"
    if forecast_nano is not None:
        desc += f"; forecast {fmt_usd(forecast_nano)} by month end"
    return _svg(cid, f"Cumulative spend: {label}", desc + ".", height, body)


def spend_bars(cid: str, title: str, rows: Sequence[tuple[str, int, int, str]]) -> Markup:
    """One bar per row (label, spend, limit, health): spend filled over a track as long as the limit."""
    row_h, top = 44.0, 6.0
    height = top + row_h * max(len(rows), 1) + 4
    top_spend = max([spend for _, spend, _, _ in rows] + [0])
    # Scaled to the spend: limits within reach widen the scale, the rest are named, not drawn.
    reach = [limit for _, _, limit, _ in rows if limit and (not top_spend or limit <= top_spend * BUDGET_REACH)]
    scale = max([top_spend, *reach, 1])
    bar_w = WIDTH - 8
    body, words = [], []
    for i, (label, spend, limit, health) in enumerate(rows):
        y0 = top + i * row_h
        share = f" ({spend * 100 / limit:.0f}%)" if limit else ""
        value = f"{fmt_usd(spend)} of {fmt_usd(limit)}{share}" if limit else fmt_usd(spend)
        body.append(_text(0, y0 + 13, label, size=12.5, weight="600"))
        body.append(_text(WIDTH, y0 + 13, value, size=12, fill=MUTED, anchor="end"))
        body.append(f'<rect x="0" y="{_f(y0 + 20)}" width="{_f(bar_w)}" height="14" rx="3" fill="{TRACK}"/>')
        fill_w = bar_w * spend / scale
        if spend:
            body.append(
                f'<rect x="0" y="{_f(y0 + 20)}" width="{_f(max(fill_w, 2))}" height="14" rx="3" '
                f'fill="{HEALTH_COLORS.get(health, SPEND)}"/>'
            )
        if limit and limit <= scale:
            lx = bar_w * limit / scale
            body.append(
                f'<line x1="{_f(lx)}" x2="{_f(lx)}" y1="{_f(y0 + 16)}" y2="{_f(y0 + 38)}" stroke="{BUDGET}" '
                'stroke-width="2"/>'
            )
        elif limit:
            body.append(_text(bar_w, y0 + 31, "budget off scale →", size=10, fill=BUDGET, anchor="end"))
        words.append(f"{label} {value} [{health}]")
    desc = "; ".join(words) if words else "No workflows."
    return _svg(cid, title, desc, height, body)


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A stable colour per model, in the order given (most spend first)."""
    return {model: PALETTE[i % len(PALETTE)] for i, model in enumerate(models)}


def share_bars(
    cid: str, title: str, rows: Sequence[tuple[str, Sequence[tuple[str, int]]]], colors: dict[str, str]
) -> Markup:
    """A 100% stacked bar per row (label, [(series, nano)]) with a legend of every series below."""
    row_h, top = 40.0, 6.0
    series = list(colors)
    legend_h = 20.0 * len(series) + 8
    height = top + row_h * max(len(rows), 1) + legend_h
    body, words = [], []
    for i, (label, parts) in enumerate(rows):
        y0 = top + i * row_h
        total = sum(v for _, v in parts)
        body.append(_text(0, y0 + 13, label, size=12.5, weight="600"))
        if not total:
            body.append(f'<rect x="0" y="{_f(y0 + 19)}" width="{WIDTH}" height="14" rx="3" fill="{TRACK}"/>')
            body.append(_text(WIDTH / 2, y0 + 30, "no spend", size=11, fill=MUTED, anchor="middle"))
            words.append(f"{label}: no spend")
            continue
        x0 = 0.0
        shares = []
        for name, value in parts:
            if not value:
                continue
            w = WIDTH * value / total
            body.append(
                f'<rect x="{_f(x0)}" y="{_f(y0 + 19)}" width="{_f(w)}" height="14" fill="{colors.get(name, "#999")}">'
                f"<title>{escape(name)}: {value * 100 / total:.1f}%</title></rect>"
            )
            x0 += w
            shares.append(f"{name} {value * 100 / total:.0f}%")
        words.append(f"{label}: " + ", ".join(shares))
    y_legend = top + row_h * max(len(rows), 1) + 8
    for j, name in enumerate(series):
        yy = y_legend + 20 * j
        body.append(f'<rect x="0" y="{_f(yy)}" width="12" height="12" rx="2" fill="{colors[name]}"/>')
        body.append(_text(18, yy + 10.5, name, size=12))
    desc = "; ".join(words) if words else "No spend."
    return _svg(cid, title, desc, height, body)


def roi_bars(cid: str, title: str, rows: Sequence[tuple[str, int, int]]) -> Markup:
    """Value created next to AI spend per row (label, value, spend), on one scale."""
    row_h, top, legend_h = 54.0, 6.0, 24.0
    height = top + row_h * max(len(rows), 1) + legend_h
    scale = max([max(v, s) for _, v, s in rows] + [1])
    label_w = 84.0  # room for the amount at the end of the longest bar
    bar_w = WIDTH - label_w
    body, words = [], []
    for i, (label, value, spend) in enumerate(rows):
        y0 = top + i * row_h
        body.append(_text(0, y0 + 13, label, size=12.5, weight="600"))
        for k, (amount, color) in enumerate(((value, VALUE), (spend, SPEND))):
            yy = y0 + 19 + k * 15
            w = max(bar_w * amount / scale, 1.5 if amount else 0)
            body.append(f'<rect x="0" y="{_f(yy)}" width="{_f(w)}" height="12" rx="2" fill="{color}"/>')
            body.append(_text(w + 5, yy + 10, fmt_usd(amount), size=11, fill=MUTED))
        words.append(f"{label}: value {fmt_usd(value)}, AI spend {fmt_usd(spend)}")
    y_legend = top + row_h * max(len(rows), 1) + 6
    body.append(f'<rect x="0" y="{_f(y_legend)}" width="12" height="12" rx="2" fill="{VALUE}"/>')
    body.append(_text(18, y_legend + 10.5, "Value created", size=12))
    body.append(f'<rect x="130" y="{_f(y_legend)}" width="12" height="12" rx="2" fill="{SPEND}"/>')
    body.append(_text(148, y_legend + 10.5, "AI spend", size=12))
    desc = "; ".join(words) if words else "No ROI data."
    return _svg(cid, title, desc, height, body)


def meter(cid: str, label: str, pct_used: float, marks: Sequence[tuple[float, str]] = ()) -> Markup:
    """A slim horizontal gauge of a percentage (0-100, capped for drawing), with optional marks (pct, name)."""
    height = 22.0
    shown = max(0.0, min(pct_used, 100.0))
    color = HEALTH_COLORS["CRIT"] if pct_used >= 100 else HEALTH_COLORS["WARN"] if pct_used >= 80 else SPEND
    # Stretched to the card's width (preserveAspectRatio none), so no rounded corners to distort.
    body = [
        f'<rect x="0" y="4" width="{WIDTH}" height="12" fill="{TRACK}"/>',
        f'<rect x="0" y="4" width="{_f(WIDTH * shown / 100)}" height="12" fill="{color}"/>',
    ]
    for mark, _name in marks:
        mx = WIDTH * max(0.0, min(mark, 100.0)) / 100
        body.append(
            f'<line x1="{_f(mx)}" x2="{_f(mx)}" y1="0" y2="20" stroke="{INK}" stroke-width="2" '
            'vector-effect="non-scaling-stroke"/>'
        )
    names = ", ".join(f"{name} at {mark:.0f}%" for mark, name in marks)
    desc = f"{label}: {pct_used:.1f}% used" + (f" ({names})" if names else "")
    return _svg(cid, label, desc, height, body, css_class="meter", aspect="none")


def daily_bars(
    cid: str,
    label: str,
    daily_nano: Sequence[int],
    days_shown: int,
    limit_nano: int = 0,
) -> Markup:
    """Spend per day as bars, scaled to the busiest day, its peak named; a daily limit line when within reach."""
    days = list(daily_nano)
    peak = max(days[:days_shown], default=0)
    on_scale = bool(limit_nano) and (not peak or limit_nano <= peak * BUDGET_REACH)
    top = 18.0 if on_scale or not limit_nano else OFF_SCALE_TOP + 4
    left, right, bottom, height = 46.0, 12.0, 26.0, 152.0 + top
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    ticks = nice_ticks(max(peak, limit_nano if on_scale else 0))
    y_max = ticks[-1]
    slot = plot_w / max(len(days), 1)

    def y(nano: float) -> float:
        return top + plot_h - plot_h * nano / y_max

    body = _money_grid(ticks, y, left, right)
    peak_day = days.index(peak) + 1 if peak else None
    for day, value in enumerate(days[:days_shown], start=1):
        if not value:
            continue
        bx = left + slot * (day - 1) + slot * 0.15
        color = BUDGET if on_scale and value >= limit_nano else SPEND
        body.append(
            f'<rect x="{_f(bx)}" y="{_f(y(value))}" width="{_f(slot * 0.7)}" height="{_f(max(y(0) - y(value), 1))}" '
            f'fill="{color}"><title>day {day}: {escape(fmt_usd(value))}</title></rect>'
        )
    for day in sorted({1, 8, 15, 22, len(days)}):
        body.append(_text(left + slot * (day - 0.5), height - 8, str(day), size=11, fill=MUTED, anchor="middle"))
    if on_scale:
        body += _limit_line(y(limit_nano), left, right, f"Daily limit {usd_short(limit_nano)}")
    elif limit_nano:
        body.append(_off_scale(WIDTH - right, 12, limit_nano, y_max))
    if peak_day is not None:
        px = min(max(left + slot * (peak_day - 0.5), left + 40), WIDTH - right - 40)
        body.append(_text(px, max(y(peak) - 5, 11), f"peak {usd_short(peak)}", size=11, fill=INK, anchor="middle"))
    desc = f"{label}: spend per day for {days_shown} days"
    desc += f"; peak day {peak_day} at {fmt_usd(peak)}" if peak_day else "; no spend"
    if limit_nano:
        desc += f"; daily limit {fmt_usd(limit_nano)}"
    return _svg(cid, f"Daily spend: {label}", desc + ".", height, body)
