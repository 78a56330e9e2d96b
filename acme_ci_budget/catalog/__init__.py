"""The model catalogue: prices (``pricing``, ``model_ids``) and model lifecycle (``lifecycle``).

Facts about models, independent of any budget config: what a model costs (config overrides are passed
in), which ids are real, and which models Anthropic has deprecated or retired. It imports only ``core``
and, for the live lifecycle answer's types, ``integrations.models_api``; never ``config`` or above.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "UnknownModelError": "pricing",
        "ModelPrice": "pricing",
        "price_for": "pricing",
        "cost_nano": "pricing",
        "calculate_cost": "pricing",
        "min_cacheable_tokens": "pricing",
        "LifecycleTable": "lifecycle",
        "ModelCheck": "lifecycle",
        "bundled_table": "lifecycle",
    },
)
