"""Model prices and cost maths in integer nano-USD.

Owns where a model's price comes from (the config's ``pricing:`` section first,
then the bundled ``genai-prices`` snapshot, never the network) and the exact
cost of one request. It must not guess: an unknown model is an error, never a
silent default price.

Conventions: Anthropic's ``input_tokens`` excludes cache reads and writes;
long-context tiers are chosen per request on the total prompt (input + cache
write + cache read), as Anthropic bills and as genai-prices models it. Cache
writes come at two prices: the 5-minute TTL (``cache_write``) and the 1-hour TTL
(``cache_write_1h``: the model's own price when genai-prices carries it, else
2x input, as Anthropic's docs price it).

An override applies to every id of its model's family (alias, ``-latest`` and
dated snapshots alike, see ``model_ids``), and keeps the snapshot's long-context
tiers scaled by the override's ratio to the snapshot's base price (the source
says so). Snapshot prices that change on a date are looked up for today.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import mul
from pathlib import Path

from acme_ci_budget.catalog import model_ids
from acme_ci_budget.catalog.whole_rates import whole_rates
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import NANO_PER_USD

# Anthropic's published multipliers, used only when an override gives no cache prices.
CACHE_WRITE_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal("2")
CACHE_READ_MULTIPLIER = Decimal("0.1")
_NANO_PER_MTOK_USD = NANO_PER_USD // 1_000_000  # $1 per million tokens is 1,000 nano per token


class UnknownModelError(AcmeError, LookupError):
    """No price is known for a model; the message names the model and where the config uses it."""


@dataclass(frozen=True)
class PriceTier:
    """Per-MTok USD prices that apply to a whole request once its prompt reaches ``start`` tokens."""

    start: int
    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    cache_write_1h: Decimal | None = None  # None: 2x input (Anthropic's 1-hour write multiplier)

    @property
    def cache_write_1h_price(self) -> Decimal:
        return self.cache_write_1h if self.cache_write_1h is not None else self.input * CACHE_WRITE_1H_MULTIPLIER


@dataclass(frozen=True)
class ModelPrice:
    model: str
    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    source: str
    tiers: tuple[PriceTier, ...] = ()
    cache_write_1h: Decimal | None = None  # None: 2x input

    def tier_for(self, prompt_tokens: int) -> PriceTier:
        chosen = PriceTier(0, self.input, self.output, self.cache_write, self.cache_read, self.cache_write_1h)
        for tier in self.tiers:
            if prompt_tokens > tier.start:
                chosen = tier
        return chosen


def price_for(model: str, overrides: Mapping[str, object] | None = None) -> ModelPrice:
    """The price of ``model``: a config override of its family when present, else the genai-prices snapshot."""
    found = override_for(model, overrides)
    if found is None:
        return _snapshot_price(model)
    key, entry = found
    cache_write = getattr(entry, "cache_write", None)
    cache_read = getattr(entry, "cache_read", None)
    price = ModelPrice(
        model=model,
        input=entry.input,
        output=entry.output,
        cache_write=cache_write if cache_write is not None else entry.input * CACHE_WRITE_MULTIPLIER,
        cache_read=cache_read if cache_read is not None else entry.input * CACHE_READ_MULTIPLIER,
        source=f"config pricing.{key}",
    )
    try:
        snapshot = _snapshot_price(model)
    except UnknownModelError:
        return price  # a model the snapshot does not know has no tiers to keep
    if not snapshot.tiers:
        return price
    # A negotiated base price must not silently drop the long-context surcharge: keep each
    # tier at the same multiple of the base as the snapshot has it.
    tiers = tuple(
        PriceTier(
            t.start,
            _scaled(t.input, snapshot.input, price.input),
            _scaled(t.output, snapshot.output, price.output),
            _scaled(t.cache_write, snapshot.cache_write, price.cache_write),
            _scaled(t.cache_read, snapshot.cache_read, price.cache_read),
        )
        for t in snapshot.tiers
    )
    return replace(price, tiers=tiers, source=f"{price.source}; long-context tiers scaled from the snapshot")


def _scaled(tier_price: Decimal, snapshot_base: Decimal, override_base: Decimal) -> Decimal:
    return tier_price * override_base / snapshot_base if snapshot_base else tier_price


def override_for(model: str, overrides: Mapping[str, object] | None) -> tuple[str, object] | None:
    """(key, entry) of the config override that prices ``model``, matched as the snapshot matches ids.

    The exact id first; then the family's alias (``claude-sonnet-4-5`` or ``...-latest``) for a
    dated reply; then a dated override for an alias reply (the latest date when there are several).
    """
    if not overrides:
        return None
    if model in overrides:
        return model, overrides[model]
    fam = model_ids.family(model)
    same = sorted(key for key in overrides if model_ids.family(key) == fam)
    if not same:
        return None
    aliases = [key for key in same if model_ids.is_alias(key)]
    key = aliases[0] if aliases else max(same, key=lambda k: model_ids.split_dated(k)[1] or "")
    return key, overrides[key]


def _snapshot_price(model: str) -> ModelPrice:
    """The snapshot's price, through a small on-disk cache keyed by the genai-prices version.

    Importing genai-prices costs ~0.25 s (it loads its whole data model), which every CLI start
    would pay; the cache keeps the price of the models actually used, so a warm start skips it.
    Only ids that passed ``model_ids.is_known`` are ever written to it. A price the snapshot
    changes on a date carries ``until``: from that day on it is looked up again.
    """
    cached = _MEMO.get(model)
    if cached is not None and cached[1] is None:  # no price change ahead: no need for today's date (every call)
        return cached[0]
    today = datetime.now(UTC).date()
    if cached is not None and _fresh(cached[1], today):
        return cached[0]
    cache = _disk_cache()
    entry = cache.get(model)
    if entry is not None and "unknown" in entry:
        # An override-only model (priced by the config, unknown to the snapshot) costs no import either.
        raise UnknownModelError(entry["unknown"])
    if entry is not None and _fresh(entry.get("until"), today):
        price, until = _from_json(model, entry), entry.get("until")
    else:
        try:
            price, until = _lookup_snapshot(model, today)
        except UnknownModelError as exc:
            cache[model] = {"unknown": str(exc)}
            _write_disk_cache(cache)
            raise
        cache[model] = {**_to_json(price), "until": until}
        _write_disk_cache(cache)
    _MEMO[model] = (price, until)
    return price


def _fresh(until: str | None, today: date) -> bool:
    return until is None or today < date.fromisoformat(until)


_MEMO: dict[str, tuple[ModelPrice, str | None]] = {}
_DISK: dict[str, dict] | None = None


def _cache_file() -> Path | None:
    try:
        version = importlib.metadata.version("genai-prices")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a runtime dependency
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    # v2: entries are validated ids only (v1 files could hold a prefix-matched typo) and carry `until`.
    return Path(base) / "acme-ci-budget" / f"genai-prices-{version}-v2.json"


def _disk_cache() -> dict[str, dict]:
    global _DISK
    if _DISK is None:
        _DISK = {}
        path = _cache_file()
        if path and path.is_file():
            try:
                _DISK = json.loads(path.read_text())
            except (OSError, ValueError):
                _DISK = {}  # a corrupt cache is rebuilt from the snapshot
    return _DISK


def _write_disk_cache(cache: dict[str, dict]) -> None:
    path = _cache_file()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, sort_keys=True))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file, never half
    except OSError:
        pass  # a read-only home only costs the slower start


def _to_json(price: ModelPrice) -> dict:
    def opt(value: Decimal | None) -> str | None:
        return str(value) if value is not None else None

    def tier(t: PriceTier) -> list:
        return [t.start, str(t.input), str(t.output), str(t.cache_write), str(t.cache_read), opt(t.cache_write_1h)]

    return {
        "input": str(price.input),
        "output": str(price.output),
        "cache_write": str(price.cache_write),
        "cache_read": str(price.cache_read),
        "cache_write_1h": opt(price.cache_write_1h),
        "source": price.source,
        "tiers": [tier(t) for t in price.tiers],
    }


def _from_json(model: str, data: dict) -> ModelPrice:
    # A cache written before the 1-hour price was kept has no such entry: None means 2x input.
    def opt(value: str | None) -> Decimal | None:
        return Decimal(value) if value is not None else None

    return ModelPrice(
        model=model,
        input=Decimal(data["input"]),
        output=Decimal(data["output"]),
        cache_write=Decimal(data["cache_write"]),
        cache_read=Decimal(data["cache_read"]),
        source=data["source"],
        tiers=tuple(
            PriceTier(t[0], *(Decimal(x) for x in t[1:5]), opt(t[5] if len(t) > 5 else None)) for t in data["tiers"]
        ),
        cache_write_1h=opt(data.get("cache_write_1h")),
    )


def _lookup_snapshot(model: str, today: date) -> tuple[ModelPrice, str | None]:
    """The snapshot's price of ``model`` today, and the ISO date it next changes (None: never)."""
    import genai_prices
    from genai_prices import data_snapshot
    from genai_prices.types import StartDateConstraint, TieredPrices

    if not model_ids.is_known(model):
        hint = model_ids.suggest(model)
        suffix = f" (did you mean {hint!r}?)" if hint else ""
        raise UnknownModelError(
            f"no price for model {model!r}: not a known model id or a dated snapshot of one{suffix}"
        )
    try:
        _provider, info = data_snapshot.get_snapshot().find_provider_model(model, None, "anthropic", None)
    except LookupError:
        raise UnknownModelError(f"no price for model {model!r}") from None
    # Conditional prices (a date a price starts) need a timestamp: without one genai-prices fails
    # with "'NoneType' object has no attribute 'tzinfo'" (claude-sonnet-4-6, claude-opus-4-6).
    at = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    prices = info.get_prices(at)
    changes = [
        c.constraint.start_date
        for c in (info.prices if isinstance(info.prices, list) else ())
        if isinstance(c.constraint, StartDateConstraint) and c.constraint.start_date > today
    ]
    until = min(changes).isoformat() if changes else None

    def parts(value: object) -> tuple[Decimal, dict[int, Decimal]]:
        if isinstance(value, TieredPrices):
            return Decimal(value.base), {t.start: Decimal(t.price) for t in value.tiers}
        return (Decimal(value) if value is not None else None), {}

    base_in, tiers_in = parts(prices.input_mtok)
    base_out, tiers_out = parts(prices.output_mtok)
    if base_in is None or base_out is None:
        raise UnknownModelError(f"genai-prices has no token prices for model {model!r}")
    base_cw, tiers_cw = parts(getattr(prices, "cache_write_mtok", None))
    base_cr, tiers_cr = parts(getattr(prices, "cache_read_mtok", None))
    base_cw1h, tiers_cw1h = parts(getattr(prices, "cache_write_1h_mtok", None))
    base_cw = base_cw if base_cw is not None else base_in * CACHE_WRITE_MULTIPLIER
    base_cr = base_cr if base_cr is not None else base_in * CACHE_READ_MULTIPLIER
    starts = sorted(set(tiers_in) | set(tiers_out) | set(tiers_cw) | set(tiers_cr))
    tiers = tuple(
        PriceTier(
            start,
            _at(tiers_in, start, base_in),
            _at(tiers_out, start, base_out),
            _at(tiers_cw, start, base_cw),
            _at(tiers_cr, start, base_cr),
            _at(tiers_cw1h, start, base_cw1h) if base_cw1h is not None else None,
        )
        for start in starts
    )
    price = ModelPrice(
        model=model,
        input=base_in,
        output=base_out,
        cache_write=base_cw,
        cache_read=base_cr,
        source=f"genai-prices {genai_prices.__version__} bundled snapshot (anthropic/{info.id})",
        tiers=tiers,
        cache_write_1h=base_cw1h,
    )
    return price, until


def _at(tiers: dict[int, Decimal], start: int, base: Decimal) -> Decimal:
    applicable = [price for s, price in sorted(tiers.items()) if s <= start]
    return applicable[-1] if applicable else base


def min_cacheable_tokens(model: str) -> int:
    """The API's minimum cacheable prompt prefix for ``model``; a shorter prefix is silently not cached.

    Anthropic's documented minimums: 1,024 tokens for Sonnet and Opus, 2,048 for Haiku 3 and 3.5,
    4,096 for Haiku 4.5 and Opus 4.5 / 4.6.
    """
    name = model.lower()
    if "haiku" in name:
        return 4096 if "haiku-4" in name else 2048
    if any(f"opus-4-{minor}" in name for minor in (5, 6)):
        return 4096
    return 1024


def cost_nano(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    overrides: Mapping[str, object] | None = None,
    *,
    cache_write_1h_tokens: int = 0,
    tier_prompt_tokens: int | None = None,
) -> int:
    """Exact cost of one request in whole nano-USD (rounded half up once, at the end).

    ``cache_creation_input_tokens`` are the 5-minute cache writes, ``cache_write_1h_tokens`` the
    1-hour ones (the API's ``cache_creation_input_tokens`` is their sum; its ``cache_creation``
    object splits it). ``tier_prompt_tokens``: the prompt size that picks the long-context tier
    (None: this request's own; usage summed over many requests, an agent run's, passes 0: the base tier).
    """
    price = price_for(model, overrides)
    prompt = input_tokens + cache_creation_input_tokens + cache_write_1h_tokens + cache_read_input_tokens
    prompt = prompt if tier_prompt_tokens is None else tier_prompt_tokens
    rates = whole_rates(price, prompt)  # whole nano-USD a token: the exact integer sum, no Decimal
    counts = (input_tokens, output_tokens, cache_creation_input_tokens, cache_write_1h_tokens, cache_read_input_tokens)
    if rates is not None:
        return sum(map(mul, counts, rates))
    tier = price.tier_for(prompt)
    exact = (
        input_tokens * tier.input
        + output_tokens * tier.output
        + cache_creation_input_tokens * tier.cache_write
        + cache_write_1h_tokens * tier.cache_write_1h_price
        + cache_read_input_tokens * tier.cache_read
    ) * _NANO_PER_MTOK_USD
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def calculate_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    overrides: Mapping[str, object] | None = None,
    *,
    cache_write_1h_tokens: int = 0,
) -> float:
    """Cost of one request in USD (a float for display; the ledger keeps ``cost_nano``)."""
    nano = cost_nano(
        model,
        input_tokens,
        output_tokens,
        cache_creation_input_tokens,
        cache_read_input_tokens,
        overrides,
        cache_write_1h_tokens=cache_write_1h_tokens,
    )
    return nano / NANO_PER_USD
