"""Per-call OpenTelemetry metrics: which instruments a settled, blocked or failed model call records.

Owns the mapping from the client's ``CallRecord`` (the figures the call's ledger event carries) to
instruments, following the OpenTelemetry semantic conventions for generative AI, Development status,
**as published for semantic-conventions v1.42.0** (``docs/gen-ai/gen-ai-metrics.md`` and
``anthropic.md``; the later, unreleased restructure into ``gen_ai.client.inference.*`` counters is not
followed):

- ``gen_ai.client.token.usage``: histogram, ``{token}``, the convention's buckets; one point of
  ``gen_ai.token.type`` ``input`` and one of ``output`` per answered call. The convention's token
  types are only ``input`` and ``output``, and for Anthropic ``input`` is ``input_tokens +
  cache_read_input_tokens + cache_creation_input_tokens`` (the cache reads and writes are part of the
  input, not types of their own); a reply without usage records no point (the convention forbids
  guessing). The four disjoint counts the ledger keeps are ``acme_budget.tokens`` below.
- ``gen_ai.client.operation.duration``: histogram, ``s``, the convention's buckets; every sent call,
  with ``error.type`` (the exception's class) when it failed.
- ``acme_budget.cost``: counter, ``USD``, the call's charged cost (no convention for cost yet:
  semantic-conventions-genai PR #443 proposes ``gen_ai.usage.cost.*``).
- ``acme_budget.tokens``: counter, ``{token}``, ``acme_budget.token.type`` ``input`` | ``output`` |
  ``cache_read`` | ``cache_write``, disjoint as the API bills them (and as ``metrics`` publishes them).
- ``acme_budget.blocked``: counter, ``{call}``, each call the budget refused, by ``acme_budget.reason``.

Every point carries ``gen_ai.operation.name`` (``chat``: the Messages API), ``gen_ai.provider.name``
(``anthropic``), ``gen_ai.request.model`` and, when the API answered, ``gen_ai.response.model``, plus
``acme_budget.workflow`` (the convention allows system-specific attributes) and, once calls carry it,
``acme_budget.repo``. It must not read Redis or the ledger, and imports no OpenTelemetry itself
(``integrations.otel`` does, only when metrics are enabled).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from acme_ci_budget import __version__
from acme_ci_budget.client.hooks import CallRecord
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import NANO_PER_USD
from acme_ci_budget.integrations import otel

SEMCONV_VERSION = "1.42.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
SCOPE = "acme_ci_budget"
OPERATION = "chat"
PROVIDER = "anthropic"
# The bucket boundaries the convention says these histograms SHOULD have.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

TOKEN_USAGE = "gen_ai.client.token.usage"
DURATION = "gen_ai.client.operation.duration"
COST = "acme_budget.cost"
TOKENS = "acme_budget.tokens"
BLOCKED = "acme_budget.blocked"


def otlp_settings(config: Config, environ: Mapping[str, str] | None = None) -> otel.OtlpSettings | None:
    """Where to export, or None when metrics are off: on with an ``OTEL_EXPORTER_OTLP_*ENDPOINT``
    variable (which wins) or ``telemetry.otlp_endpoint``; off with ``OTEL_SDK_DISABLED=true``."""
    t = config.telemetry
    endpoint = otel.resolve_endpoint(t.otlp_endpoint, environ)
    if endpoint is None:
        return None
    return otel.OtlpSettings(endpoint, t.service_name, t.export_interval_seconds, t.timeout_seconds)


def base_attributes(workflow_id: str, request_model: str, repo: str | None = None) -> dict[str, str]:
    attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": request_model,
        "acme_budget.workflow": workflow_id,
    }
    if repo:
        attributes["acme_budget.repo"] = repo
    return attributes


class GenAIMetrics:
    """The telemetry hook of ``BudgetedClient`` (``record_call``, ``record_block``) on one meter."""

    def __init__(self, meter: Any) -> None:
        self.meter = meter
        self.token_usage = meter.histogram(
            TOKEN_USAGE, "{token}", "Number of input and output tokens used.", TOKEN_BUCKETS
        )
        self.duration = meter.histogram(DURATION, "s", "GenAI operation duration.", DURATION_BUCKETS)
        self.cost = meter.counter(COST, "USD", "Cost of the model calls, as the budget ledger charged them.")
        self.tokens = meter.counter(TOKENS, "{token}", "Tokens by billing kind (input excludes the cache).")
        self.blocked = meter.counter(BLOCKED, "{call}", "Model calls the budget refused, by reason.")

    def record_call(self, call: CallRecord) -> None:
        attributes = base_attributes(call.workflow_id, call.request_model, call.repo)
        if call.response_model:
            attributes["gen_ai.response.model"] = call.response_model
        if call.error_type:
            self.duration.record(call.duration_seconds, {**attributes, "error.type": call.error_type})
            if call.cost_nano:  # a billed reply that could not be read: charged at its hold
                self.cost.add(call.cost_nano / NANO_PER_USD, {**attributes, "error.type": call.error_type})
            return
        self.duration.record(call.duration_seconds, attributes)
        self.cost.add(call.cost_nano / NANO_PER_USD, attributes)
        if not call.usage_known:
            return
        whole_input = call.input_tokens + call.cache_read_tokens + call.cache_write_tokens
        self.token_usage.record(whole_input, {**attributes, "gen_ai.token.type": "input"})
        self.token_usage.record(call.output_tokens, {**attributes, "gen_ai.token.type": "output"})
        for kind, count in (
            ("input", call.input_tokens),
            ("output", call.output_tokens),
            ("cache_read", call.cache_read_tokens),
            ("cache_write", call.cache_write_tokens),
        ):
            self.tokens.add(count, {**attributes, "acme_budget.token.type": kind})

    def record_block(self, workflow_id: str, model: str, reason: str, repo: str | None = None) -> None:
        self.blocked.add(1, {**base_attributes(workflow_id, model, repo), "acme_budget.reason": reason})

    def flush(self) -> bool:
        return self.meter.flush()


_recorders: dict[int, GenAIMetrics] = {}
_lock = threading.Lock()


def otel_hook(config: Config, enforcer: Any = None) -> GenAIMetrics | None:
    """The client's telemetry hook when metrics are enabled (see ``otlp_settings``), else None.

    One meter and one set of instruments per process and endpoint, whatever the number of clients.
    """
    settings = otlp_settings(config)
    if settings is None:
        return None
    handle = otel.open_meter(settings, SCOPE, __version__, SCHEMA_URL)
    if handle is None:
        return None
    with _lock:
        recorder = _recorders.get(id(handle))
        if recorder is None or recorder.meter is not handle:
            recorder = _recorders[id(handle)] = GenAIMetrics(handle)
        return recorder
