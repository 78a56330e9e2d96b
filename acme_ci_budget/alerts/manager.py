"""Budget alerts: which conditions hold now, which of them are new, and delivering those once.

Owns ``AlertManager``, the orchestration: when to read the ledger (``check``: one round trip for
the figures; ``check_spend``: the per-call check from the settle's figures, which reads Redis only
when a condition holds that this process has not claimed, a call settled above its hold, the
figures are not today's, or once a day when PagerDuty incidents are open), and handing each
result along: ``conditions`` evaluates (pure), ``dedup`` claims (``ledger.claims`` holds the keys
and the compare-and-set script), ``send`` delivers to the log, GitHub and the ``channels``
registry (Slack, PagerDuty) under ``delivery``'s retry rules and records failures, ``messages``
words everything, ``scrubbing`` keeps webhook URLs, routing keys and Redis passwords out of every
log line, error, event and ``Alert``.

Levels follow the lab's rollout (``alerts.min_level``, see ``channels``). It reads spend, never
writes it, and it must not fail its caller: a failed delivery is logged, recorded as an
``alert_delivery_failed`` event and counted; ``check`` swallows a Redis outage unless ``strict``.
The names tests and commands import from here (``Alert``, ``AlertError``, the condition names,
``PAGERDUTY_EVENTS_URL``, ``slack_payload`` ...) are re-exported from the modules that own them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from acme_ci_budget.alerts.alert import (
    BLOCK_LEVELS,
    BLOCKED,
    CRITICAL,
    DAILY_CRITICAL,
    DAILY_WARN,
    FORECAST,
    INFO,
    LEVELS,
    MONTHLY_CRITICAL,
    MONTHLY_WARN,
    ORG_RESERVE,
    OVER_HOLD,
    RESOLVED_SUFFIX,
    SESSION_SOFT,
    WARNING,
    Alert,
    AlertError,
    Condition,
    SpendFigures,
)
from acme_ci_budget.alerts.channels import NAMES, PAGERDUTY, PAGERDUTY_EVENTS_URL, SLACK, channels_for
from acme_ci_budget.alerts.conditions import Conditions, counted
from acme_ci_budget.alerts.dedup import Dedup, Pending, ms, stale_incidents, ttl_ms
from acme_ci_budget.alerts.delivery import Delivery
from acme_ci_budget.alerts.messages import slack_payload
from acme_ci_budget.alerts.scrubbing import LOGGER, REDACTOR, describe, secret_forms
from acme_ci_budget.alerts.send import EVENT_TYPE_FAILED, PostPolicy, Sender
from acme_ci_budget.budget.forecast import local_date
from acme_ci_budget.budget.health import refused_counts
from acme_ci_budget.config import Config, load_config
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.redact import url_passwords
from acme_ci_budget.ledger.claims import AlertClaims
from acme_ci_budget.ledger.enforcer import BudgetEnforcer

log = logging.getLogger(LOGGER)

CHANNELS = NAMES  # the outside channels by name (``channels.CHANNELS`` holds their rows)
_MAX_BACKOFF_SECONDS = 10.0  # also the longest Retry-After a delivery waits for in-process
_REDELIVER_AFTER_SECONDS = 60.0  # a failed channel is not retried on every model call during an outage


class AlertManager:
    """Evaluate budget alert conditions and deliver each new one once.

    ``config``/``redis_url``/``redis``/``clock`` mean what they mean for ``BudgetEnforcer``
    (pass ``enforcer=`` to share one). ``http`` is a ``requests.Session``; ``sleep`` is the
    backoff sleep (tests inject one); a delivery is tried ``max_attempts`` times at most, and
    waits at most ``max_wait`` seconds between tries (a longer ``Retry-After`` ends the tries).
    A channel that failed transiently is tried again by a check ``redeliver_after`` seconds
    later (on ``clock``), or after the service's ``Retry-After`` if that is later.

    ``deliver=False`` evaluates and deduplicates exactly as usual (the claims go to Redis, so a
    delivering manager on the same ledger will not repeat them) and returns the alerts from
    ``check`` and ``notify_*`` with ``delivered_to`` empty, but sends nothing: no log line, no
    GitHub annotation or summary, no Slack or PagerDuty. It leaves open PagerDuty incidents to a
    delivering manager to resolve. ``send_test`` is an explicit request and still sends.
    """

    def __init__(
        self,
        config: Config | None = None,
        redis_url: str | None = None,
        redis: Any = None,
        clock: Callable[[], datetime] | None = None,
        *,
        enforcer: Any = None,
        http: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        pagerduty_url: str = PAGERDUTY_EVENTS_URL,
        deliver: bool = True,
        max_wait: float = _MAX_BACKOFF_SECONDS,
        redeliver_after: float = _REDELIVER_AFTER_SECONDS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if max_wait < 0 or redeliver_after < 0:
            raise ValueError("max_wait and redeliver_after must be >= 0")
        self.config = config or (enforcer.config if enforcer is not None else load_config())
        self.settings = self.config.alerts
        self._enforcer, self._redis_url, self._redis, self._http = enforcer, redis_url, redis, http
        self._claims: AlertClaims | None = None
        self.clock = clock or (enforcer.clock if enforcer is not None else None)
        self.sleep = sleep
        self.deliver = deliver
        self.pagerduty_url = pagerduty_url
        self.rules = Conditions(self.config)
        self.dedup = Dedup(self._alert_claims, self.config.tz, redeliver_after)
        policy = PostPolicy(
            timeout, max_attempts, backoff_seconds, max_wait, redeliver_after, {PAGERDUTY: pagerduty_url}
        )
        self.sender = Sender(self.rules, policy, self.dedup, self._alert_claims, lambda: self.http, sleep, self.now)
        self._incidents_checked: date | None = None  # the day check_spend last looked for stale incidents
        REDACTOR.add(
            *secret_forms(self.settings.slack_webhook_url),
            self.settings.pagerduty_routing_key,
            *url_passwords(redis_url),
        )

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def enforcer(self) -> Any:
        """The ledger (created on first use, so ``alerts test`` needs no Redis)."""
        if self._enforcer is None:
            self._enforcer = BudgetEnforcer(self.config, redis_url=self._redis_url, redis=self._redis, clock=self.clock)
        return self._enforcer

    def _alert_claims(self) -> AlertClaims:
        if self._claims is None:
            self._claims = AlertClaims(self.enforcer)
        return self._claims

    @property
    def http(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    def now(self) -> datetime:
        now = (self.clock or (lambda: datetime.now(UTC)))()
        if now.tzinfo is None:
            raise ValueError("the alert clock must return an aware datetime")
        return now

    def scrub(self, text: str) -> str:
        return REDACTOR.scrub(text)

    def _channels_for(self, alert: Alert) -> tuple[str, ...]:
        """The outside channels ``alert`` goes to at this rollout stage (none when not delivering)."""
        return channels_for(self.settings, alert.level) if self.deliver else ()

    def _fire(self, pending: list[Pending], now: datetime, **claim: Any) -> tuple[list[Alert], list[str]]:
        """Claim ``pending`` and deliver what this process won; also the stale incidents it won."""
        won, won_stale = self.dedup.claim(pending, now, self._channels_for, **claim)
        return self.sender.deliver_all(won, now, self.deliver), won_stale

    # --- public API ---------------------------------------------------------------------------

    def check(self, workflow_id: str | None = None, *, strict: bool = False) -> list[Alert]:
        """Evaluate every condition now (one workflow and the org, or everything) and deliver the new ones.

        Returns the alerts that fired in this call (and PagerDuty incidents resolved). Never raises
        unless ``strict``: alerts must not fail a model call or a review.
        """
        try:
            return self._check(workflow_id, strict)
        except Exception as exc:
            if strict:
                if isinstance(exc, AcmeError):
                    raise
                raise AlertError(f"alert check failed: {describe(exc)}") from None
            log.warning("alert check skipped: %s", describe(exc))
            return []

    def check_spend(
        self,
        workflow_id: str,
        *,
        day: str,
        org_spent_nano: int,
        month_spent_nano: int,
        day_spent_nano: int,
        over_hold_nano: int = 0,
        open_incidents: int = 0,
        org_held_nano: int = 0,
        month_held_nano: int = 0,
        day_held_nano: int = 0,
    ) -> list[Alert]:
        """The per-call check, from the figures a settle returned (the day its counters are charged to).

        The spend conditions are evaluated locally on these figures; Redis is read (``check``) only when
        one holds that this process has not claimed yet, when the call settled above its hold, when the
        figures are not today's, or, once a day, when PagerDuty incidents are open (to resolve the
        stale ones). Otherwise nothing is sent to Redis. Never raises.
        """
        try:
            now = self.now()
            today = local_date(now, self.config.tz)
            if workflow_id not in self.config.workflows or over_hold_nano > 0 or day != today.isoformat():
                return self.check(workflow_id)
            if open_incidents and self._incidents_checked != today:
                self._incidents_checked = today
                return self.check(workflow_id)
            d_floor, m_floor, org_floor = self.rules.quiet_floors(workflow_id, today)
            d, m = day_spent_nano + day_held_nano, month_spent_nano + month_held_nano
            if d < d_floor and m < m_floor and org_spent_nano + org_held_nano < org_floor:
                return []  # no spend condition can hold below these: the common case, decided in microseconds
            figures = SpendFigures(
                org_spent_nano, month_spent_nano, day_spent_nano, org_held_nano, month_held_nano, day_held_nano
            )
            pending = self.dedup.pending(self._spend(workflow_id, today, figures), now)
            return self.check(workflow_id) if self.dedup.unclaimed(pending, now) else []
        except Exception as exc:
            log.warning("alert check skipped: %s", describe(exc))
            return []

    def _spend(self, wf: str, today: date, figures: SpendFigures, **counts: Any) -> list[Condition]:
        return self.rules.spend(wf, today, figures, **counts) + self.rules.org(
            today, figures.org_spent, figures.org_held, **counts
        )

    def _quiet_floors(self, wf: str, today: date) -> tuple[float, float, float]:
        return self.rules.quiet_floors(wf, today)

    def _spend_pending(
        self, wf: str, today: date, now: datetime, org_spent: int, m_spent: int, d_spent: int, stats: Any
    ) -> list[Pending]:
        """The spend conditions of one workflow and the org for these figures, with their claims (no holds)."""
        figures = SpendFigures(org_spent, m_spent, d_spent)
        return self.dedup.pending(self._spend(wf, today, figures, stats=stats), now)

    def notify_block(self, workflow_id: str, reason: str) -> Alert | None:
        """A request was just refused: alert once per workflow, reason and day. Never raises."""
        try:
            now = self.now()
            condition = self.rules.blocked(workflow_id, reason, local_date(now, self.config.tz).isoformat())
            fired, _ = self._fire(self.dedup.pending([condition], now), now)
            return fired[0] if fired else None
        except Exception as exc:
            log.warning("block alert skipped: %s", describe(exc))
            return None

    def notify_session_soft_limit(self, workflow_id: str, session_id: str, tokens: int, soft: int) -> Alert | None:
        """A session passed its soft token limit: one INFO alert per session. Never raises."""
        try:
            now = self.now()
            condition = self.rules.session_soft(workflow_id, session_id, tokens, soft)
            fired, _ = self._fire(self.dedup.pending([condition], now), now)
            return fired[0] if fired else None
        except Exception as exc:
            log.warning("session alert skipped: %s", describe(exc))
            return None

    def send_test(self, channel: str) -> Delivery:
        """Send a test message to ``slack`` or ``pagerduty`` (trigger, then resolve); raises AlertError on failure."""
        return self.sender.send_test(channel, self.now())

    # --- the full check ---------------------------------------------------------------------------

    def _check(self, workflow_id: str | None, strict: bool = False) -> list[Alert]:
        cfg = self.config
        if workflow_id is None:
            ids = list(cfg.workflows)
        elif workflow_id in cfg.workflows:
            ids = [workflow_id]
        elif strict:
            cfg.workflow(workflow_id)  # raises ConfigError naming the known ids
        else:
            ids = []  # the client's check after an unknown_workflow block: the org and that block only
        now = self.now()
        today = local_date(now, cfg.tz)
        day, month = today.isoformat(), today.strftime("%Y-%m")
        read = self._alert_claims().read(ids, day, month)
        counts = {"stats": read.stats, "refused": refused_counts(read.stats, cfg.workflows)}
        conditions = []
        for wf in ids:
            (m_spent, d_spent), (m_held, d_held) = read.spent[wf], read.held[wf]
            figures = SpendFigures(read.org_spent, m_spent, d_spent, read.org_held, m_held, d_held)
            conditions += self.rules.spend(wf, today, figures, **counts)
        conditions += self.rules.org(today, read.org_spent, read.org_held, **counts)
        counted_now, seen = counted(self.rules, read.stats, read.seen, day, workflow_id)
        pending = self.dedup.pending(conditions + counted_now, now)
        # Claiming a stale incident obliges the claimant to send its resolve: a manager that sends nothing doesn't.
        stale = (
            stale_incidents(read.incidents, {"day": day, "month": month}, ms(now), workflow_id) if self.deliver else {}
        )
        seen_ttl = ttl_ms(now, cfg.tz, "month")
        fired, won_stale = self._fire(pending, now, seen=(month, seen, seen_ttl), stale=list(stale))
        return fired + self.sender.resolve([stale[d] | {"dedup_key": d} for d in won_stale], now)


__all__ = [
    "BLOCKED",
    "BLOCK_LEVELS",
    "CHANNELS",
    "CRITICAL",
    "DAILY_CRITICAL",
    "DAILY_WARN",
    "EVENT_TYPE_FAILED",
    "FORECAST",
    "INFO",
    "LEVELS",
    "MONTHLY_CRITICAL",
    "MONTHLY_WARN",
    "ORG_RESERVE",
    "OVER_HOLD",
    "PAGERDUTY",
    "PAGERDUTY_EVENTS_URL",
    "RESOLVED_SUFFIX",
    "SESSION_SOFT",
    "SLACK",
    "WARNING",
    "Alert",
    "AlertError",
    "AlertManager",
    "Delivery",
    "slack_payload",
]
