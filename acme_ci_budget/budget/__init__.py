"""Budget maths, pure: the monthly estimate (``estimate``), the burn-rate forecast (``forecast``), the
health of a budget (``health``), the ROI (``roi``), and the config's model checks (``models_check``).

Functions over the config and numbers handed in: no Redis, no clock, no network, no printing. It
imports ``config``, ``catalog``, ``integrations.models_api`` (types of the live model list) and ``core``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Estimate": "estimate",
        "build_estimate": "estimate",
        "build_what_if": "estimate",
        "estimate_workflow": "estimate",
        "Forecast": "forecast",
        "project_month": "forecast",
        "Health": "health",
        "health_level": "health",
        "RoiSummary": "roi",
        "build_roi": "roi",
        "check_online": "models_check",
        "check_offline": "models_check",
        "named_models": "models_check",
    },
)
