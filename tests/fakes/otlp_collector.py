"""An OTLP/HTTP metrics receiver on 127.0.0.1, answering as the OpenTelemetry Collector does.

Owns: ``POST /v1/metrics`` per the OTLP/HTTP specification (opentelemetry-proto ``docs/specification.md``):
the body is a binary-protobuf ``ExportMetricsServiceRequest`` (``Content-Type: application/x-protobuf``),
optionally ``Content-Encoding: gzip``; success is ``200`` with a protobuf ``ExportMetricsServiceResponse``
(same content type); a body that does not decode is ``400`` with a protobuf ``google.rpc.Status``; an
unsupported content type is ``415``; another path ``404``; a scripted outage is ``503`` with
``Retry-After`` (a retryable code for the exporter). Every accepted request is decoded and kept;
``points()`` flattens them to plain dicts (name, unit, kind, attributes, value or histogram fields)
so tests compare against the ledger's events. Must not reach the network or contain product logic.
"""

from __future__ import annotations

import gzip
import threading
from collections import deque
from typing import Any

from google.protobuf.message import DecodeError
from google.rpc import status_pb2  # shipped with googleapis-common-protos, a dependency of the exporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from tests.fakes.loopback import LoopbackFake, LoopbackHandler

PROTOBUF = "application/x-protobuf"
INVALID_ARGUMENT = 3  # google.rpc.Code


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def flatten(request: ExportMetricsServiceRequest) -> list[dict[str, Any]]:
    """One dict per data point: resource and scope attributes, metric name/unit/kind, point attributes
    and its value (``value`` for sums and gauges; ``count``, ``sum``, ``bucket_counts``,
    ``explicit_bounds`` for histograms)."""
    out = []
    for rm in request.resource_metrics:
        resource = _attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                for point in data.data_points:
                    row: dict[str, Any] = {
                        "name": metric.name,
                        "unit": metric.unit,
                        "kind": kind,
                        "scope": sm.scope.name,
                        "schema_url": sm.schema_url,
                        "resource": resource,
                        "attributes": _attributes(point.attributes),
                    }
                    if kind == "histogram":
                        row.update(
                            count=point.count,
                            sum=point.sum,
                            bucket_counts=list(point.bucket_counts),
                            explicit_bounds=list(point.explicit_bounds),
                        )
                    else:
                        row["value"] = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                        if kind == "sum":
                            row["monotonic"] = data.is_monotonic
                    out.append(row)
    return out


class _Handler(LoopbackHandler):
    server_version = "FakeOtelCollector/1.0"

    def do_POST(self) -> None:
        fake: FakeOtlpCollector = self.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with fake.lock:
            fake.attempts += 1
            outage = fake.outages.popleft() if fake.outages else None
        if self.path.split("?")[0] != "/v1/metrics":
            return self._send(404, "text/plain", b"404 page not found\n")
        if outage is not None:
            return self._send(503, "text/plain", b"Service Unavailable\n", {"Retry-After": str(outage)})
        if self.headers.get("Content-Type", "").split(";")[0].strip() != PROTOBUF:
            return self._send(415, "text/plain", b"415 unsupported media type, supported: [application/json, "
                              b"application/x-protobuf]\n")
        try:
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            request = ExportMetricsServiceRequest.FromString(body)
        except (DecodeError, OSError, EOFError) as exc:
            status = status_pb2.Status(code=INVALID_ARGUMENT, message=f"proto: {type(exc).__name__}")
            return self._send(400, PROTOBUF, status.SerializeToString())
        with fake.lock:
            fake.requests.append(request)
            fake.headers.append({k.lower(): v for k, v in self.headers.items()})
        self._send(200, PROTOBUF, ExportMetricsServiceResponse().SerializeToString())

    def _send(self, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class FakeOtlpCollector(LoopbackFake):
    """The receiver; ``url`` is the base (as ``OTEL_EXPORTER_OTLP_ENDPOINT``), start()/stop() or ``with``."""

    handler = _Handler
    thread_name = "fake-otlp-collector"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self.outages: deque[int] = deque()
        self.lock = threading.Lock()

    def fail_next(self, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` exports get 503 with ``Retry-After``."""
        with self.lock:
            self.outages.extend([retry_after] * times)

    def points(self, name: str | None = None) -> list[dict[str, Any]]:
        """The data points of the last accepted export (cumulative temporality: the totals so far)."""
        with self.lock:
            last = self.requests[-1] if self.requests else ExportMetricsServiceRequest()
        return [p for p in flatten(last) if name is None or p["name"] == name]
