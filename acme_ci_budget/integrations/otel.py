"""OpenTelemetry metrics: the SDK's MeterProvider and its OTLP/HTTP exporter, imported lazily.

Owns turning "send metrics to this collector" into a meter: when the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, with
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_HEADERS`` ... read by the
SDK itself) or an explicit endpoint ask for it, one ``MeterProvider`` per process and endpoint,
exporting on the SDK's interval from its own thread, flushed with a short timeout when the process
exits (``atexit``) or when asked (``flush``). An unreachable or refusing collector costs one warning
per process, naming the failure's class only (an endpoint URL can carry a token); the SDK's own
retry and error records are kept out of the caller's logs, and nothing is ever raised into a model
call. Without the ``otel`` extra installed it warns once and gives no meter.

It must not import the project's domain (which metric means what is ``acme_ci_budget.telemetry``'s)
nor import ``opentelemetry`` before a meter is asked for.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("acme_ci_budget.telemetry")

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
METRICS_PATH = "/v1/metrics"  # what the SDK appends to OTEL_EXPORTER_OTLP_ENDPOINT; we do the same to a base URL
INSTALL_HINT = "pip install 'acme-ci-budget[otel]'"
# The loggers the OTLP/HTTP exporter reports each failed attempt on (names across SDK releases).
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
)


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how often to export: ``endpoint`` is the full metrics URL (``resolve_endpoint``);
    ``export_interval_seconds`` None: ``OTEL_METRIC_EXPORT_INTERVAL``, else the SDK's 60 s."""

    endpoint: str
    service_name: str = "acme-ci-budget"
    export_interval_seconds: float | None = None
    timeout_seconds: float = 2.0  # one export (retries included) and the exit flush: a CLI never waits longer


def resolve_endpoint(configured_base: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The metrics URL to export to, as the OTLP exporter specification orders it:
    ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` as given, else ``OTEL_EXPORTER_OTLP_ENDPOINT`` plus
    ``/v1/metrics``, else the configured base URL plus ``/v1/metrics``; None when none is set or
    ``OTEL_SDK_DISABLED`` is true."""
    env = os.environ if environ is None else environ
    if sdk_disabled(env):
        return None
    signal = env.get(ENDPOINT_VARS[0], "").strip()
    if signal:
        return signal
    base = env.get(ENDPOINT_VARS[1], "").strip() or (configured_base or "").strip()
    return metrics_url(base) if base else None


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """``OTEL_SDK_DISABLED=true``: the standard switch that turns every signal off, ours included."""
    env = os.environ if environ is None else environ
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _resource_attributes(settings: OtlpSettings, version: str) -> dict[str, str]:
    """Ours, minus a service name the environment gives (Resource.create lets explicit attributes win)."""
    attributes = {"service.name": settings.service_name, "service.version": version}
    given = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if os.environ.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in given.replace(" ", ""):
        del attributes["service.name"]
    return attributes


def metrics_url(base: str) -> str:
    """A base OTLP/HTTP URL (as in ``OTEL_EXPORTER_OTLP_ENDPOINT``) with the metrics path the spec appends."""
    return base.rstrip("/") + METRICS_PATH


class _Quiet(logging.Filter):
    """Drops the exporter's own records while our wrapper exports (we say it once, our way)."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "exporting", False)


_QUIET = _Quiet()
_handles: dict[OtlpSettings, MeterHandle] = {}
_handles_lock = threading.Lock()


class _Once:
    """The one warning of a meter whose collector fails (the SDK would log every attempt, with tracebacks)."""

    def __init__(self) -> None:
        self.said = threading.Event()

    def __call__(self, what: str) -> None:
        if not self.said.is_set():
            self.said.set()
            log.warning(
                "OpenTelemetry: could not export metrics to the collector (%s); model calls go on, the "
                "metrics of this process may be lost (said once)",
                what,
            )


def _quiet_exporter(exporter: Any, _warn_once: _Once) -> Any:
    """The OTLP exporter behind a wrapper that never raises and reports a failure once."""
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class QuietExporter(MetricExporter):
        def __init__(self) -> None:
            super().__init__(
                preferred_temporality=exporter._preferred_temporality,
                preferred_aggregation=exporter._preferred_aggregation,
            )

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            _QUIET.local.exporting = True
            try:
                result = exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            except Exception as exc:  # a collector's failure must never reach a model call
                _warn_once(type(exc).__name__)
                return MetricExportResult.FAILURE
            finally:
                _QUIET.local.exporting = False
            if result != MetricExportResult.SUCCESS:
                _warn_once("the export failed")
            return result

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return exporter.force_flush(timeout_millis)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            exporter.shutdown(timeout_millis=timeout_millis)

    return QuietExporter()


class MeterHandle:
    """One process's MeterProvider for one endpoint, and the meter the telemetry layer records on."""

    def __init__(self, settings: OtlpSettings, scope: str, version: str, schema_url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        for name in _EXPORTER_LOGGERS:
            logger = logging.getLogger(name)
            if _QUIET not in logger.filters:
                logger.addFilter(_QUIET)
        self.settings = settings
        self._warn_once = _Once()
        exporter = OTLPMetricExporter(endpoint=settings.endpoint, timeout=settings.timeout_seconds)
        interval = settings.export_interval_seconds
        reader = PeriodicExportingMetricReader(
            _quiet_exporter(exporter, self._warn_once),
            export_interval_millis=None if interval is None else interval * 1000,
            export_timeout_millis=settings.timeout_seconds * 1000,
        )
        resource = Resource.create(_resource_attributes(settings, version))  # reads OTEL_RESOURCE_ATTRIBUTES
        # our own exit hook, with our short timeout: the SDK's would wait up to 30 s on a dead collector
        self.provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
        self.meter = self.provider.get_meter(scope, version, schema_url=schema_url)
        self._closed = False
        atexit.register(self.shutdown)

    def counter(self, name: str, unit: str, description: str) -> Any:
        return self.meter.create_counter(name, unit=unit, description=description)

    def histogram(self, name: str, unit: str, description: str, boundaries: Sequence[float]) -> Any:
        return self.meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(boundaries)
        )

    def flush(self) -> bool:
        """Export what was recorded now, waiting at most the settings' timeout; False when it did not finish."""
        try:
            return bool(self.provider.force_flush(timeout_millis=self.settings.timeout_seconds * 1000))
        except Exception as exc:
            self._warn_once(type(exc).__name__)
            return False

    def shutdown(self) -> None:
        """Flush and stop the export thread (at exit; idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.provider.shutdown(timeout_millis=self.settings.timeout_seconds * 1000)
        except Exception as exc:
            self._warn_once(type(exc).__name__)
        with _handles_lock:
            if _handles.get(self.settings) is self:
                del _handles[self.settings]


def open_meter(settings: OtlpSettings, scope: str, version: str, schema_url: str) -> MeterHandle | None:
    """This process's meter for ``settings`` (built once), or None when the SDK is not installed or fails."""
    with _handles_lock:
        handle = _handles.get(settings)
        if handle is not None:
            return handle
        try:
            handle = MeterHandle(settings, scope, version, schema_url)
        except ImportError:
            log.warning("OpenTelemetry metrics are configured but the SDK is not installed (%s)", INSTALL_HINT)
            return None
        except Exception as exc:  # a bad variable (headers, timeout) must not stop model calls
            log.warning("OpenTelemetry metrics disabled: could not set up the exporter (%s)", type(exc).__name__)
            return None
        _handles[settings] = handle
        return handle


def shutdown_all() -> None:
    """Flush and stop every meter of this process (what ``atexit`` does; tests and long-lived hosts may call it)."""
    with _handles_lock:
        handles = list(_handles.values())
    for handle in handles:
        handle.shutdown()
