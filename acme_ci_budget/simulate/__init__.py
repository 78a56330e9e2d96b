"""The month simulator: a month of synthetic traffic (``traffic``, worded by ``prompts``) through the real
router, client, ledger and alerts, offline (``replay``, in ticks: ``ticks``), answered by the offline model
stand-in (``offline_model``), on its own namespace and Redis (``isolation``), summed up in ``results`` and
written as the monthly report (``reports``).

With ``runs``, the only layer that wires the client, the ledger, the alerts and the report together.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "SimulationResult": "results",
        "default_month": "replay",
        "run_simulation": "replay",
        "simulate": "replay",
        "OfflineModel": "offline_model",
    },
)
