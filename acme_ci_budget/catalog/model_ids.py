"""Which model ids are real: a known id of the genai-prices snapshot, or a dated snapshot of one.

Owns the rule that decides whether a model name may get a price, the family an id belongs to
(``claude-sonnet-4-5`` and ``claude-sonnet-4-5-20250929`` are one family, so a config price
override applies to both) and the "did you mean" hint for a misspelled id. genai-prices matches
by prefix (``claude-3-5-haiku-20241022-typo`` would match Haiku 3.5); this module refuses that.
It must not price anything, and it imports genai-prices only when asked about the snapshot.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

_DATED = re.compile(r"^(?P<base>.+)-(?P<date>\d{8})$")
_LATEST = "-latest"


def _valid_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def split_dated(model: str) -> tuple[str, str | None]:
    """(base id, ``YYYYMMDD``) for a dated snapshot id, else (``model``, None)."""
    match = _DATED.match(model)
    if match and _valid_date(match.group("date")):
        return match.group("base"), match.group("date")
    return model, None


def family(model: str) -> str:
    """The id without its snapshot date or ``-latest``: what alias and dated ids share."""
    base, _ = split_dated(model)
    return base[: -len(_LATEST)] if base.endswith(_LATEST) else base


def is_alias(model: str) -> bool:
    """True for an undated id (``claude-sonnet-4-5``, ``claude-3-5-haiku-latest``)."""
    return split_dated(model)[1] is None


@lru_cache(maxsize=1)
def known_ids() -> frozenset[str]:
    """Every Anthropic id the bundled snapshot names: model ids, their ``-latest``-less bases, exact aliases."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    ids: set[str] = set()
    for provider in snapshot.providers:
        if provider.id != "anthropic":
            continue
        for model in provider.models:
            ids.add(model.id)
            if model.id.endswith(_LATEST):
                ids.add(model.id[: -len(_LATEST)])
            ids.update(_equals(model.match))
    return frozenset(ids)


def _equals(clause: object) -> Iterable[str]:
    """The exact ids of a genai-prices match clause (``equals``, inside ``or``/``and``)."""
    if hasattr(clause, "equals"):
        yield clause.equals
    for child in getattr(clause, "or_", None) or getattr(clause, "and_", None) or ():
        yield from _equals(child)


def is_known(model: str, extra: Iterable[str] = ()) -> bool:
    """``model`` is a known id, or ``<known id>-YYYYMMDD``; ``extra`` ids (config overrides) count as known."""
    known = known_ids() | frozenset(extra)
    if model in known:
        return True
    base, date = split_dated(model)
    return date is not None and base in known


def suggest(model: str, extra: Iterable[str] = ()) -> str | None:
    """The id the user most likely meant, or None."""
    known = sorted(known_ids() | frozenset(extra))
    # a valid id with something appended (`...-20241022-typo`): suggest the valid prefix
    prefixes = [
        model[:end]
        for end in range(len(model) - 1, 0, -1)
        if model[end] in "-_." and is_known(model[:end], extra)
    ]
    if prefixes:
        return prefixes[0]
    base, date = split_dated(model)
    matches = difflib.get_close_matches(base, known, n=1, cutoff=0.75)
    if matches:
        return f"{matches[0]}-{date}" if date else matches[0]
    return None
