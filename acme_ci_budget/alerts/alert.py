"""The alert's vocabulary: levels, condition names, and the frozen results every alert module passes around.

Owns ``Alert`` (one alert that fired, or a PagerDuty incident resolved; it never carries a
secret), ``Condition`` (an alert that holds now, with the name of its once-per-period claim),
``SpendFigures`` (the counters a settle or a ledger read reports), the levels and their order,
the condition names and the level of each block reason. It must not evaluate, claim, word or
send anything (``conditions``, ``dedup``, ``messages``, ``channels`` do).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from acme_ci_budget.budget.forecast import Forecast
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import pct

INFO, WARNING, CRITICAL = "INFO", "WARNING", "CRITICAL"
LEVELS = (INFO, WARNING, CRITICAL)
RANK = {level: i for i, level in enumerate(LEVELS)}

# Conditions (Alert.condition).
DAILY_WARN = "daily_warn"
DAILY_CRITICAL = "daily_critical"
MONTHLY_WARN = "monthly_warn"
MONTHLY_CRITICAL = "monthly_critical"
ORG_RESERVE = "org_reserve"
FORECAST = "forecast_over_budget"
BLOCKED = "request_blocked"
SESSION_SOFT = "session_soft_limit"
OVER_HOLD = "settled_over_hold"  # the API billed a call more than the worst case its hold held
RESOLVED_SUFFIX = "_resolved"

# A refusal that stops spending money is worth a Slack message; a token or loop guard doing its job is not.
BLOCK_LEVELS = {
    "total_org_budget_exceeded": CRITICAL,
    "monthly_limit_exceeded": WARNING,
    "daily_limit_exceeded": WARNING,
    "repo_limit_exceeded": WARNING,
    "unknown_workflow": WARNING,
    "ledger_unavailable": WARNING,
    "task_token_limit_exceeded": INFO,
    "session_token_limit_exceeded": INFO,
    "loop_step_limit_exceeded": INFO,
}


class AlertError(AcmeError, RuntimeError):
    """An alert could not be sent on request (``alerts test``) or the ledger could not be read (strict check)."""


@dataclass(frozen=True)
class Alert:
    """One alert that fired (or one PagerDuty incident resolved); never carries a secret."""

    level: str
    condition: str
    workflow_id: str | None  # None: the org
    period: str  # '2026-11-29' (day), '2026-11' (month), or the session id for session alerts
    message: str
    delivered_to: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    spent_nano: int | None = None
    limit_nano: int | None = None
    forecast: Forecast | None = None
    reason: str | None = None
    session_id: str | None = None
    dedup_key: str = ""  # the stable id PagerDuty dedups on

    @property
    def scope(self) -> str:
        return self.workflow_id or "org"

    @property
    def percent(self) -> float | None:
        if self.spent_nano is None or not self.limit_nano:
            return None
        return pct(self.spent_nano, self.limit_nano)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scope"] = self.scope
        data["percent"] = self.percent
        if self.forecast is not None:
            fc = self.forecast
            data["forecast"] = {
                "projected_nano": fc.projected_nano,
                "projected_pct": fc.projected_pct,
                "burn_nano_per_day": fc.burn_nano_per_day,
                "runs_out_on": fc.runs_out_on.isoformat() if fc.runs_out_on else None,
            }
        return data


@dataclass(frozen=True)
class Condition:
    """An alert that holds now, and the name of the claim that makes it fire once.

    ``claim``: the claim's name parts (``ledger.claims`` makes them a key); ``period``: ``day`` or
    ``month``, the claim lasts until that period ends; ``group``: warn and critical of one scope and
    period, of which only the highest claimed is sent; ``incident_kind``: ``day`` / ``month`` when a
    PagerDuty trigger is to be resolved once that period is over.
    """

    alert: Alert
    claim: tuple[str, ...]
    period: str
    group: str = ""
    incident_kind: str = ""


@dataclass(frozen=True)
class SpendFigures:
    """Spend and holds of one workflow's day and month and of the org's month (nano-USD)."""

    org_spent: int
    month_spent: int
    day_spent: int
    org_held: int = 0
    month_held: int = 0
    day_held: int = 0


__all__ = [
    "BLOCKED",
    "BLOCK_LEVELS",
    "CRITICAL",
    "DAILY_CRITICAL",
    "DAILY_WARN",
    "FORECAST",
    "INFO",
    "LEVELS",
    "MONTHLY_CRITICAL",
    "MONTHLY_WARN",
    "ORG_RESERVE",
    "OVER_HOLD",
    "RANK",
    "RESOLVED_SUFFIX",
    "SESSION_SOFT",
    "WARNING",
    "Alert",
    "AlertError",
    "Condition",
    "SpendFigures",
]
