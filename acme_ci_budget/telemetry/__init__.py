"""Telemetry: exporting the ledger's usage-event stream (``monitor_export``: JSON Lines, CSV). Read-only;
it imports ``core`` and reads the events through ``ledger.events`` only, never Redis itself.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "EVENT_TYPES": "monitor_export",
        "iter_events": "monitor_export",
        "write_csv": "monitor_export",
        "write_jsonl": "monitor_export",
    },
)
