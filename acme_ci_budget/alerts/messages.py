"""The alerts' wording: every sentence an alert says, and its Slack Block Kit rendering.

Owns the text of each condition's message (thresholds, the one-call critical, the org reserve,
forecasts, blocks, calls over their hold, session soft limits, resolved incidents, the test
message), how percentages and forecasts read (floored, so 99.96% never reads as 100%), and the
Slack payload rendered from ``templates/slack_alert.json.j2`` through ``core.templating``'s one
environment, escaped with ``integrations.slack.slack_escape``. Pure functions of the values they
are given: it must not read the ledger, decide whether an alert holds, or send anything.
"""

from __future__ import annotations

import json

from acme_ci_budget.alerts.alert import CRITICAL, INFO, WARNING, Alert
from acme_ci_budget.budget.forecast import Forecast
from acme_ci_budget.config import Config
from acme_ci_budget.core.money import fmt_usd, pct
from acme_ci_budget.core.templating import environment
from acme_ci_budget.integrations.slack import slack_escape

SLACK_TEMPLATE = "slack_alert.json.j2"
_EMOJI = {INFO: ":information_source:", WARNING: ":warning:", CRITICAL: ":rotating_light:"}


def pct_text(value: float) -> str:
    """``80%``, ``81.3%``: floored to one decimal so 99.96% never reads as 100%."""
    floored = int(value * 10) / 10
    return f"{floored:g}%"


def forecast_text(fc: Forecast) -> str:
    if fc.budget_nano <= 0:
        return ""
    text = (
        f"Month-end forecast {fmt_usd(fc.projected_nano)} of {fmt_usd(fc.budget_nano)} "
        f"({pct_text(fc.projected_pct)}) at {fmt_usd(fc.burn_nano_per_day)}/day"
    )
    if fc.exhausted and fc.runs_out_on:
        return text + f"; the budget ran out on {fc.runs_out_on.isoformat()}"
    if fc.runs_out_on:
        return text + f"; the budget runs out on {fc.runs_out_on.isoformat()}"
    return text + "; on track to stay within budget"


def calls(n: int) -> str:
    return f"{n:,} call{'s' if n != 1 else ''}"


def label(config: Config, wf: str | None) -> str:
    """How a scope is named in a message: ``Org``, ``CI/CD code review (ci_cd_review)``."""
    if wf is None:
        return "Org"
    w = config.workflows.get(wf)
    return f"{w.label} ({wf})" if w else f"unknown workflow {wf[:64]!r}"


def threshold(
    who: str,
    kind: str,
    suffix: str,
    period: str,
    spent: int,
    limit: int,
    fraction: float,
    crossed: bool,
    critical: str,
    fc: Forecast | None,
) -> str:
    """``kind`` (daily / monthly) spend that ``crossed`` its ``suffix`` (warn / critical) threshold
    ``fraction``, or is critical below it for ``critical``'s reason (``health.critical_reason``)."""
    word = "warning" if suffix == "warn" else "critical"
    consequence = ""
    if suffix == "critical" and (fraction >= 1 or not crossed):
        consequence = "; requests are refused " + ("until tomorrow" if kind == "daily" else "until next month")
    when = f"on {period}" if kind == "daily" else f"in {period}"
    share = pct_text(pct(spent, limit))
    if crossed:
        message = (
            f"{who}: {kind} spend {fmt_usd(spent)} of {fmt_usd(limit)} ({share}) "
            f"{when} crossed the {pct_text(fraction * 100)} {word} threshold{consequence}"
        )
    else:
        message = (
            f"{who}: {kind} budget critical {when} at {share} "
            f"({fmt_usd(spent)} of {fmt_usd(limit)}): {critical}{consequence}"
        )
    if fc is not None and not fc.exhausted:
        message += f". {forecast_text(fc)}"
    return message


def reserve(reserve_pct: float, org_spent: int, budget: int, threshold_nano: int, fc: Forecast) -> str:
    return (
        f"Org entered its {pct_text(reserve_pct * 100)} reserve: monthly spend {fmt_usd(org_spent)} "
        f"of {fmt_usd(budget)} ({pct_text(pct(org_spent, budget))}) is past "
        f"{fmt_usd(threshold_nano)}; the router now picks cheaper models. {forecast_text(fc)}"
    )


def forecast(who: str, fc: Forecast) -> str:
    return f"{who}: month-end forecast above budget. {forecast_text(fc)}"


def blocked(who: str, reason: str, count: int | None, day: str) -> str:
    """One block just now (``count`` None), or ``count`` blocks since the last check."""
    if count is None:
        what = f"a request was blocked: {reason}"
    else:
        what = f"{count} request{'s' if count != 1 else ''} blocked ({reason}) since the last check"
    return f"{who}: {what} on {day}"


def over_hold(who: str, new: int, month_count: int, month_nano: int) -> str:
    return (
        f"{who}: {calls(new)} settled above {'their' if new != 1 else 'its'} hold "
        f"since the last check (the API billed more than the worst case held); this month "
        f"{calls(month_count)}, {fmt_usd(month_nano, 4)} over their holds"
    )


def session_soft(who: str, session_id: str, tokens: int, soft: int) -> str:
    return (
        f"{who}: session {session_id[:64]} used {tokens:,} tokens, "
        f"past its soft limit of {soft:,}; compress or summarise the context"
    )


def resolved(who: str, condition: str, period: object) -> str:
    return f"{who}: {condition} of {period} resolved: a new period has started"


def channel_test(namespace: str) -> str:
    return f"Test alert from acme-ci-budget (namespace {namespace}): this channel works."


def slack_payload(alert: Alert, run_url: str | None = None) -> dict:
    """The Block Kit message for ``alert``, rendered from ``templates/slack_alert.json.j2``."""
    fc = alert.forecast
    context = {
        "level": alert.level,
        "emoji": _EMOJI[alert.level],
        "condition": alert.condition,
        "header": f"{alert.level}: {alert.condition.replace('_', ' ')} ({alert.scope})"[:150],
        "message": alert.message,
        "workflow": "Organisation" if alert.workflow_id is None else alert.workflow_id,
        "period": alert.period,
        "spend": (
            f"{fmt_usd(alert.spent_nano)} / {fmt_usd(alert.limit_nano)}"
            if alert.spent_nano is not None and alert.limit_nano
            else None
        ),
        "percent": pct_text(alert.percent) if alert.percent is not None else None,
        "forecast": forecast_text(fc) if fc is not None else None,
        "reason": alert.reason,
        "run_url": run_url,
    }
    env = environment(filters={"slack_escape": slack_escape})
    return json.loads(env.get_template(SLACK_TEMPLATE).render(**context))


__all__ = [
    "blocked",
    "calls",
    "channel_test",
    "forecast",
    "forecast_text",
    "label",
    "over_hold",
    "pct_text",
    "reserve",
    "resolved",
    "session_soft",
    "slack_payload",
    "threshold",
]
