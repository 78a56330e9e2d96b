"""Telemetry: exporting the ledger's usage-event stream (``monitor_export``: JSON Lines, CSV), per-call
OpenTelemetry metrics (``genai_metrics``: the client's telemetry hook) and the ledger's state as
Prometheus metric families (``prometheus_metrics``). Read-only: it reads the ledger through
``ledger.status`` / ``ledger.events`` only, never Redis itself; outside libraries are ``integrations``'.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "EVENT_TYPES": "monitor_export",
        "GenAIMetrics": "genai_metrics",
        "otel_hook": "genai_metrics",
        "iter_events": "monitor_export",
        "write_csv": "monitor_export",
        "write_jsonl": "monitor_export",
    },
)
