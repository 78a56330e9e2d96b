"""Prometheus exposition and the Pushgateway, through ``prometheus_client`` (imported lazily).

Owns rendering metric families (plain data: a name, a kind, help text, labelled samples) in the
Prometheus text format (0.0.4: node_exporter's textfile collector reads it) or OpenMetrics, and
pushing them to a Pushgateway (``PUT /metrics/job/<job>/<label>/<value>...``: the group is replaced
whole, so a family that went away does not linger). ``prometheus_client`` builds every byte; nothing
here writes exposition text by hand. A Pushgateway's refusal or absence is one ``PushError`` line
naming its status and the first line of its answer, with any password in the URL hidden.

It must not import the project's domain: which families exist and what they mean is
``acme_ci_budget.telemetry``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.redact import redact_url

KINDS = ("gauge", "counter")
FORMATS = ("prometheus", "openmetrics")


class PushError(AcmeError):
    """The Pushgateway refused the push or could not be reached."""


@dataclass(frozen=True)
class Family:
    """One metric family: ``name`` as exposed (a counter's without its ``_total``), its samples'
    label names in order, and ``samples`` as (label values, value)."""

    name: str
    kind: str
    documentation: str
    labels: tuple[str, ...]
    samples: Sequence[tuple[tuple[str, ...], float]] = field(default_factory=tuple)
    unit: str = ""


def _registry(families: Iterable[Family]) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    built = []
    for fam in families:
        if fam.kind not in KINDS:
            raise ValueError(f"unknown metric kind {fam.kind!r} for {fam.name}")
        cls = GaugeMetricFamily if fam.kind == "gauge" else CounterMetricFamily
        metric = cls(fam.name, fam.documentation, labels=list(fam.labels), unit=fam.unit)
        for values, value in fam.samples:
            metric.add_metric(list(values), value)
        built.append(metric)

    class Snapshot:
        """A collector that yields the families built once: the registry never reads anything itself."""

        def collect(self) -> Iterable[Any]:
            return iter(built)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return registry


def render(families: Iterable[Family], fmt: str = "prometheus") -> bytes:
    """The families in the text format (``prometheus``, 0.0.4) or ``openmetrics`` (ending ``# EOF``)."""
    registry = _registry(families)
    if fmt == "openmetrics":
        from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

        return openmetrics_latest(registry)
    if fmt != "prometheus":
        raise ValueError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    from prometheus_client import generate_latest

    return generate_latest(registry)


def _credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:password@`` and the basic-auth pair it carried (urllib would not send it)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username), unquote(parts.password or ""))


def push(
    url: str,
    families: Iterable[Family],
    job: str,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Replace the group ``job`` + ``grouping_key`` on the Pushgateway at ``url`` with ``families``."""
    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler

    target, auth = _credentials(url)
    shown = redact_url(url)

    def handler(url: str, method: str, timeout: float | None, headers: list, data: bytes) -> Any:
        if auth is None:
            return default_handler(url, method, timeout, headers, data)
        return basic_auth_handler(url, method, timeout, headers, data, auth[0], auth[1])

    try:
        push_to_gateway(
            target,
            job=job,
            registry=_registry(families),
            grouping_key=dict(grouping_key or {}),
            timeout=timeout,
            handler=handler,
        )
    except OSError as exc:  # urllib's HTTPError and URLError are both OSErrors
        raise PushError(f"Pushgateway {shown}: {_describe(exc)}") from None


def _describe(exc: OSError) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError):
        try:
            body = exc.read().decode("utf-8", "replace").strip().splitlines()
        except Exception:
            body = []
        first = body[0][:200] if body else exc.reason
        return f"HTTP {exc.code}: {first}"
    if isinstance(exc, URLError):
        return f"unreachable ({type(exc.reason).__name__ if isinstance(exc.reason, BaseException) else exc.reason})"
    return f"unreachable ({type(exc).__name__})"
