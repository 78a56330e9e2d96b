"""Validating a whole file: the top-level keys, ``org``, ``timezone``, ``namespace``, then each section in turn.

Owns the order of the sections (errors are reported in it: the first bad field wins) and the checks that
span sections (workflow budgets within the org's, the hold TTL against the call deadline, every model
priced). Each section lives in its own module (``workflows``, ``pricing``, ``roi``, ``sections``, ``repos``); a new
section is a new function there and a line here. It must not read files or parse YAML (``load`` does).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acme_ci_budget.config.fields import Fields
from acme_ci_budget.config.model import Config
from acme_ci_budget.config.pricing import check_models, pricing_section
from acme_ci_budget.config.repos import repos_section
from acme_ci_budget.config.roi import roi_section
from acme_ci_budget.config.sections import (
    alerts_section,
    check_deadline,
    client_section,
    ledger_section,
    reconcile_section,
    review_section,
    telemetry_section,
)
from acme_ci_budget.config.workflows import workflow_section

NAMESPACE = re.compile(r"[A-Za-z0-9_.-]+")  # a namespace becomes the keys' Redis Cluster hash tag

# The keys a file may have at its top; a new section adds its key here.
TOP_LEVEL = frozenset(
    {
        "org", "timezone", "namespace", "ledger", "client", "pricing", "workflows", "alerts", "roi", "review",
        "telemetry", "reconcile", "repos",
    }
)


def validate(raw: Any, source: str) -> Config:
    """The ``Config`` that ``raw`` (parsed YAML) describes; ``ConfigError`` naming ``source`` and the field."""
    v = Fields(source)
    if raw is None:
        raise v.fail("top level", "the file is empty")
    top = v.mapping(raw, "", TOP_LEVEL, {"org", "workflows"})
    org = v.mapping(top["org"], "org", {"monthly_usd", "reserve_pct"}, {"monthly_usd"})
    org_nano = v.usd(org["monthly_usd"], "org.monthly_usd")
    reserve = v.number(org.get("reserve_pct", 0), "org.reserve_pct")
    if not Decimal(0) <= reserve < 1:
        raise v.fail("org.reserve_pct", f"must be in [0, 1), got {org.get('reserve_pct')!r}")
    timezone = v.string(top.get("timezone", "UTC"), "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise v.fail("timezone", f"unknown timezone {timezone!r} (use an IANA name like 'UTC')") from None
    namespace = v.string(top.get("namespace", "default"), "namespace")
    if not NAMESPACE.fullmatch(namespace):
        raise v.fail("namespace", "use letters, digits, '_', '.' or '-' only")
    pricing = pricing_section(v, top.get("pricing") or {})
    workflows_raw = top["workflows"]
    if not isinstance(workflows_raw, dict) or not workflows_raw:
        raise v.fail("workflows", "expected a mapping with at least one workflow")
    workflows = {wid: workflow_section(v, wid, body) for wid, body in workflows_raw.items()}
    total = sum(wf.monthly_nano for wf in workflows.values())
    if total > org_nano:
        raise v.fail(
            "workflows",
            f"monthly budgets add up to ${total / 1e9:,.2f}, above org.monthly_usd ${org_nano / 1e9:,.2f}",
        )
    config = Config(
        path=v.source,
        org_monthly_nano=org_nano,
        reserve_pct=float(reserve),
        timezone=timezone,
        namespace=namespace,
        ledger=ledger_section(v, top.get("ledger") or {}),
        pricing=pricing,
        workflows=workflows,
        alerts=alerts_section(v, top.get("alerts") or {}),
        roi=roi_section(v, top.get("roi"), workflows),
        review=review_section(v, top.get("review") or {}),
        client=client_section(v, top.get("client") or {}),
        repos=repos_section(v, top.get("repos") or {}),
        telemetry=telemetry_section(v, top.get("telemetry") or {}),
        reconcile=reconcile_section(v, top.get("reconcile") or {}, workflows),
    )
    check_deadline(v, config)
    check_models(v, config)
    return config
