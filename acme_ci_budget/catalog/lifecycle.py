"""Model lifecycle: the bundled table and the verdict on one model.

Owns the bundled, dated lifecycle table (``model_lifecycle.json``, from Anthropic's model
deprecations page: state, deprecation and retirement dates, recommended replacement) and
``ModelCheck``, the verdict on one model and its one-line message: retired or unknown to the
Models API -> a failure; deprecated -> a warning with its retirement date and replacement.

It is pure: it does no I/O besides reading the packaged table, and it prints nothing. It must not
read the budget config (it sits below ``config``): matching the config's models against the
table or the Models API's answer is ``budget.models_check``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from acme_ci_budget.core.resources import lifecycle_table_path
from acme_ci_budget.integrations.models_api import ACTIVE, DEPRECATED, RETIRED

UNLISTED = "unlisted"
TABLE_PATH = lifecycle_table_path()


@dataclass(frozen=True)
class TableEntry:
    model: str
    state: str
    deprecated_at: date | None = None
    retires_at: date | None = None
    replacement: str | None = None


@dataclass(frozen=True)
class LifecycleTable:
    """Anthropic's deprecations page as of ``as_of``."""

    as_of: date
    source: str
    entries: Mapping[str, TableEntry]

    def get(self, model: str) -> TableEntry | None:
        return self.entries.get(model)

    def replacement_for(self, model: str) -> str | None:
        """The page's replacement, followed while it is itself deprecated or retired (3.7 -> 4.5 -> 5.5)."""
        seen = {model}
        entry = self.entries.get(model)
        current = entry.replacement if entry else None
        while current and current not in seen:
            seen.add(current)
            nxt = self.entries.get(current)
            if nxt is None or nxt.state == ACTIVE or not nxt.replacement:
                return current
            current = nxt.replacement
        return current


def _date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


@lru_cache(maxsize=1)
def bundled_table() -> LifecycleTable:
    raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    entries = {
        model: TableEntry(
            model=model,
            state=body["state"],
            deprecated_at=_date(body.get("deprecated_at")),
            retires_at=_date(body.get("retires_at")),
            replacement=body.get("replacement"),
        )
        for model, body in raw["models"].items()
    }
    return LifecycleTable(date.fromisoformat(raw["as_of"]), raw["source"], entries)


@dataclass(frozen=True)
class ModelCheck:
    """One model the config names: its lifecycle, the fields that name it and what to use instead."""

    model: str
    state: str  # active | deprecated | retired | unlisted
    uses: tuple[str, ...]
    config_path: str
    deprecated_at: date | None = None
    retires_at: date | None = None
    replacement: str | None = None
    where: str = ""  # who said so: the Models API's base URL, or the table's date

    @property
    def failed(self) -> bool:
        return self.state in (RETIRED, UNLISTED)

    @property
    def warned(self) -> bool:
        return self.state == DEPRECATED

    def message(self, today: date | None = None) -> str:
        """One line: the model, its state and date, the fields naming it, and the replacement."""
        named = f"named at {', '.join(self.uses)} in {self.config_path}"
        instead = f"; replace it with {self.replacement}" if self.replacement else "; replace it"
        if self.state == UNLISTED:
            return (
                f"model {self.model!r} is not served by {self.where} (retired, misspelled, or not available to "
                f"this key): {named}{instead}"
            )
        if self.state == RETIRED:
            since = f" since {self.retires_at.isoformat()}" if self.retires_at else ""
            return f"model {self.model!r} is retired{since} ({self.where}): {named}{instead}"
        if self.state == DEPRECATED:
            when = ""
            if self.retires_at:
                passed = today is not None and self.retires_at <= today
                when = f", {'was scheduled to retire' if passed else 'retires'} {self.retires_at.isoformat()}"
            return f"model {self.model!r} is deprecated{when} ({self.where}): {named}{instead}"
        return f"model {self.model!r} is active: {named}"
