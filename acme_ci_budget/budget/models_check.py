"""Model checks for the config: is every model the config names still served, and what replaces it.

Owns the rules that match the config's models against their lifecycle: the models a config (or a
workflow's routing) names and the fields naming them; online, the Models API's answer decides the
state (retired or unknown -> a failure naming every config field that uses it; deprecated -> a
warning with its retirement date and replacement), the bundled table only adds dates and
replacements; offline (``config validate``), the table's deprecated and retired models -> warnings
only, since the table may be older than the API's answer.

It is pure: the live answer comes in as an ``integrations.models_api.Catalogue`` the caller fetched,
the table from ``catalog.lifecycle``; it does no I/O and prints nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from acme_ci_budget.catalog.lifecycle import UNLISTED, LifecycleTable, ModelCheck, bundled_table
from acme_ci_budget.config import Config
from acme_ci_budget.integrations.models_api import ACTIVE, Catalogue, ModelInfo


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
