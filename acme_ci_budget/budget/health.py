"""Budget health: OK / WARN / CRIT of a workflow, and when a period is CRITICAL.

The ledger refuses a call before spend would pass a money limit, so spend alone almost never
reaches 100% and a CRIT on spend alone would never show (a workflow at $249.998 of $250 with
thousands of refused calls showed WARN). A period (a workflow's day or month, the org's month)
is therefore CRITICAL when any of these holds:

1. its money limit refused a call this period (the month's ``blocked|<wf>|<reason>`` counts:
   ``monthly_limit_exceeded`` for the workflow's month, ``total_org_budget_exceeded`` for the
   org's). The stats hash counts blocks per month only, so a daily refusal is judged by rule 2;
2. spent + held is within one worst-case call of the limit: the next call of the largest kind
   would be refused. "One call" is the workflow's worst-case call (``worst_call_nano``): its
   priciest routed model, its largest ``max_tokens`` tier priced as output and the rest of the
   per-task hard token limit priced as input, the largest hold the ledger takes for one routed
   call. Chosen over the month's average call cost because it is the amount the ledger itself
   checks against (a call's worst case, not its actual cost, decides whether it is refused, and
   the average actual cost is far smaller, so with one average call left most calls are already
   refused), and because it needs no history: a new month or an idle workflow is judged alike.
   The org's margin is the largest worst-case call of any workflow. A period with nothing spent
   or held yet is not judged by this rule (an idle budget smaller than one call is a config
   choice, not an emergency to page on);
3. spent reached ``alerts.critical_pct`` of the limit, or the org budget is exhausted (as before).

WARN: spent reached ``alerts.warn_pct`` of a limit, or the org is in its reserve. Health is the
worst of the workflow's day, its month and the org's month. This module is pure: callers (the
ledger's status, the report, alerts) bring the counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.money import fmt_usd

OK, WARN, CRIT = "OK", "WARN", "CRIT"
_RANK = {OK: 0, WARN: 1, CRIT: 2}
DAILY_REFUSAL = "daily_limit_exceeded"
MONTHLY_REFUSAL = "monthly_limit_exceeded"
ORG_REFUSAL = "total_org_budget_exceeded"


@dataclass(frozen=True)
class Health:
    level: str
    reason: str = ""


def worst_call_nano(workflow: Workflow, pricing: Mapping[str, Any] | None = None) -> int:
    """The largest hold one routed call of ``workflow`` can take (module docstring, rule 2)."""

    hard = workflow.per_task_tokens.hard
    output = min(max(workflow.routing.max_tokens.values()), hard)
    return max(cost_nano(model, hard - output, output, overrides=pricing) for model in workflow.routing.models())


def org_worst_call_nano(config: Config) -> int:
    return max((worst_call_nano(wf, config.pricing) for wf in config.workflows.values()), default=0)


def refusal_fields(workflow_ids: Iterable[str]) -> list[str]:
    """The month's stats fields that count money-limit refusals (``blocked|<wf>|<reason>``)."""
    return [f"blocked|{wf}|{reason}" for wf in workflow_ids for reason in (MONTHLY_REFUSAL, ORG_REFUSAL)]


def refused_counts(stats: Mapping[str, Any], workflow_ids: Iterable[str]) -> dict[str, int]:
    """``{wf: monthly refusals, ..., "org": org refusals}`` from the month's stats fields."""
    ids = list(workflow_ids)
    fields = {name: int(stats.get(name) or 0) for name in refusal_fields(ids)}
    out = {wf: fields[f"blocked|{wf}|{MONTHLY_REFUSAL}"] for wf in ids}
    out["org"] = sum(fields[f"blocked|{wf}|{ORG_REFUSAL}"] for wf in ids)
    return out


def critical_reason(kind: str, spent: int, held: int, limit: int, margin: int, refused: int = 0) -> str:
    """Why a period is CRITICAL by rules 1-2 ("" when it is not). ``kind`` names it ("monthly", "org")."""
    if limit <= 0:
        return ""
    if refused > 0:
        return f"the {kind} limit refused {refused:,} call(s) this period"
    left = limit - spent - held
    # A period nothing was spent or held in yet is not critical: a budget smaller than one worst-case call
    # shows once its first call arrives (alerting on an idle budget would page on a config choice).
    if margin > 0 and spent + held > 0 and left < margin:
        return (
            f"{fmt_usd(max(left, 0), 4)} of the {kind} limit left ({fmt_usd(spent)} spent + {fmt_usd(held)} held of "
            f"{fmt_usd(limit)}), less than one worst-case call ({fmt_usd(margin, 4)})"
        )
    return ""


def _worst(*healths: Health) -> Health:
    return max(healths, key=lambda h: _RANK[h.level])


def health_level(
    config: Config,
    daily_pct: float,
    monthly_pct: float,
    org: Mapping[str, Any],
    workflow_id: str | None = None,
    counters: Mapping[str, int] | None = None,
    refused: Mapping[str, int] | None = None,
) -> Health:
    """A workflow's health. ``counters`` uses the ledger's names (``org_spent``, ``org_held``,
    ``<wf>:d_spent``, ``<wf>:d_held``, ``<wf>:m_spent``, ``<wf>:m_held``; a missing one is 0);
    without ``workflow_id`` and ``counters`` only the percentage thresholds apply (rule 3 and WARN)."""
    warn, crit = config.alerts.warn_pct * 100, config.alerts.critical_pct * 100
    worst_pct = max(daily_pct, monthly_pct, org["pct"])
    found = [Health(OK)]
    if org["reserve_state"] == "exhausted":
        found.append(Health(CRIT, "the org budget is spent"))
    elif worst_pct >= crit:
        found.append(Health(CRIT, f"spend at {worst_pct:.1f}% of a limit (critical at {crit:g}%)"))
    elif worst_pct >= warn or org["in_reserve"]:
        found.append(Health(WARN, "org budget in its reserve" if worst_pct < warn else f"spend at {worst_pct:.1f}%"))
    wf = config.workflows.get(workflow_id or "")
    if wf is not None and counters is not None:
        c, r = counters, refused or {}
        margin = worst_call_nano(wf, config.pricing)
        reasons = (
            critical_reason("daily", c.get(f"{wf.id}:d_spent", 0), c.get(f"{wf.id}:d_held", 0), wf.daily_nano, margin),
            critical_reason(
                "monthly",
                c.get(f"{wf.id}:m_spent", 0),
                c.get(f"{wf.id}:m_held", 0),
                wf.monthly_nano,
                margin,
                r.get(wf.id, 0),
            ),
            critical_reason(
                "org",
                c.get("org_spent", 0),
                c.get("org_held", 0),
                config.org_monthly_nano,
                org_worst_call_nano(config),
                r.get("org", 0),
            ),
        )
        found += [Health(CRIT, reason) for reason in reasons if reason]
    return _worst(*found)
