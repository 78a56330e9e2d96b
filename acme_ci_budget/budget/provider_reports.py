"""Anthropic's usage and cost reports, read into reconcile's cells: exact cents, UTC days, attribution.

Owns how the report pages (``integrations.anthropic_admin``) become a ``budget.reconcile.ProviderSide``:
each bucket's UTC day (one not at a UTC midnight is refused), each usage result's token counts by type,
each cost ``amount`` (a decimal string in cents: "123.45" is $1.2345) parsed exactly with ``Decimal``,
the scope (this product's API keys and workspace, or the whole organisation) and what falls outside it.
Anything unreadable is a ``ReconcileDataError`` naming the bucket and result. It must not fetch or compare.

Provider USD for a subset of keys: the cost report cannot be filtered by API key, so a key's share of a
(day, model, token type) cost is that cost times the key's share of those tokens in the usage report (the
provider's own unit price that day). It is exact when no key filter is set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from acme_ci_budget.budget.reconcile import (
    CACHE_1H,
    CACHE_5M,
    CACHE_READ,
    OUTPUT,
    TOKEN_TYPES,
    UNCACHED,
    Cell,
    Figures,
    ProviderSide,
)
from acme_ci_budget.catalog.model_ids import family
from acme_ci_budget.core.errors import AcmeError

NANO_PER_CENT = 10_000_000


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


def _usage_tokens(result: Any, where: str) -> dict[str, int]:
    """One usage result's counts by type; anything but whole non-negative numbers is refused by name."""
    creation = result.get("cache_creation") if isinstance(result, Mapping) else None
    if not isinstance(result, Mapping) or not isinstance(creation or {}, Mapping):
        raise ReconcileDataError(f"{where}: not a usage result object")
    raw = {
        UNCACHED: result.get("uncached_input_tokens"),
        CACHE_5M: (creation or {}).get("ephemeral_5m_input_tokens"),
        CACHE_1H: (creation or {}).get("ephemeral_1h_input_tokens"),
        CACHE_READ: result.get("cache_read_input_tokens"),
        OUTPUT: result.get("output_tokens"),
    }
    for kind, value in raw.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ReconcileDataError(f"{where}: {kind} is {value!r}, not a token count")
    return {kind: value or 0 for kind, value in raw.items()}


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
        for r, result in enumerate(bucket["results"]):
            counts = _usage_tokens(result, f"usage report bucket {b} result {r}")
            cell = (day, family(str(result.get("model") or "(no model)")))
            mine = not keys or result.get("api_key_id") in keys
            if mine and any(counts.values()):  # '' : usage without a key (the console), or not grouped by key
                seen_keys[cell].add(str(result.get("api_key_id") or ""))
            for kind, count in counts.items():
                all_tokens[cell][kind] += count
                if mine:
                    ours[cell].tokens[kind] += count
    costs: dict[Cell, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    other = Decimal(0)
    for b, bucket in enumerate(cost):
        day = bucket_day(bucket, f"cost report bucket {b}")
        for r, result in enumerate(bucket["results"]):
            if not isinstance(result, Mapping):
                raise ReconcileDataError(f"cost report bucket {b} result {r}: not a cost result object")
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
