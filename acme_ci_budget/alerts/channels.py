"""Where alerts go: the outside channels as rows of one registry, and the log and GitHub legs every alert takes.

Owns ``CHANNELS``: per outside channel (Slack incoming webhook, PagerDuty Events API v2), the
least level it carries (which is also the rollout stage, ``alerts.min_level``, that switches it
on), the setting that holds its secret, where it is posted, the body of a trigger and, for a
channel with incidents, of a resolve. A new channel is one row here (and one parametrised test
row). Also ``channels_for`` (the rollout rule), the log line of an alert and its GitHub Actions
annotation and job-summary line. Levels follow the lab's rollout: INFO goes to the log and GitHub;
WARNING adds Slack; CRITICAL adds PagerDuty; an alert above the stage still goes to the channels
the stage allows. It must not post (``delivery`` does), claim, or decide whether an alert holds;
a row's body may hold its secret (a routing key), but nothing here logs or returns one otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from acme_ci_budget.alerts import messages
from acme_ci_budget.alerts.alert import CRITICAL, INFO, RANK, WARNING, Alert
from acme_ci_budget.alerts.scrubbing import LOGGER, webhook_where
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.integrations import gha

log = logging.getLogger(LOGGER)

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SLACK = "slack"
PAGERDUTY = "pagerduty"
_LOG_LEVEL = {INFO: logging.INFO, WARNING: logging.WARNING, CRITICAL: logging.ERROR}
_SEVERITY = {INFO: "info", WARNING: "warning", CRITICAL: "critical"}


@dataclass(frozen=True)
class Envelope:
    """What a channel body is built from besides the alert: the channel's secret and the run's context."""

    secret: str
    now: datetime
    namespace: str
    run_url: str | None = None


@dataclass(frozen=True)
class Channel:
    """One outside channel.

    ``level``: the least level it carries, and the rollout stage that switches it on; ``setting``:
    the ``alerts`` setting holding its secret (``env`` names the variable a config usually takes it
    from); ``endpoint``: where to post (None: the secret is the URL, an incoming webhook);
    ``trigger``: the body for an alert; ``resolve``: the body closing an incident by its dedup key
    (None: the channel has no incidents).
    """

    name: str
    level: str
    setting: str
    env: str
    endpoint: str | None
    trigger: Callable[[Alert, Envelope], dict]
    resolve: Callable[[str, Envelope], dict] | None = None

    def secret(self, settings: Any) -> str | None:
        return getattr(settings, self.setting) or None

    def url(self, secret: str, endpoints: Mapping[str, str]) -> str:
        return endpoints.get(self.name) or self.endpoint or secret

    def where(self, url: str) -> str:
        """How the destination may be named in a log line: a webhook by its host only."""
        return webhook_where(url) if self.endpoint is None else url


def slack_trigger(alert: Alert, env: Envelope) -> dict:
    return messages.slack_payload(alert, env.run_url)


def pagerduty_trigger(alert: Alert, env: Envelope) -> dict:
    """A PagerDuty Events API v2 ``trigger`` with the alert's stable ``dedup_key``."""
    details: dict[str, Any] = {"condition": alert.condition, "period": alert.period, "scope": alert.scope}
    if alert.spent_nano is not None and alert.limit_nano:
        details["spend"] = fmt_usd(alert.spent_nano)
        details["limit"] = fmt_usd(alert.limit_nano)
        details["percent"] = messages.pct_text(alert.percent or 0)
    if alert.forecast is not None:
        details["forecast"] = messages.forecast_text(alert.forecast)
    if alert.reason:
        details["reason"] = alert.reason
    body: dict[str, Any] = {
        "routing_key": env.secret,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": alert.message[:1024],
            "source": f"acme-ci-budget/{env.namespace}",
            "severity": _SEVERITY[alert.level],
            "timestamp": env.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "component": alert.scope,
            "group": env.namespace,
            "class": alert.condition,
            "custom_details": details,
        },
    }
    if env.run_url:
        body["links"] = [{"href": env.run_url, "text": "GitHub Actions run"}]
    return body


def pagerduty_resolve(dedup_key: str, env: Envelope) -> dict:
    return {"routing_key": env.secret, "event_action": "resolve", "dedup_key": dedup_key}


CHANNELS: tuple[Channel, ...] = (
    Channel(SLACK, WARNING, "slack_webhook_url", "SLACK_WEBHOOK_URL", None, slack_trigger),
    Channel(
        PAGERDUTY,
        CRITICAL,
        "pagerduty_routing_key",
        "PAGERDUTY_ROUTING_KEY",
        PAGERDUTY_EVENTS_URL,
        pagerduty_trigger,
        pagerduty_resolve,
    ),
)
BY_NAME: Mapping[str, Channel] = {c.name: c for c in CHANNELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def channels_for(settings: Any, level: str) -> tuple[str, ...]:
    """The outside channels an alert of ``level`` goes to at this rollout stage (configured ones only)."""
    stage = min(RANK[level], RANK.get(settings.min_level, 0))
    return tuple(c.name for c in CHANNELS if stage >= RANK[c.level] and c.secret(settings))


def to_log(alert: Alert, resent_to: Sequence[str] = ()) -> None:
    """The alert's log line; ``resent_to``: an earlier delivery failed for a reason that passes, so it is
    said again there only."""
    if not resent_to:
        log.log(
            _LOG_LEVEL[alert.level],
            "budget alert %s %s [%s]: %s",
            alert.level,
            alert.condition,
            alert.scope,
            alert.message,
        )
        return
    log.log(
        _LOG_LEVEL[alert.level],
        "budget alert %s %s [%s] sent again to %s: %s",
        alert.level,
        alert.condition,
        alert.scope,
        ", ".join(resent_to),
        alert.message,
    )


def to_github(alert: Alert) -> bool | None:
    """An annotation and a job-summary line in GitHub Actions (None outside Actions); False if it failed."""
    if not gha.in_actions():
        return None
    annotate = {INFO: gha.notice, WARNING: gha.warning, CRITICAL: gha.error}[alert.level]
    try:
        annotate(alert.message, title=f"Budget {alert.level.lower()}: {alert.condition}")
        gha.append_summary(f"- **{alert.level}** `{alert.condition}` {alert.scope}: {alert.message}")
        return True
    except OSError as exc:  # an unwritable summary file must not cost the Slack and PagerDuty legs
        log.warning("GitHub annotation or job summary failed: %s", exc.__class__.__name__)
        return False


__all__ = [
    "BY_NAME",
    "CHANNELS",
    "NAMES",
    "PAGERDUTY",
    "PAGERDUTY_EVENTS_URL",
    "SLACK",
    "Channel",
    "Envelope",
    "channels_for",
    "to_github",
    "to_log",
]
