"""Sending claimed alerts: the log, GitHub, each channel a claim is held on, and what a failure leaves behind.

Owns delivering what ``dedup`` handed over (the highest of a warn / critical group only; log and
GitHub when this process fired it; each outside channel whose claim it holds, posted under the
service's retry rules by ``delivery.post_json``, its outcome settled on the claim), recording an
open PagerDuty incident and resolving stale ones (a failed resolve goes back with a retry time),
the ``alert_delivery_failed`` event with its count for every failure, and the ``alerts test``
message. Only that explicit test raises; nothing here puts a secret in a result, an event or a
log line. It must not evaluate conditions or claim them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from acme_ci_budget.alerts.alert import INFO, RANK, RESOLVED_SUFFIX, Alert, AlertError
from acme_ci_budget.alerts.channels import (
    BY_NAME,
    CHANNELS,
    PAGERDUTY,
    Channel,
    Envelope,
    pagerduty_resolve,
    to_github,
    to_log,
)
from acme_ci_budget.alerts.conditions import Conditions
from acme_ci_budget.alerts.dedup import Dedup, Pending, group_tops, ms
from acme_ci_budget.alerts.delivery import Delivery, post_json
from acme_ci_budget.alerts.messages import channel_test, resolved
from acme_ci_budget.alerts.scrubbing import LOGGER, REDACTOR, describe
from acme_ci_budget.integrations import gha
from acme_ci_budget.ledger.claims import AlertClaims

log = logging.getLogger(LOGGER)

EVENT_TYPE_FAILED = "alert_delivery_failed"


@dataclass(frozen=True)
class PostPolicy:
    """How one delivery is tried: ``max_attempts`` at most, ``max_wait`` seconds at most between tries (a
    longer ``Retry-After`` ends them), and ``redeliver_after`` seconds before a later check tries again."""

    timeout: float
    max_attempts: int
    backoff_seconds: float
    max_wait: float
    redeliver_after: float
    endpoints: Mapping[str, str]  # channel -> where to post, for channels with a fixed endpoint


class Sender:
    """Delivers claimed alerts for one manager (its config, HTTP session, claims and dedup)."""

    def __init__(
        self,
        rules: Conditions,
        policy: PostPolicy,
        dedup: Dedup,
        claims: Callable[[], AlertClaims],
        http: Callable[[], Any],
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.rules = rules
        self.config = rules.config
        self.policy = policy
        self.dedup = dedup
        self._claims, self._http, self.sleep, self.now = claims, http, sleep, clock

    def envelope(self, channel: Channel, now: datetime) -> Envelope:
        return Envelope(channel.secret(self.config.alerts) or "", now, self.config.namespace, gha.actions_run_url())

    def post(self, channel: Channel, payload: Mapping[str, Any]) -> Delivery:
        """POST JSON under the services' retry contract (``delivery.post_json``); never raises, never leaks the URL."""
        url = channel.url(channel.secret(self.config.alerts) or "", self.policy.endpoints)
        p = self.policy
        return post_json(
            self._http(),
            url,
            payload,
            channel=channel.name,
            where=channel.where(url),
            timeout=p.timeout,
            max_attempts=p.max_attempts,
            backoff_seconds=p.backoff_seconds,
            max_wait=p.max_wait,
            sleep=self.sleep,
            scrub=REDACTOR.scrub,
        )

    def send_test(self, name: str, now: datetime) -> Delivery:
        """A test message to one channel (with incidents: trigger, then resolve); raises AlertError on failure."""
        channel = BY_NAME.get(name)
        if channel is None:
            raise AlertError(f"unknown alert channel {name!r} (use one of: {', '.join(BY_NAME)})")
        if not channel.secret(self.config.alerts):
            raise AlertError(f"{self.config.path}: alerts.{channel.setting} is not set (e.g. ${{{channel.env}}})")
        alert = Alert(
            level=INFO,
            condition="test",
            workflow_id=None,
            period=now.astimezone(self.config.tz).strftime("%Y-%m-%d %H:%M %Z"),
            message=channel_test(self.config.namespace),
            dedup_key=self.rules.dedup_id("test", "org", now.strftime("%Y%m%dT%H%M%S")),
        )
        envelope = self.envelope(channel, now)
        result = self.post(channel, channel.trigger(alert, envelope))
        if result.ok and channel.resolve is not None:  # leave no test incident open
            closed = self.post(channel, channel.resolve(alert.dedup_key, envelope))
            if not closed.ok:
                result = closed
        if not result.ok:
            raise AlertError(f"{name} test message failed after {result.attempts} attempt(s): {result.error}")
        return result

    def deliver_all(self, claimed: list[Pending], now: datetime, deliver: bool = True) -> list[Alert]:
        top = group_tops(claimed)
        fired = []
        for p in claimed:
            if p.group and RANK[p.alert.level] < top.get(p.group, -1):
                continue  # warn and critical crossed at once: send the critical only
            fired.append(self.deliver(p, now) if deliver else p.alert)
        return fired

    def deliver(self, p: Pending, now: datetime) -> Alert:
        alert, held = p.alert, dict(p.held)
        delivered, failed = ["log"], []
        to_log(alert, () if p.fire else tuple(held))
        github = to_github(alert) if p.fire else None
        if github is not None:
            (delivered if github else failed).append("github")
        for channel in CHANNELS:  # the registry's order: Slack before PagerDuty
            if channel.name not in held or not channel.secret(self.config.alerts):
                continue
            result = self.post(channel, channel.trigger(alert, self.envelope(channel, now)))
            self.dedup.settle(p, channel.name, held[channel.name], result, now)
            (delivered if result.ok else failed).append(channel.name)
            if result.ok and p.incident_kind and channel.resolve is not None:
                self._save_incident(alert.dedup_key, self._incident(alert, p.incident_kind))
            elif not result.ok:
                self.record_failure(result, alert, now)
        return replace(alert, delivered_to=tuple(delivered), failed=tuple(failed))

    @staticmethod
    def _incident(alert: Alert, kind: str) -> dict:
        return {"condition": alert.condition, "workflow": alert.workflow_id, "kind": kind, "period": alert.period}

    def _save_incident(self, dedup_key: str, info: Mapping[str, Any]) -> None:
        try:
            self._claims().save_incident(dedup_key, info)
        except Exception as exc:
            what = (
                "keep the PagerDuty incident for a later resolve"
                if "retry_at_ms" in info
                else ("record the open PagerDuty incident")
            )
            log.warning("could not %s: %s", what, describe(exc))

    def resolve(self, incidents: list[dict], now: datetime) -> list[Alert]:
        """Resolve stale PagerDuty incidents (each ``info`` with its ``dedup_key``); a transient failure is put
        back with a retry time, so the incident does not stay open for good."""
        out = []
        channel = BY_NAME[PAGERDUTY]
        for info in incidents:
            condition, wf = str(info.get("condition")), info.get("workflow")
            alert = Alert(
                level=INFO,
                condition=condition + RESOLVED_SUFFIX,
                workflow_id=wf,
                period=str(info.get("period")),
                message=resolved(self.rules.label(wf), condition, info.get("period")),
                dedup_key=info["dedup_key"],
            )
            if not channel.secret(self.config.alerts):
                log.info("PagerDuty incident %s left open: no routing key configured", alert.dedup_key)
                continue
            result = self.post(channel, pagerduty_resolve(alert.dedup_key, self.envelope(channel, now)))
            log.info("budget alert %s", alert.message)
            if not result.ok:
                now = self.now()
                self.record_failure(result, alert, now)
                if result.retryable:
                    wait = max(self.policy.redeliver_after, result.retry_after or 0.0)
                    entry = {k: v for k, v in info.items() if k != "dedup_key"}
                    self._save_incident(str(info["dedup_key"]), entry | {"retry_at_ms": ms(now) + int(wait * 1000)})
            ok = result.ok
            out.append(
                replace(alert, delivered_to=("log", PAGERDUTY) if ok else ("log",), failed=() if ok else (PAGERDUTY,))
            )
        return out

    def record_failure(self, result: Delivery, alert: Alert, now: datetime) -> None:
        """An ``alert_delivery_failed`` event and an ``alert_failed|{channel}`` count; best effort."""
        try:
            fields = {
                "type": EVENT_TYPE_FAILED,
                "ts_ms": ms(now),
                "outcome": "error",
                "cost_nano": 0,
                "workflow": alert.workflow_id or "*",
                "channel": result.channel,
                "condition": alert.condition,
                "level": alert.level,
                "period": alert.period,
                "attempts": result.attempts,
                "status": result.status if result.status is not None else "",
                "reason": REDACTOR.scrub(result.error),
            }
            month = now.astimezone(self.config.tz).strftime("%Y-%m")
            self._claims().record_failure(fields, month, result.channel)
        except Exception as exc:
            log.warning("could not record the failed %s delivery: %s", result.channel, describe(exc))


__all__ = ["EVENT_TYPE_FAILED", "PostPolicy", "Sender"]
