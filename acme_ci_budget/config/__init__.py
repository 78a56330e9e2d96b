"""Budget configuration: find, parse and validate the YAML into frozen dataclasses.

Owns the config schema, the search order (argument, ``ACME_BUDGET_CONFIG``,
``./.github/acme-budget.yml``, the packaged default) and every validation
rule. A bad file raises ``ConfigError`` naming the file and the dotted path of
the field. It must not touch Redis or the network, and it expands environment
references only in secret fields, so a config cannot read arbitrary variables. It sits between
``catalog`` (it validates prices and model ids) and ``budget``: it imports only ``catalog`` and
``core`` (globs from ``core.globs``), never ``diffs``, the ledger or the client.

The modules: ``model`` (the frozen dataclasses, ``ConfigError``), ``load`` (search order, size bound,
strict YAML), ``validate`` (the top level and the order of the sections), ``fields`` (one typed reader
per kind of value, the bounds), and one module per section family: ``workflows``, ``pricing`` (with the
check that every model has a price), ``roi``, ``repos`` (a monthly cap per repository) and ``sections``
(ledger, client, alerts, review, telemetry, reconcile).
Every name is re-exported here, so ``from acme_ci_budget.config import Config, load_config`` works.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        # the shape
        "ConfigError": "model",
        "Config": "model",
        "Workflow": "model",
        "TokenLimits": "model",
        "Routing": "model",
        "Inventory": "model",
        "LedgerSettings": "model",
        "ClientSettings": "model",
        "TelemetrySettings": "model",
        "AlertSettings": "model",
        "PriceOverride": "model",
        "Roi": "model",
        "RoiRole": "model",
        "RoiWorkflow": "model",
        "ReviewSettings": "model",
        "RepoBudget": "model",
        "ReconcileSettings": "model",
        "hold_margin_seconds": "model",
        "TIERS": "model",
        "LEVELS": "model",
        "ROI_BASES": "model",
        "SECRET_FIELDS": "model",
        # finding and reading
        "CONFIG_ENV": "load",
        "LOCAL_CONFIG": "load",
        "resolve_config_path": "load",
        "load_config": "load",
        "parse_config": "load",
        # the bounds on every number
        "MAX_USD": "fields",
        "MAX_TOKENS": "fields",
        "MAX_LOOP_STEPS": "fields",
        "MIN_HOLD_TTL_SECONDS": "fields",
        "MAX_HOLD_TTL_SECONDS": "fields",
        "MAX_RETENTION_DAYS": "fields",
        "MAX_PRICE_PER_MTOK": "fields",
        "MAX_MONTHLY_TASKS": "fields",
        "MAX_HOURLY_RATE_USD": "fields",
        "MAX_HOURS_SAVED": "fields",
        "MAX_HOURS_SAVED_PER_MONTH": "fields",
        "MAX_FILE_BYTES": "fields",
    },
)
