"""The ``pricing:`` section and the check that every model the file names has a price.

Owns the per-million-token overrides, the rule that two dated overrides of one family need an alias
override, and the model check run once the whole file is read (a price from an override or the catalogue,
with a did-you-mean). It must not fetch prices itself: ``catalog.pricing`` owns the catalogue and its cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acme_ci_budget.catalog import model_ids
from acme_ci_budget.catalog.pricing import UnknownModelError, price_for
from acme_ci_budget.config.fields import MAX_PRICE_PER_MTOK, Fields
from acme_ci_budget.config.model import Config, PriceOverride


def pricing_section(v: Fields, value: Any) -> dict[str, PriceOverride]:
    body = v.mapping(value, "pricing", set(value) if isinstance(value, dict) else set())
    prices = {}
    for model, entry in body.items():
        where = f"pricing.{model}"
        entry = v.mapping(entry, where, {"input", "output", "cache_write", "cache_read"}, {"input", "output"})
        optional = {
            key: v.number(entry[key], f"{where}.{key}", maximum=MAX_PRICE_PER_MTOK) if key in entry else None
            for key in ("cache_write", "cache_read")
        }
        prices[model] = PriceOverride(
            input=v.number(entry["input"], f"{where}.input", maximum=MAX_PRICE_PER_MTOK),
            output=v.number(entry["output"], f"{where}.output", maximum=MAX_PRICE_PER_MTOK),
            **optional,
        )
    return prices


def check_models(v: Fields, config: Config) -> None:
    """Every named model has a price: a config override of its family, or a known id (or a dated snapshot of one).

    A name the snapshot would only match by prefix (``claude-3-5-haiku-20241022-typo``) is an error.
    """

    check_override_families(v, config.pricing)
    for wf in config.workflows.values():
        named = [
            (f"workflows.{wf.id}.routing.{t}", getattr(wf.routing, t))
            for t in ("default_model", "complex_model", "simple_model")
        ]
        if wf.inventory:
            named.append((f"workflows.{wf.id}.inventory.model", wf.inventory.model))
        for where, model in named:
            try:
                # price_for refuses unknown ids itself; through its cache, so a warm start skips genai-prices
                price_for(model, config.pricing)
            except UnknownModelError:
                hint = model_ids.suggest(model, config.pricing)
                did_you_mean = f"did you mean {hint!r}? " if hint else ""
                raise v.fail(
                    where,
                    f"model {model!r} has no price: not a known model id or a dated snapshot of one "
                    f"({did_you_mean}add it under pricing: or fix the name)",
                ) from None


def check_override_families(v: Fields, pricing: Mapping[str, PriceOverride]) -> None:
    """Two dated overrides of one family need an alias override too, or an alias reply's price is a guess."""

    families: dict[str, list[str]] = {}
    for key in pricing:
        families.setdefault(model_ids.family(key), []).append(key)
    for fam, keys in sorted(families.items()):
        if len(keys) > 1 and not any(model_ids.is_alias(k) for k in keys):
            raise v.fail(
                f"pricing.{keys[1]}",
                f"{' and '.join(sorted(keys))} both price the {fam} family; add pricing.{fam} "
                "for replies that name the alias",
            )
