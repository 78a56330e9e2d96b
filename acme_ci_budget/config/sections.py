"""The flat sections: ``ledger:``, ``client:``, ``alerts:``, ``review:``, ``telemetry:``, ``reconcile:``, and the
hold-versus-deadline check.

Owns each one's keys, defaults and bounds, one function per section (a new flat section is one more
function here, or its own module once it grows, and one line in ``validate``). It must not read other
sections, except ``check_deadline``, which runs on the assembled ``Config``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from acme_ci_budget.config.fields import (
    MAX_FILE_BYTES,
    MAX_HOLD_TTL_SECONDS,
    MAX_RETENTION_DAYS,
    MIN_HOLD_TTL_SECONDS,
    Fields,
)
from acme_ci_budget.config.model import (
    LEVELS,
    AlertSettings,
    ClientSettings,
    Config,
    LedgerSettings,
    ReconcileSettings,
    ReviewSettings,
    TelemetrySettings,
    Workflow,
    hold_margin_seconds,
)


def ledger_section(v: Fields, value: Any) -> LedgerSettings:
    body = v.mapping(value, "ledger", {"hold_ttl_seconds", "fail_open", "retention_days"})
    return LedgerSettings(
        hold_ttl_seconds=v.integer(
            body.get("hold_ttl_seconds", 600), "ledger.hold_ttl_seconds", MIN_HOLD_TTL_SECONDS, MAX_HOLD_TTL_SECONDS
        ),
        fail_open=v.boolean(body.get("fail_open", False), "ledger.fail_open"),
        retention_days=v.integer(body.get("retention_days", 400), "ledger.retention_days", 1, MAX_RETENTION_DAYS),
    )


def client_section(v: Fields, value: Any) -> ClientSettings:
    body = v.mapping(value, "client", {"request_timeout_seconds", "max_retries", "deadline_seconds"})
    seconds: dict[str, float] = {}
    for key, high in (("request_timeout_seconds", 3600), ("deadline_seconds", 86400)):
        if key not in body:
            continue
        number = v.number(body[key], f"client.{key}", minimum=Decimal("0.1"))
        if number > high:
            raise v.fail(f"client.{key}", f"must be <= {high}, got {body[key]!r}")
        seconds[key] = float(number)
    retries = v.integer(body.get("max_retries", ClientSettings.max_retries), "client.max_retries")
    if retries > 10:
        raise v.fail("client.max_retries", f"must be <= 10, got {body['max_retries']!r}")
    return ClientSettings(max_retries=retries, **seconds)


def telemetry_section(v: Fields, value: Any) -> TelemetrySettings:
    keys = {"otlp_endpoint", "service_name", "export_interval_seconds", "timeout_seconds"}
    body = v.mapping(value, "telemetry", keys)
    endpoint = v.secret(body.get("otlp_endpoint"), "telemetry.otlp_endpoint")
    if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
        raise v.fail("telemetry.otlp_endpoint", "expected an http:// or https:// URL")
    seconds = {
        key: float(v.number(body[key], f"telemetry.{key}", minimum=Decimal("0.1"), maximum=3600))
        for key in ("export_interval_seconds", "timeout_seconds")
        if key in body
    }
    service = v.string(body.get("service_name", TelemetrySettings.service_name), "telemetry.service_name")
    return TelemetrySettings(otlp_endpoint=endpoint, service_name=service, **seconds)


def check_deadline(v: Fields, config: Config) -> None:
    """A hold that expires while its call still runs frees room that is sold again: refuse that TTL."""
    ttl, deadline = config.ledger.hold_ttl_seconds, config.client.deadline_seconds
    margin = hold_margin_seconds(ttl)
    if deadline is None and ttl - margin < 1:
        raise v.fail("ledger.hold_ttl_seconds", f"{ttl} s leaves no time for a model call; use >= 2")
    if deadline is not None and deadline + margin > ttl:
        raise v.fail(
            "ledger.hold_ttl_seconds",
            f"{ttl} s cannot cover a model call: client.deadline_seconds is {deadline:g} s and a hold must "
            f"outlive its call by {margin:g} s; raise hold_ttl_seconds to >= {math.ceil(deadline + margin)} "
            "or lower client.deadline_seconds",
        )


def alerts_section(v: Fields, value: Any) -> AlertSettings:
    body = v.mapping(
        value, "alerts", {"slack_webhook_url", "pagerduty_routing_key", "warn_pct", "critical_pct", "min_level"}
    )
    warn = v.fraction(body.get("warn_pct", "0.8"), "alerts.warn_pct")
    critical = v.fraction(body.get("critical_pct", "1.0"), "alerts.critical_pct")
    if warn > critical:
        raise v.fail("alerts.warn_pct", f"warn_pct {warn} is above critical_pct {critical}")
    level = str(body.get("min_level", "INFO")).upper()
    if level not in LEVELS:
        raise v.fail("alerts.min_level", f"expected one of {', '.join(LEVELS)}, got {body['min_level']!r}")
    return AlertSettings(
        slack_webhook_url=v.secret(body.get("slack_webhook_url"), "alerts.slack_webhook_url"),
        pagerduty_routing_key=v.secret(body.get("pagerduty_routing_key"), "alerts.pagerduty_routing_key"),
        warn_pct=float(warn),
        critical_pct=float(critical),
        min_level=level,
    )


def review_section(v: Fields, value: Any) -> ReviewSettings:
    body = v.mapping(
        value,
        "review",
        {"skip_label", "exclude", "include", "escalate_globs", "max_file_bytes", "inline_comments"},
    )
    return ReviewSettings(
        skip_label=v.string(body.get("skip_label", "no-ai-review"), "review.skip_label"),
        exclude=v.strings(body.get("exclude"), "review.exclude"),
        include=v.strings(body.get("include"), "review.include"),
        escalate_globs=v.strings(body.get("escalate_globs"), "review.escalate_globs"),
        max_file_bytes=v.integer(body.get("max_file_bytes", 200_000), "review.max_file_bytes", 1, MAX_FILE_BYTES),
        inline_comments=v.boolean(body.get("inline_comments", False), "review.inline_comments"),
    )


def reconcile_section(v: Fields, value: Any, workflows: Mapping[str, Workflow]) -> ReconcileSettings:
    """``reconcile:``: the API keys and workspace that are this product's, and which workflow a key charges."""
    body = v.mapping(value, "reconcile", {"api_key_ids", "workspace_id", "key_workflows"})
    keys = v.strings(body.get("api_key_ids"), "reconcile.api_key_ids")
    raw = body.get("key_workflows") or {}
    mapping = v.mapping(raw, "reconcile.key_workflows", set(raw) if isinstance(raw, dict) else set())
    for key, wid in mapping.items():
        where = f"reconcile.key_workflows.{key}"
        if keys and key not in keys:
            raise v.fail(where, "this key is not in reconcile.api_key_ids")
        if v.string(wid, where) not in workflows:
            raise v.fail(where, f"unknown workflow {wid!r} (known: {', '.join(sorted(workflows))})")
    workspace = body.get("workspace_id")
    return ReconcileSettings(
        api_key_ids=keys,
        workspace_id=v.string(workspace, "reconcile.workspace_id") if workspace is not None else None,
        key_workflows=dict(mapping),
    )
