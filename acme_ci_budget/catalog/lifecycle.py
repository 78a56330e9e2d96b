"""Model lifecycle checks: is every model the config names still served, and what replaces it.

Owns the bundled, dated lifecycle table (``model_lifecycle.json``, from Anthropic's model
deprecations page: state, deprecation and retirement dates, recommended replacement) and the
rules that turn a model's lifecycle into a verdict for the config: retired or unknown to the
Models API -> a failure naming every config field that uses it; deprecated -> a warning with
its retirement date and replacement; offline (``config validate``), the table's deprecated and
retired models -> warnings only, since the table may be older than the API's answer.

It is pure: the live answer comes in as a ``models_api.Catalogue`` the caller fetched; it does
no I/O besides reading the packaged table, and it prints nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from acme_ci_budget.core.resources import lifecycle_table_path
from acme_ci_budget.integrations.models_api import ACTIVE, DEPRECATED, RETIRED, ModelInfo

if TYPE_CHECKING:
    from acme_ci_budget.config import Config
    from acme_ci_budget.integrations.models_api import Catalogue

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


def named_models(config: Config, workflow_ids: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """model -> the dotted config fields naming it, in config order; ``workflow_ids`` narrows to the
    routing models of those workflows (what a run can call)."""
    if workflow_ids is None:
        models: dict[str, None] = {}
        for wf in config.workflows.values():
            models.update(dict.fromkeys(wf.routing.models()))
            if wf.inventory:
                models[wf.inventory.model] = None
        return {m: tuple(config.model_uses(m)) for m in models}
    out: dict[str, tuple[str, ...]] = {}
    for wid in workflow_ids:
        wf = config.workflow(wid)
        for model in wf.routing.models():
            uses = tuple(u for u in config.model_uses(model) if u.startswith(f"workflows.{wid}.routing."))
            out[model] = out.get(model, ()) + uses
    return out


def check_online(
    config: Config,
    catalogue: Catalogue,
    table: LifecycleTable | None = None,
    workflow_ids: Iterable[str] | None = None,
) -> tuple[ModelCheck, ...]:
    """Every named model as the Models API sees it. The API's ``lifecycle`` decides the state; the
    table only adds a replacement and a retirement date the API did not send."""
    table = table or bundled_table()
    checks = []
    for model, uses in named_models(config, workflow_ids).items():
        info: ModelInfo | None = catalogue.get(model)
        entry = table.get(model)
        replacement = table.replacement_for(model)
        if info is None:
            checks.append(
                ModelCheck(model, UNLISTED, uses, config.path, replacement=replacement, where=catalogue.base_url)
            )
            continue
        checks.append(
            ModelCheck(
                model,
                info.state,
                uses,
                config.path,
                deprecated_at=info.deprecated_at,
                retires_at=info.retires_at or (entry.retires_at if entry and info.state != ACTIVE else None),
                replacement=replacement if info.state != ACTIVE else None,
                where=f"Models API at {catalogue.base_url}",
            )
        )
    return tuple(checks)


def check_offline(config: Config, table: LifecycleTable | None = None) -> tuple[ModelCheck, ...]:
    """The named models the bundled table lists as deprecated or retired (warnings: the table is dated)."""
    table = table or bundled_table()
    checks = []
    for model, uses in named_models(config).items():
        entry = table.get(model)
        if entry is None or entry.state == ACTIVE:
            continue
        checks.append(
            ModelCheck(
                model,
                entry.state,
                uses,
                config.path,
                deprecated_at=entry.deprecated_at,
                retires_at=entry.retires_at,
                replacement=table.replacement_for(model),
                where=f"Anthropic's deprecations page as of {table.as_of.isoformat()}",
            )
        )
    return tuple(checks)
