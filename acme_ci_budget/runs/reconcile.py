"""``reconcile``'s run: the period, both reports fetched, the ledger read, compared, adjusted, rendered.

Owns the wiring of one reconcile: which UTC period ``--month`` / ``--since`` / ``--until`` mean, the
Admin API calls (``integrations.anthropic_admin``; the usage report grouped by model, and by API key
when the config names keys; the cost report grouped by description, and by workspace when it names
one), the ledger's events of the period and the adjustments (``ledger.reconcile``), the comparison
(``budget.reconcile``), the month's figure kept for the report, and the text / Markdown / JSON
output. It must not hold comparison maths, touch Redis keys, or print: the command prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from acme_ci_budget.budget.provider_reports import provider_side
from acme_ci_budget.budget.reconcile import (
    DRIFT,
    LEDGER_ONLY,
    PROVIDER_ONLY,
    TOKEN_TYPES,
    Adjustment,
    ProviderSide,
    Reconciliation,
    compare,
    ledger_cells,
)
from acme_ci_budget.config import Config
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.redact import redact_url
from acme_ci_budget.integrations.anthropic_admin import AdminClient
from acme_ci_budget.ledger import reconcile as ledger_side
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.ledger.errors import LedgerUnavailable, is_connection_error
from acme_ci_budget.report.monthly import resolve_month

MAX_DAYS = 366
SHORT_TYPES = dict(zip(TOKEN_TYPES, ("in", "cw5m", "cw1h", "cr", "out"), strict=True))


@dataclass(frozen=True)
class Period:
    """A span of whole UTC days [since, until); ``month`` when it is one calendar month."""

    label: str
    since: datetime
    until: datetime
    month: str | None = None

    @property
    def since_ms(self) -> int:
        return int(self.since.timestamp() * 1000)

    @property
    def until_ms(self) -> int:
        return int(self.until.timestamp() * 1000)


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
    except ValueError:
        raise UsageError(f"{option}: expected a UTC day YYYY-MM-DD, got {text!r}") from None


def resolve_period(month: str | None, since: str | None, until: str | None, now: datetime) -> Period:
    """``--month YYYY-MM|current|previous`` (UTC months; ``current`` stops at today's UTC midnight, the
    last complete day) or ``--since DAY --until DAY`` (UTC days, until exclusive)."""
    if (since or until) and month:
        raise UsageError("--month: give either --month or --since/--until, not both")
    if since or until:
        if not (since and until):
            raise UsageError(f"{'--until' if since else '--since'}: --since and --until go together")
        start, end = _day(since, "--since"), _day(until, "--until")
        if end <= start:
            raise UsageError(f"--until: {until} must be after --since {since}")
        if (end - start).days > MAX_DAYS:
            raise UsageError(f"--until: at most {MAX_DAYS} days at a time, got {(end - start).days}")
        return Period(f"{start:%Y-%m-%d}..{end:%Y-%m-%d}", start, end)
    try:
        label = resolve_month(month or "previous", now, UTC)
    except ValueError as exc:
        raise UsageError(f"--month: {str(exc).removeprefix('month: ')}") from None
    start = datetime.strptime(label + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    today = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
    if min(end, today) <= start:
        raise UsageError(f"--month: {label} has no complete UTC day yet")
    return Period(label, start, min(end, today), label)


@dataclass(frozen=True)
class ReconcileRun:
    """What one run found and did."""

    period: Period
    result: Reconciliation
    recorded: tuple[ledger_side.Recorded, ...]
    scope: str  # what of the organisation's usage was compared
    requests: int


def _scope(config: Config) -> str:
    s = config.reconcile
    parts = []
    if s.api_key_ids:
        parts.append(f"API keys {', '.join(s.api_key_ids)}")
    if s.workspace_id:
        parts.append(f"workspace {s.workspace_id}")
    return " in ".join(parts) if parts else "the whole organisation"


def _workflow_for(keys: frozenset[str], mapping: Mapping[str, str]) -> str | None:
    """The one workflow every key of a cell maps to, else None (the adjustment charges the org only)."""
    workflows = {mapping.get(k) for k in keys}
    return workflows.pop() if keys and len(workflows) == 1 and None not in workflows else None


def _fetch(client: AdminClient, config: Config, period: Period) -> ProviderSide:
    s = config.reconcile
    usage = client.usage_report(
        period.since,
        period.until,
        group_by=("model", "api_key_id") if s.api_key_ids or s.key_workflows else ("model",),
        workspace_ids=(s.workspace_id,) if s.workspace_id else (),
    )
    cost = client.cost_report(
        period.since, period.until, group_by=("workspace_id", "description") if s.workspace_id else ("description",)
    )
    return provider_side(usage, cost, s.api_key_ids, s.workspace_id)


def run_reconcile(
    config: Config,
    period: Period,
    *,
    tolerance_pct: Decimal,
    record_adjustments: bool = False,
    redis_url: str | None = None,
    redis: Any = None,
    client: AdminClient | None = None,
    clock: Clock | None = None,
) -> ReconcileRun:
    """Fetch both reports for ``period``, compare them with the ledger, and (asked to) record adjustments."""
    client = client or AdminClient()
    provider = _fetch(client, config, period)
    url = redis_url or os.environ.get("REDIS_URL")
    try:
        enforcer = BudgetEnforcer(config, redis_url=url, redis=redis, clock=clock)
        ledger = ledger_cells(ledger_side.spend_events(enforcer, period.since_ms, period.until_ms))
        result = compare(ledger, provider, tolerance_pct, period.label)
        recorded: list[ledger_side.Recorded] = []
        if record_adjustments:
            mapping = config.reconcile.key_workflows
            todo: list[Adjustment] = [
                replace(a, workflow=_workflow_for(provider.cell_keys.get((a.day, a.model), frozenset()), mapping))
                for a in result.adjustments()
            ]
            recorded = ledger_side.record_adjustments(enforcer, period.label, todo)
        if period.month:
            ledger_side.record_result(enforcer, period.month, result.ledger_nano, result.provider_nano)
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        raise LedgerUnavailable(f"cannot reach the budget ledger at {redact_url(url)} ({type(exc).__name__})") from None
    return ReconcileRun(period, result, tuple(recorded), _scope(config), client.requests_made)


# --- output -----------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}%"


def _tokens(tokens: Mapping[str, int]) -> str:
    return " ".join(f"{SHORT_TYPES[k]}={tokens[k]:,}" for k in TOKEN_TYPES if tokens[k])


def _summary_lines(run: ReconcileRun) -> list[str]:
    r = run.result
    lines = [
        f"ledger vs Anthropic: drift {_pct(r.drift_pct)} ({fmt_usd(r.drift_nano, 6)}) over {len(r.rows)} day x model "
        f"row(s); tolerance {r.tolerance_pct}% -> {'within' if r.within_tolerance else 'PAST'} tolerance",
        f"ledger {fmt_usd(r.ledger_nano, 6)} | Anthropic {fmt_usd(r.provider_nano, 6)} (scope: {run.scope})",
    ]
    if r.adjusted_nano:
        lines.append(f"adjustments already in the ledger: {fmt_usd(r.adjusted_nano, 6)}")
    lines.append(
        f"outside the budget (other keys, workspaces, the console, web search...): {fmt_usd(r.outside_nano, 6)}"
    )
    drifts, provider_only, ledger_only = (r.by_status(s) for s in (DRIFT, PROVIDER_ONLY, LEDGER_ONLY))
    if drifts:
        lines.append("disagree: " + ", ".join(f"{x.day} {x.model} ({fmt_usd(x.drift_nano, 6)})" for x in drifts))
    if provider_only:
        lines.append(
            "unattributed (billed, never in the ledger): "
            + ", ".join(f"{x.day} {x.model} ({fmt_usd(x.provider_nano, 6)})" for x in provider_only)
        )
    if ledger_only:
        lines.append(
            "RED FLAG: in the ledger, not in Anthropic's reports: "
            + ", ".join(f"{x.day} {x.model} ({fmt_usd(x.ledger_nano, 6)})" for x in ledger_only)
        )
    if run.recorded:
        new = [x for x in run.recorded if x.written]
        lines.append(
            f"adjustments recorded: {len(new)} ({fmt_usd(sum(x.nano for x in new), 6)}); "
            f"{len(run.recorded) - len(new)} already recorded by an earlier run"
        )
    return lines


def render(run: ReconcileRun, fmt: str) -> str:
    """The run as ``text``, ``markdown`` or ``json`` (the issue's keys, and what was recorded)."""
    r = run.result
    if fmt == "json":
        data = r.to_json()
        data["scope"] = run.scope
        data["recorded_adjustments"] = [
            {
                "id": x.id,
                "day": x.adjustment.day,
                "model": x.adjustment.model,
                "usd": x.nano / 1e9,
                "workflow": x.workflow,
                "written": x.written,
            }
            for x in run.recorded
        ]
        return json.dumps(data, indent=2) + "\n"
    head = ("day", "model", "ledger", "Anthropic", "drift", "drift %", "status")
    rows = [
        (
            x.day,
            x.model,
            fmt_usd(x.ledger_nano, 6),
            fmt_usd(x.provider_nano, 6),
            fmt_usd(x.drift_nano, 6),
            _pct(None if not x.provider_nano else x.drift_nano * 100.0 / x.provider_nano),
            x.status,
        )
        for x in r.rows
    ]
    if fmt == "markdown":
        out = [f"### Reconcile {run.period.label}: ledger vs Anthropic", ""]
        out += [f"- {line}" for line in _summary_lines(run)] + [""]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out) + "\n"
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    out = [f"reconcile {run.period.label} (UTC days)", *_summary_lines(run), ""]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for row, x in zip(rows, r.rows, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if x.status != "match":
            mine, theirs = _tokens(x.ledger_tokens) or "-", _tokens(x.provider_tokens) or "-"
            out.append(f"    tokens ledger: {mine} | Anthropic: {theirs}")
    return "\n".join(out) + "\n"
