"""Reconciling the ledger with Anthropic's usage and cost reports: the comparison, and nothing else.

Owns the maths: the ledger's events summed per UTC day x model (tokens by type, and nano-USD,
adjustments apart), the provider's usage and cost buckets summed the same way (cents decimal strings
parsed exactly with ``Decimal``; attribution to this product's API keys and workspace), the rows
that compare them with a status (``match`` | ``drift`` | ``ledger_only`` | ``provider_only``) under a
tolerance, the totals and the drift, the adjustments that would make the ledger equal the bill,
and the month's drift figure the report shows (``DriftFigure``, from the stats the ledger keeps).

Models are compared by family (``catalog.model_ids.family``: a dated snapshot id and its alias are one
row), as the ledger may hold the id a call asked for and the reports the id that answered.

Provider USD for a subset of keys: the cost report cannot be filtered by API key, so a key's share
of a (day, model, token type) cost is that cost times the key's share of those tokens in the usage
report (the provider's own unit price that day). It is exact when no key filter is set.

It must not fetch, read Redis, print or decide exit codes' wording: ``integrations.anthropic_admin``
fetches, ``ledger.reconcile`` reads and writes the ledger, ``runs.reconcile`` wires them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from acme_ci_budget.catalog.model_ids import family
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import nano_to_usd

# The usage report's token types, as the cost report's token_type names them.
UNCACHED = "uncached_input_tokens"
CACHE_5M = "cache_creation.ephemeral_5m_input_tokens"
CACHE_1H = "cache_creation.ephemeral_1h_input_tokens"
CACHE_READ = "cache_read_input_tokens"
OUTPUT = "output_tokens"
TOKEN_TYPES = (UNCACHED, CACHE_5M, CACHE_1H, CACHE_READ, OUTPUT)
NANO_PER_CENT = 10_000_000
MATCH, DRIFT, LEDGER_ONLY, PROVIDER_ONLY = "match", "drift", "ledger_only", "provider_only"
LEDGER_TYPES = ("call", "adjustment")  # the events that carry spend

Cell = tuple[str, str]  # (UTC day 'YYYY-MM-DD', model)


class ReconcileDataError(AcmeError, ValueError):
    """A provider figure that cannot be read (an amount that is not a decimal, a bucket not on a UTC day)."""


def parse_cents(text: Any, where: str) -> Decimal:
    """A cost report ``amount`` (a decimal string in cents: "123.45" is $1.2345) as exact nano-USD."""
    if not isinstance(text, str):
        raise ReconcileDataError(f"{where}: amount {text!r} is not a decimal string")
    try:
        cents = Decimal(text.strip())
    except InvalidOperation:
        raise ReconcileDataError(f"{where}: amount {text!r} is not a decimal number") from None
    if not cents.is_finite():
        raise ReconcileDataError(f"{where}: amount {text!r} is not a finite number")
    return cents * NANO_PER_CENT


def _whole(nano: Decimal) -> int:
    return int(nano.to_integral_value(rounding=ROUND_HALF_EVEN))


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def bucket_day(bucket: Mapping[str, Any], where: str) -> str:
    """The UTC day a 1d bucket covers; a bucket that does not start at a UTC midnight is refused."""
    text = str(bucket.get("starting_at", ""))
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReconcileDataError(f"{where}: starting_at {text!r} is not an RFC 3339 time") from None
    if start.tzinfo is None or start.astimezone(UTC).time() != datetime.min.time():
        raise ReconcileDataError(f"{where}: bucket {text!r} does not start at a UTC midnight")
    return start.astimezone(UTC).strftime("%Y-%m-%d")


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


def _usage_tokens(result: Mapping[str, Any]) -> dict[str, int]:
    creation = result.get("cache_creation") or {}
    return {
        UNCACHED: int(result.get("uncached_input_tokens") or 0),
        CACHE_5M: int(creation.get("ephemeral_5m_input_tokens") or 0),
        CACHE_1H: int(creation.get("ephemeral_1h_input_tokens") or 0),
        CACHE_READ: int(result.get("cache_read_input_tokens") or 0),
        OUTPUT: int(result.get("output_tokens") or 0),
    }


@dataclass(frozen=True)
class ProviderSide:
    """The provider's figures for this product's usage, and what it billed outside it."""

    cells: Mapping[Cell, Figures]
    outside_nano: int  # billed, but to other keys / workspaces / non-token costs not attributable here
    outside_tokens: int
    cell_keys: Mapping[Cell, frozenset[str]] = field(default_factory=dict)  # this product's keys seen per cell


def provider_side(
    usage: Iterable[Mapping[str, Any]],
    cost: Iterable[Mapping[str, Any]],
    api_key_ids: Iterable[str] = (),
    workspace_id: str | None = None,
) -> ProviderSide:
    """Sum the usage buckets (grouped by model, and by api_key_id when keys are given) and the cost buckets
    (grouped by description, and by workspace_id when a workspace is given) per (UTC day, model)."""
    keys = frozenset(api_key_ids)
    all_tokens: dict[Cell, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOKEN_TYPES, 0))
    ours: dict[Cell, Figures] = defaultdict(Figures)
    seen_keys: dict[Cell, set[str]] = defaultdict(set)
    for b, bucket in enumerate(usage):
        day = bucket_day(bucket, f"usage report bucket {b}")
        for result in bucket["results"]:
            cell = (day, family(str(result.get("model") or "(no model)")))
            counts = _usage_tokens(result)
            mine = not keys or result.get("api_key_id") in keys
            if mine and result.get("api_key_id") and any(counts.values()):
                seen_keys[cell].add(str(result["api_key_id"]))
            for kind, count in counts.items():
                all_tokens[cell][kind] += count
                if mine:
                    ours[cell].tokens[kind] += count
    costs: dict[Cell, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    other = Decimal(0)
    for b, bucket in enumerate(cost):
        day = bucket_day(bucket, f"cost report bucket {b}")
        for r, result in enumerate(bucket["results"]):
            amount = parse_cents(result.get("amount"), f"cost report bucket {b} result {r}")
            if str(result.get("currency") or "USD") != "USD":
                raise ReconcileDataError(f"cost report bucket {b} result {r}: currency {result.get('currency')!r}")
            in_scope = workspace_id is None or result.get("workspace_id") == workspace_id
            model = result.get("model")
            if not in_scope or not model or (result.get("cost_type") or "tokens") != "tokens":
                other += amount  # another workspace, or web search / code execution (no tokens to share by)
                continue
            costs[(day, family(str(model)))][str(result.get("token_type") or "")] += amount
    attributed = Decimal(0)
    for cell, by_type in costs.items():
        share = Decimal(0)
        for kind, amount in by_type.items():
            total = all_tokens[cell].get(kind, 0) if cell in all_tokens else 0
            if not keys:
                share += amount
            elif total:  # the provider's unit price that day, applied to this product's tokens
                share += amount * ours[cell].tokens.get(kind, 0) / total
        ours[cell].nano = _whole(share)
        attributed += ours[cell].nano
    total_cost = sum((a for by in costs.values() for a in by.values()), Decimal(0)) + other
    seen = sum(sum(t.values()) for t in all_tokens.values())
    mine_tokens = sum(sum(f.tokens.values()) for f in ours.values())
    return ProviderSide(
        {c: f for c, f in ours.items() if not f.empty},
        _whole(total_cost) - _whole(attributed),
        seen - mine_tokens,
        {c: frozenset(k) for c, k in seen_keys.items()},
    )


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
