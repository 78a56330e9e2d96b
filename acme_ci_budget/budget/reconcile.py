"""Reconciling the ledger with Anthropic's usage and cost reports: the comparison, and nothing else.

Owns the maths: the ledger's events summed per UTC day x model (tokens by type, and nano-USD,
adjustments apart; the provider's side, summed the same way, comes from ``budget.provider_reports``),
the rows that compare them with a status (``match`` | ``drift`` | ``ledger_only`` | ``provider_only``) under a
tolerance, the totals and the drift, the adjustments that would make the ledger equal the bill,
and the month's drift figure the report shows (``DriftFigure``, from the stats the ledger keeps).

Models are compared by family (``catalog.model_ids.family``: a dated snapshot id and its alias are one
row), as the ledger may hold the id a call asked for and the reports the id that answered.

It must not fetch, read Redis, print or decide exit codes' wording: ``integrations.anthropic_admin``
fetches, ``ledger.reconcile`` reads and writes the ledger, ``runs.reconcile`` wires them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from acme_ci_budget.catalog.model_ids import family
from acme_ci_budget.core.money import nano_to_usd

# The usage report's token types, as the cost report's token_type names them.
UNCACHED = "uncached_input_tokens"
CACHE_5M = "cache_creation.ephemeral_5m_input_tokens"
CACHE_1H = "cache_creation.ephemeral_1h_input_tokens"
CACHE_READ = "cache_read_input_tokens"
OUTPUT = "output_tokens"
TOKEN_TYPES = (UNCACHED, CACHE_5M, CACHE_1H, CACHE_READ, OUTPUT)
MATCH, DRIFT, LEDGER_ONLY, PROVIDER_ONLY = "match", "drift", "ledger_only", "provider_only"
LEDGER_TYPES = ("call", "adjustment")  # the events that carry spend

Cell = tuple[str, str]  # (UTC day 'YYYY-MM-DD', model)


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


@dataclass
class Figures:
    """What one side says about one (day, model): tokens by type and nano-USD (mutable while summing)."""

    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_TYPES, 0))
    nano: int = 0
    adjusted_nano: int = 0  # the ledger's side: the part of ``nano`` that adjustment events added

    @property
    def empty(self) -> bool:
        return self.nano == 0 and not any(self.tokens.values())


def event_tokens(event: Mapping[str, Any]) -> dict[str, int]:
    """A ledger event's tokens by the provider's types (the API's input_tokens is the uncached input)."""
    writes = int(event.get("cache_creation_input_tokens", 0))
    one_hour = int(event.get("cache_creation_1h_input_tokens", 0))
    return {
        UNCACHED: int(event.get("input_tokens", 0)),
        CACHE_5M: writes - one_hour,
        CACHE_1H: one_hour,
        CACHE_READ: int(event.get("cache_read_input_tokens", 0)),
        OUTPUT: int(event.get("output_tokens", 0)),
    }


def ledger_cells(events: Iterable[Mapping[str, Any]]) -> dict[Cell, Figures]:
    """The ledger's calls and adjustments per (UTC day of the event's ``ts_ms``, model)."""
    cells: dict[Cell, Figures] = defaultdict(Figures)
    for event in events:
        if event.get("type") not in LEDGER_TYPES:
            continue
        cell = cells[(utc_day(int(event["ts_ms"])), family(str(event.get("model", ""))))]
        cost = int(event.get("cost_nano", 0))
        cell.nano += cost
        if event.get("type") == "adjustment":
            cell.adjusted_nano += cost
        for kind, count in event_tokens(event).items():
            cell.tokens[kind] += count
    return dict(cells)


@dataclass(frozen=True)
class ProviderSide:
    """The provider's figures for this product's usage, and what it billed outside it."""

    cells: Mapping[Cell, Figures]
    outside_nano: int  # billed, but to other keys / workspaces / non-token costs not attributable here
    outside_tokens: int
    # the API keys of this product's usage per cell ('' : no key, or the report was not grouped by key)
    cell_keys: Mapping[Cell, frozenset[str]] = field(default_factory=dict)


def within(ledger: int, provider: int, tolerance_pct: Decimal) -> bool:
    """|ledger - provider| is at most ``tolerance_pct`` % of the provider's figure (the bill is the truth)."""
    if provider == 0:
        return ledger == 0
    return abs(ledger - provider) * 100 <= tolerance_pct * abs(provider)


def drift_pct(ledger: int, provider: int) -> float | None:
    """(ledger - provider) / provider in %, or None when the provider shows nothing."""
    return (ledger - provider) * 100.0 / provider if provider else None


@dataclass(frozen=True)
class Row:
    day: str
    model: str
    ledger_nano: int
    provider_nano: int
    ledger_tokens: Mapping[str, int]
    provider_tokens: Mapping[str, int]
    adjusted_nano: int
    status: str

    @property
    def drift_nano(self) -> int:
        return self.ledger_nano - self.provider_nano

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "model": self.model,
            "ledger_usd": nano_to_usd(self.ledger_nano),
            "provider_usd": nano_to_usd(self.provider_nano),
            "drift_usd": nano_to_usd(self.drift_nano),
            "drift_pct": drift_pct(self.ledger_nano, self.provider_nano),
            "adjustments_usd": nano_to_usd(self.adjusted_nano),
            "ledger_tokens": dict(self.ledger_tokens),
            "provider_tokens": dict(self.provider_tokens),
            "status": self.status,
        }


@dataclass(frozen=True)
class Adjustment:
    """What one (day, model) needs added to the ledger so it equals the provider (money and tokens)."""

    day: str
    model: str
    nano: int
    tokens: Mapping[str, int]
    workflow: str | None = None  # charged to this workflow too (its API keys map to it), else the org only


def _status(ledger: Figures, provider: Figures, tolerance: Decimal) -> str:
    if provider.empty:
        return LEDGER_ONLY
    if ledger.empty:
        return PROVIDER_ONLY
    pairs = [(ledger.nano, provider.nano)] + [(ledger.tokens[k], provider.tokens[k]) for k in TOKEN_TYPES]
    return MATCH if all(within(a, b, tolerance) for a, b in pairs) else DRIFT


def compare(
    ledger: Mapping[Cell, Figures], provider: ProviderSide, tolerance_pct: Decimal | float | str, period: str
) -> Reconciliation:
    """One row per (day, model) either side knows, with its status under ``tolerance_pct``."""
    tolerance = Decimal(str(tolerance_pct))
    rows = []
    for cell in sorted(set(ledger) | set(provider.cells)):
        mine, theirs = ledger.get(cell, Figures()), provider.cells.get(cell, Figures())
        if mine.empty and theirs.empty:
            continue
        rows.append(
            Row(
                cell[0],
                cell[1],
                mine.nano,
                theirs.nano,
                dict(mine.tokens),
                dict(theirs.tokens),
                mine.adjusted_nano,
                _status(mine, theirs, tolerance),
            )
        )
    return Reconciliation(period, tolerance, tuple(rows), provider.outside_nano, provider.outside_tokens)


def _token_delta(row: Row) -> dict[str, int]:
    return {k: row.provider_tokens[k] - row.ledger_tokens[k] for k in TOKEN_TYPES}


@dataclass(frozen=True)
class Reconciliation:
    period: str
    tolerance_pct: Decimal
    rows: tuple[Row, ...]
    outside_nano: int = 0
    outside_tokens: int = 0

    @property
    def ledger_nano(self) -> int:
        return sum(r.ledger_nano for r in self.rows)

    @property
    def provider_nano(self) -> int:
        return sum(r.provider_nano for r in self.rows)

    @property
    def adjusted_nano(self) -> int:
        return sum(r.adjusted_nano for r in self.rows)

    @property
    def drift_nano(self) -> int:
        return self.ledger_nano - self.provider_nano

    @property
    def drift_pct(self) -> float | None:
        return drift_pct(self.ledger_nano, self.provider_nano)

    @property
    def within_tolerance(self) -> bool:
        return all(r.status == MATCH for r in self.rows)

    def by_status(self, status: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status == status)

    def adjustments(self) -> tuple[Adjustment, ...]:
        """One per row that drifts or that the ledger never saw; ledger-only rows are a red flag for a
        person (wrong key ids, a call the provider has not reported yet), never written off."""
        return tuple(
            Adjustment(r.day, r.model, -r.drift_nano, _token_delta(r))
            for r in self.rows
            if r.status in (DRIFT, PROVIDER_ONLY)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "tolerance_pct": float(self.tolerance_pct),
            "ledger_usd": nano_to_usd(self.ledger_nano),
            "provider_usd": nano_to_usd(self.provider_nano),
            "drift_usd": nano_to_usd(self.drift_nano),
            "drift_pct": self.drift_pct,
            "within_tolerance": self.within_tolerance,
            "adjustments_usd": nano_to_usd(self.adjusted_nano),
            "outside_budget_usd": nano_to_usd(self.outside_nano),
            "outside_budget_tokens": self.outside_tokens,
            "rows": [r.to_json() for r in self.rows],
        }


# --- the month's figure, as the report shows it --------------------------------------------------

STAT_LEDGER, STAT_PROVIDER, STAT_AT = "reconcile_ledger_nano", "reconcile_provider_nano", "reconcile_at_ms"
STAT_ADJUSTED = "adjust_nano|org"


@dataclass(frozen=True)
class DriftFigure:
    """The last reconcile of a month: ledger and provider USD, and adjustments recorded since."""

    ledger_nano: int
    provider_nano: int
    adjusted_nano: int
    at_ms: int

    @property
    def drift_pct(self) -> float | None:
        return drift_pct(self.ledger_nano, self.provider_nano)

    @property
    def drift_text(self) -> str:
        value = self.drift_pct
        return "n/a (the provider shows no spend)" if value is None else f"{value:+.2f}%"

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger_usd": nano_to_usd(self.ledger_nano),
            "provider_usd": nano_to_usd(self.provider_nano),
            "drift_pct": self.drift_pct,
            "adjustments_usd": nano_to_usd(self.adjusted_nano),
            "at": datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat(),
        }


def drift_from_stats(stats: Mapping[str, int]) -> DriftFigure | None:
    """The month's ``DriftFigure`` from its stats hash (``ledger.reconcile.record_result`` writes it), if any."""
    if STAT_AT not in stats:
        return None
    return DriftFigure(
        int(stats.get(STAT_LEDGER, 0)),
        int(stats.get(STAT_PROVIDER, 0)),
        int(stats.get(STAT_ADJUSTED, 0)),
        int(stats[STAT_AT]),
    )
