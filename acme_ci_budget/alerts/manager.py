"""Budget alerts: which conditions hold now, which of them are new, and delivering those once.

Owns the alert conditions (daily / monthly spend past the warn and critical
thresholds per workflow and for the org, a period turning CRITICAL because its
money limit refused a call or less than one worst-case call is left (the rule is
``acme_ci_budget.budget.health``; it fires the period's one critical alert, so the
lab's stage 3 pages on it), the org entering its reserve, a
month-end forecast above budget, blocked requests, per-session soft limits,
calls settled above their hold),
their once-per-period-and-threshold dedup in Redis (``SET NX PX`` to the end of
the period, under the namespace's hash tag), and the senders: the log, GitHub
Actions annotations and job summary, a Slack incoming webhook (Block Kit from
``templates/slack_alert.json.j2``) and PagerDuty Events API v2 (``trigger`` with
a stable ``dedup_key``, ``resolve`` once the period is over).

Levels follow the lab's rollout. INFO goes to the log and GitHub; WARNING adds
Slack; CRITICAL adds PagerDuty. ``alerts.min_level`` is the rollout stage: the
highest level whose channel is switched on (INFO in week 1: log and GitHub only;
WARNING in week 2: Slack too; CRITICAL in week 3: paging too). An alert above
the stage still goes to the channels the stage allows.

It reads spend, never writes it, and it must not fail its caller: a failed
delivery is logged, recorded as an ``alert_delivery_failed`` event and counted;
``check`` swallows a Redis outage unless ``strict``. Each external channel an
alert is meant for has its own claim next to the condition's (``...:to:slack``),
so a channel that delivered is never sent again, and one that failed for a
transient reason (429, 5xx, network; ``acme_ci_budget.alerts.delivery`` has the policy)
is tried again by a check after ``redeliver_after`` seconds or the service's
``Retry-After``, whichever is later. A refusal (any other 4xx) is final for the
period. Webhook URLs and routing keys never appear in a log line, an error, an
event or an ``Alert``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from acme_ci_budget.alerts.delivery import (
    CAS_SCRIPT,
    FAILED,
    SENT,
    Delivery,
    due_ms,
    pending_value,
    post_json,
    retry_value,
)
from acme_ci_budget.budget.forecast import Forecast, day_costs, days_in_month, local_date, project_month
from acme_ci_budget.budget.health import critical_reason, org_worst_call_nano, refused_counts, worst_call_nano
from acme_ci_budget.config import Config, load_config
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import fmt_usd, pct
from acme_ci_budget.core.redact import scrub, url_passwords
from acme_ci_budget.core.templating import environment
from acme_ci_budget.integrations import gha
from acme_ci_budget.integrations.slack import slack_escape
from acme_ci_budget.ledger.enforcer import BudgetEnforcer

log = logging.getLogger("acme_ci_budget.alerts")

INFO, WARNING, CRITICAL = "INFO", "WARNING", "CRITICAL"
LEVELS = (INFO, WARNING, CRITICAL)
_RANK = {level: i for i, level in enumerate(LEVELS)}
_LOG_LEVEL = {INFO: logging.INFO, WARNING: logging.WARNING, CRITICAL: logging.ERROR}

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
    "unknown_workflow": WARNING,
    "ledger_unavailable": WARNING,
    "task_token_limit_exceeded": INFO,
    "session_token_limit_exceeded": INFO,
    "loop_step_limit_exceeded": INFO,
}

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SLACK = "slack"
PAGERDUTY = "pagerduty"
CHANNELS = (SLACK, PAGERDUTY)
EVENT_TYPE_FAILED = "alert_delivery_failed"

# Dedup keys outlive their period by a day so processes whose clocks disagree a little still agree.
_DEDUP_MARGIN = timedelta(days=1)
_INCIDENT_TTL_MS = 62 * 86_400_000
_MAX_BACKOFF_SECONDS = 10.0  # also the longest Retry-After a delivery waits for in-process
_REDELIVER_AFTER_SECONDS = 60.0  # a failed channel is not retried on every model call during an outage
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


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
class _Pending:
    alert: Alert
    claim_key: str
    ttl_ms: int
    group: str = ""  # warn and critical of one scope and period: only the highest claimed is sent
    incident_kind: str = ""  # 'day' / 'month': a PagerDuty trigger is resolved when this period is over
    # Set by _claim: whether this process fired the alert (log, GitHub, returned) or only owes a
    # redelivery, and the channel claims it holds, as (channel, the value it wrote there).
    fire: bool = True
    held: tuple[tuple[str, str], ...] = ()


# --- secrets out of every log line -----------------------------------------------------------


class _RedactSecrets(logging.Filter):
    """Rewrites any record that contains a registered secret; urllib3 logs request paths at DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        with self._lock:
            self.secrets.update(v for v in values if v and len(v) >= 4)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = tuple(self.secrets)
        return scrub(text, secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:
            return True
        scrubbed = self.scrub(text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
        return True


_REDACTOR = _RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "requests", log.name):
    logging.getLogger(_name).addFilter(_REDACTOR)


def _secret_forms(url_or_key: str | None) -> list[str]:
    """The secret and the parts of it a library might log on its own (a webhook's path and query)."""
    if not url_or_key:
        return []
    forms = [url_or_key]
    try:
        parts = urlsplit(url_or_key)
    except ValueError:
        return forms
    if parts.scheme and parts.netloc:
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(tail) > 1:
            forms += [tail, parts.path]
    return forms


def _where(url: str) -> str:
    """A webhook URL safe to show: scheme and host only."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}/***" if parts.hostname else "<webhook>"
    except ValueError:
        return "<webhook>"


# --- the manager ------------------------------------------------------------------------------


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
        self._enforcer = enforcer
        self._redis_url = redis_url
        self._redis = redis
        self.clock = clock or (enforcer.clock if enforcer is not None else None)
        self._http = http
        self.sleep = sleep
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.pagerduty_url = pagerduty_url
        self.deliver = deliver
        self.max_wait = max_wait
        self.redeliver_after = redeliver_after
        self._cas: Any = None
        # Claim keys known to be settled in Redis, until they expire (or a channel's retry falls due).
        self._claimed: dict[str, datetime] = {}
        self._margins: dict[str, int] = {}
        self._incidents_checked: date | None = None  # the day check_spend last looked for stale incidents
        self._floors: dict[tuple[str, date], tuple[float, float, float]] = {}  # check_spend's quiet floors
        self._lock = threading.Lock()
        _REDACTOR.add(
            *_secret_forms(self.settings.slack_webhook_url),
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

    @property
    def redis(self) -> Any:
        return self.enforcer.redis

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

    def _key(self, *parts: str) -> str:
        return self.enforcer.keys.p + "alert:" + ":".join(parts)

    def _dedup_id(self, condition: str, scope: str, period: str) -> str:
        return f"acme-ci-budget/{self.config.namespace}/{condition}/{scope}/{period}"

    def _ttl_ms(self, now: datetime, kind: str) -> int:
        end = _period_end(now, self.config.tz, kind) + _DEDUP_MARGIN
        return max(int((end.astimezone(UTC) - now.astimezone(UTC)).total_seconds() * 1000), 1000)

    def scrub(self, text: str) -> str:
        return _REDACTOR.scrub(text)

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
                raise AlertError(f"alert check failed: {self._describe(exc)}") from None
            log.warning("alert check skipped: %s", self._describe(exc))
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

        The spend conditions (daily / monthly / org thresholds, a period critical with less than one
        worst-case call left after the spend and the holds still on it, the org reserve, the month-end
        forecasts) are evaluated locally on these figures; Redis is read (``check``) only when one
        holds that this process has not claimed yet, when the call settled above its hold, when the
        figures are not today's, or, once a day, when PagerDuty incidents are open (to resolve the
        stale ones). Otherwise nothing is sent to Redis. Never raises.
        """
        try:
            now = self.now()
            today = local_date(now, self.config.tz)
            w = self.config.workflows.get(workflow_id)
            if w is None or over_hold_nano > 0 or day != today.isoformat():
                return self.check(workflow_id)
            if open_incidents and self._incidents_checked != today:
                self._incidents_checked = today
                return self.check(workflow_id)
            d_floor, m_floor, org_floor = self._quiet_floors(workflow_id, today)
            d, m = day_spent_nano + day_held_nano, month_spent_nano + month_held_nano
            if d < d_floor and m < m_floor and org_spent_nano + org_held_nano < org_floor:
                return []  # no spend condition can hold below these: the common case, decided in microseconds
            held = (org_held_nano, month_held_nano, day_held_nano)
            pending = self._spend_pending(
                workflow_id, today, now, org_spent_nano, month_spent_nano, day_spent_nano, {}, held=held
            )
            with self._lock:
                unclaimed = [p for p in pending if self._claimed.get(p.claim_key, now) <= now]
            return self.check(workflow_id) if unclaimed else []
        except Exception as exc:
            log.warning("alert check skipped: %s", self._describe(exc))
            return []

    def _quiet_floors(self, wf: str, today: date) -> tuple[float, float, float]:
        """The least daily, monthly and org spend + held at which ``_spend_pending`` can find anything (per day)."""
        floors = self._floors.get((wf, today))
        if floors is None:
            cfg, w = self.config, self.config.workflows[wf]
            elapsed, total = today.day, days_in_month(today)

            def threshold(limit: int) -> float:  # _thresholds: spent > 0 and spent >= limit x fraction
                if limit <= 0:
                    return math.inf
                return max(1, min(_fraction_of(limit, f) for f in (self.settings.warn_pct, self.settings.critical_pct)))

            def forecast(budget: int) -> float:  # project_month: spent x total // elapsed > budget
                return -(-(budget + 1) * elapsed // total) if budget > 0 else math.inf

            def one_call(limit: int, margin: int) -> float:  # critical_reason: spent + held > limit - margin
                return max(1, limit - margin + 1) if limit > 0 and margin > 0 else math.inf

            margin, org_margin = self._margin(wf), self._margin(None)
            org = min(threshold(cfg.org_monthly_nano), forecast(cfg.org_monthly_nano))
            org = min(org, one_call(cfg.org_monthly_nano, org_margin))
            if cfg.reserve_pct > 0 and cfg.org_monthly_nano > 0:  # _reserve_pending: past the threshold
                org = min(org, _fraction_of(cfg.org_monthly_nano, 1 - cfg.reserve_pct) + 1)
            daily = min(threshold(w.daily_nano), one_call(w.daily_nano, margin))
            monthly = min(threshold(w.monthly_nano), forecast(w.monthly_nano), one_call(w.monthly_nano, margin))
            floors = (daily, monthly, org)
            if len(self._floors) > 256:
                self._floors.clear()
            self._floors[(wf, today)] = floors
        return floors

    def _spend_pending(
        self,
        wf: str,
        today: date,
        now: datetime,
        org_spent: int,
        m_spent: int,
        d_spent: int,
        stats: Mapping[str, int],
        *,
        held: tuple[int, int, int] = (0, 0, 0),
    ) -> list[_Pending]:
        """The spend conditions of one workflow and the org that hold for these figures (``_check``'s rules):
        ``held`` is (org, month, day) held by calls in flight. The critical by a refused call (stats) is the
        full check's alone: the client runs that check after every block."""
        cfg = self.config
        w = cfg.workflows[wf]
        org_held, m_held, d_held = held
        margin = self._margin(wf)
        day, month = today.isoformat(), today.strftime("%Y-%m")
        day_ttl, month_ttl = self._ttl_ms(now, "day"), self._ttl_ms(now, "month")
        fc = project_month(m_spent, w.monthly_nano, today, day_costs(stats, [wf]))
        crit = critical_reason("daily", d_spent, d_held, w.daily_nano, margin)
        pending = self._thresholds(wf, "daily", day, d_spent, w.daily_nano, day_ttl, fc, crit)
        crit = critical_reason("monthly", m_spent, m_held, w.monthly_nano, margin)
        pending += self._thresholds(wf, "monthly", month, m_spent, w.monthly_nano, month_ttl, fc, crit)
        pending += self._forecast_pending(wf, month, fc, month_ttl)
        org_fc = project_month(org_spent, cfg.org_monthly_nano, today, day_costs(stats, cfg.workflows))
        crit = critical_reason("org", org_spent, org_held, cfg.org_monthly_nano, self._margin(None))
        pending += self._thresholds(
            None, "monthly", month, org_spent, cfg.org_monthly_nano, month_ttl, org_fc, crit
        )
        pending += self._reserve_pending(month, org_spent, month_ttl, org_fc)
        pending += self._forecast_pending(None, month, org_fc, month_ttl)
        return pending

    def notify_block(self, workflow_id: str, reason: str) -> Alert | None:
        """A request was just refused: alert once per workflow, reason and day. Never raises."""
        try:
            now = self.now()
            today = local_date(now, self.config.tz)
            won, _ = self._claim([self._blocked_pending(workflow_id, reason, today, None, now)], now)
            fired = self._deliver_all(won, now)
            return fired[0] if fired else None
        except Exception as exc:
            log.warning("block alert skipped: %s", self._describe(exc))
            return None

    def notify_session_soft_limit(self, workflow_id: str, session_id: str, tokens: int, soft: int) -> Alert | None:
        """A session passed its soft token limit: one INFO alert per session. Never raises."""
        try:
            now = self.now()
            alert = Alert(
                level=INFO,
                condition=SESSION_SOFT,
                workflow_id=workflow_id,
                period=session_id,
                message=(
                    f"{self._label(workflow_id)}: session {session_id[:64]} used {tokens:,} tokens, "
                    f"past its soft limit of {soft:,}; compress or summarise the context"
                ),
                session_id=session_id,
                dedup_key=self._dedup_id(SESSION_SOFT, workflow_id, _safe_id(session_id)),
            )
            pending = _Pending(
                alert, self._key(SESSION_SOFT, _safe_id(workflow_id), _safe_id(session_id)), self._ttl_ms(now, "month")
            )
            won, _ = self._claim([pending], now)
            fired = self._deliver_all(won, now)
            return fired[0] if fired else None
        except Exception as exc:
            log.warning("session alert skipped: %s", self._describe(exc))
            return None

    def send_test(self, channel: str) -> Delivery:
        """Send a test message to ``slack`` or ``pagerduty`` (trigger, then resolve); raises AlertError on failure."""
        now = self.now()
        alert = Alert(
            level=INFO,
            condition="test",
            workflow_id=None,
            period=now.astimezone(self.config.tz).strftime("%Y-%m-%d %H:%M %Z"),
            message=f"Test alert from acme-ci-budget (namespace {self.config.namespace}): this channel works.",
            dedup_key=self._dedup_id("test", "org", now.strftime("%Y%m%dT%H%M%S")),
        )
        if channel == SLACK:
            if not self.settings.slack_webhook_url:
                raise AlertError(
                    f"{self.config.path}: alerts.slack_webhook_url is not set (e.g. ${{SLACK_WEBHOOK_URL}})"
                )
            result = self._post(SLACK, self.settings.slack_webhook_url, slack_payload(alert, gha.actions_run_url()))
        elif channel == PAGERDUTY:
            if not self.settings.pagerduty_routing_key:
                raise AlertError(
                    f"{self.config.path}: alerts.pagerduty_routing_key is not set (e.g. ${{PAGERDUTY_ROUTING_KEY}})"
                )
            result = self._post(PAGERDUTY, self.pagerduty_url, self._pd_trigger(alert, now, severity="info"))
            if result.ok:
                resolved = self._post(PAGERDUTY, self.pagerduty_url, self._pd_resolve(alert.dedup_key))
                if not resolved.ok:
                    result = resolved
        else:
            raise AlertError(f"unknown alert channel {channel!r} (use one of: {', '.join(CHANNELS)})")
        if not result.ok:
            raise AlertError(f"{channel} test message failed after {result.attempts} attempt(s): {result.error}")
        return result

    # --- evaluation -----------------------------------------------------------------------------

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
        k = self.enforcer.keys
        seen_key, incidents_key = self._key("blocked_seen", month), self._key("incidents")

        # One round trip: GETs rather than MGET because a cluster pipeline refuses MGET.
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(k.org_spent(month))
        for wf in ids:
            pipe.get(k.wf_spent_month(wf, month))
            pipe.get(k.wf_spent_day(wf, day))
        pipe.hgetall(k.stats(month))
        pipe.hgetall(seen_key)
        pipe.hgetall(incidents_key)
        pipe.get(k.org_held(month))  # holds: "within one call of the limit" counts what is already promised
        for wf in ids:
            pipe.get(k.wf_held_month(wf, month))
            pipe.get(k.wf_held_day(wf, day))
        raw = pipe.execute()
        org_spent = int(raw[0] or 0)
        spent = {wf: (int(raw[1 + 2 * i] or 0), int(raw[2 + 2 * i] or 0)) for i, wf in enumerate(ids)}
        tail = 4 + 2 * len(ids)
        stats, seen, incidents = (_decode_hash(h) for h in raw[1 + 2 * len(ids) : tail])
        org_held = int(raw[tail] or 0)
        held = {wf: (int(raw[tail + 1 + 2 * i] or 0), int(raw[tail + 2 + 2 * i] or 0)) for i, wf in enumerate(ids)}
        stats_int = {name: int(v) for name, v in stats.items() if v.lstrip("-").isdigit()}
        refused = refused_counts(stats_int, cfg.workflows)

        day_ttl, month_ttl = self._ttl_ms(now, "day"), self._ttl_ms(now, "month")
        pending: list[_Pending] = []
        for wf in ids:
            w = cfg.workflows[wf]
            m_spent, d_spent = spent[wf]
            m_held, d_held = held[wf]
            margin = self._margin(wf)
            fc = project_month(m_spent, w.monthly_nano, today, day_costs(stats_int, [wf]))
            crit = critical_reason("daily", d_spent, d_held, w.daily_nano, margin)
            pending += self._thresholds(wf, "daily", day, d_spent, w.daily_nano, day_ttl, fc, crit)
            crit = critical_reason("monthly", m_spent, m_held, w.monthly_nano, margin, refused.get(wf, 0))
            pending += self._thresholds(wf, "monthly", month, m_spent, w.monthly_nano, month_ttl, fc, crit)
            pending += self._forecast_pending(wf, month, fc, month_ttl)
        org_fc = project_month(org_spent, cfg.org_monthly_nano, today, day_costs(stats_int, cfg.workflows))
        crit = critical_reason(
            "org", org_spent, org_held, cfg.org_monthly_nano, self._margin(None), refused.get("org", 0)
        )
        pending += self._thresholds(None, "monthly", month, org_spent, cfg.org_monthly_nano, month_ttl, org_fc, crit)
        pending += self._reserve_pending(month, org_spent, month_ttl, org_fc)
        pending += self._forecast_pending(None, month, org_fc, month_ttl)

        seen_updates: dict[str, int] = {}
        for name, count in stats_int.items():
            if not name.startswith("blocked|") or name.count("|") < 2:
                continue
            wf, reason = name[len("blocked|") :].rsplit("|", 1)
            if workflow_id is not None and wf != workflow_id:
                continue
            new = count - int(seen.get(name, "0") or 0)
            if new > 0:
                seen_updates[name] = count
                pending.append(self._blocked_pending(wf, reason, today, new, now))
        for name, count in stats_int.items():
            if not name.startswith("over_hold|"):
                continue
            wf = name[len("over_hold|") :]
            if workflow_id is not None and wf != workflow_id:
                continue
            new = count - int(seen.get(name, "0") or 0)
            if new > 0:
                seen_updates[name] = count
                over_nano = stats_int.get(f"over_hold_nano|{wf}", 0)
                pending.append(self._over_hold_pending(wf, new, count, over_nano, today, now))

        current = {"day": day, "month": month}
        stale: dict[str, dict] = {}
        if self.deliver:  # claiming a stale incident obliges the claimant to send its resolve
            stale = {
                dedup: info
                for dedup, info in ((d, _loads(v)) for d, v in incidents.items())
                if info
                and info.get("period") != current.get(info.get("kind", ""), info.get("period"))
                and _int(info.get("retry_at_ms")) <= _ms(now)  # a failed resolve waits for its retry time
                and (workflow_id is None or info.get("workflow") in (workflow_id, None))
            }
        won, won_stale = self._claim(pending, now, (seen_key, seen_updates, month_ttl), (incidents_key, stale))
        fired = self._deliver_all(won, now)
        fired += self._resolve([stale[d] | {"dedup_key": d} for d in won_stale])
        return fired

    def _margin(self, wf: str | None) -> int:
        """One worst-case call of the workflow (the org: of any workflow), computed once per manager."""
        key = wf or ""
        if key not in self._margins:
            cfg = self.config
            self._margins[key] = worst_call_nano(cfg.workflows[wf], cfg.pricing) if wf else org_worst_call_nano(cfg)
        return self._margins[key]

    def _thresholds(
        self,
        wf: str | None,
        kind: str,
        period: str,
        spent: int,
        limit: int,
        ttl: int,
        fc: Forecast | None,
        critical: str = "",
    ) -> list[_Pending]:
        """Warn and critical of one period; ``critical`` (health.critical_reason) makes the period critical below
        the threshold too: the ledger refuses before spend reaches 100%, so spend alone rarely gets there."""
        if limit <= 0 or (spent <= 0 and not critical):
            return []
        scope = wf or "org"
        out = []
        for suffix, level, fraction in (
            ("warn", WARNING, self.settings.warn_pct),
            ("critical", CRITICAL, self.settings.critical_pct),
        ):
            threshold = _fraction_of(limit, fraction)
            crossed = spent >= threshold
            if not crossed and not (suffix == "critical" and critical):
                continue
            condition = f"{kind}_{suffix}"
            word = "warning" if suffix == "warn" else "critical"
            consequence = ""
            if suffix == "critical" and (fraction >= 1 or not crossed):
                consequence = "; requests are refused " + ("until tomorrow" if kind == "daily" else "until next month")
            when = f"on {period}" if kind == "daily" else f"in {period}"
            share = _pct_text(pct(spent, limit))
            if crossed:
                message = (
                    f"{self._label(wf)}: {kind} spend {fmt_usd(spent)} of {fmt_usd(limit)} ({share}) "
                    f"{when} crossed the {_pct_text(fraction * 100)} {word} threshold{consequence}"
                )
            else:
                message = (
                    f"{self._label(wf)}: {kind} budget critical {when} at {share} "
                    f"({fmt_usd(spent)} of {fmt_usd(limit)}): {critical}{consequence}"
                )
            if fc is not None and not fc.exhausted:
                message += f". {_forecast_text(fc)}"
            alert = Alert(
                level=level,
                condition=condition,
                workflow_id=wf,
                period=period,
                message=message,
                spent_nano=spent,
                limit_nano=limit,
                forecast=fc,
                dedup_key=self._dedup_id(condition, scope, period),
            )
            out.append(
                _Pending(
                    alert,
                    self._key(condition, f"{fraction:g}", scope, period),
                    ttl,
                    group=f"{kind}:{scope}:{period}",
                    incident_kind="day" if kind == "daily" else "month",
                )
            )
        return out

    def _reserve_pending(self, month: str, org_spent: int, ttl: int, fc: Forecast) -> list[_Pending]:
        cfg = self.config
        if cfg.reserve_pct <= 0 or cfg.org_monthly_nano <= 0:
            return []
        threshold = _fraction_of(cfg.org_monthly_nano, 1 - cfg.reserve_pct)
        if org_spent <= threshold:  # the ledger's own rule: in reserve once spent is past the threshold
            return []
        alert = Alert(
            level=WARNING,
            condition=ORG_RESERVE,
            workflow_id=None,
            period=month,
            message=(
                f"Org entered its {_pct_text(cfg.reserve_pct * 100)} reserve: monthly spend {fmt_usd(org_spent)} "
                f"of {fmt_usd(cfg.org_monthly_nano)} ({_pct_text(pct(org_spent, cfg.org_monthly_nano))}) is past "
                f"{fmt_usd(threshold)}; the router now picks cheaper models. {_forecast_text(fc)}"
            ),
            spent_nano=org_spent,
            limit_nano=cfg.org_monthly_nano,
            forecast=fc,
            dedup_key=self._dedup_id(ORG_RESERVE, "org", month),
        )
        return [_Pending(alert, self._key(ORG_RESERVE, "org", month), ttl)]

    def _forecast_pending(self, wf: str | None, month: str, fc: Forecast, ttl: int) -> list[_Pending]:
        # Once the budget is spent the critical threshold has said so; a forecast would only repeat it.
        if not fc.over_budget or fc.exhausted:
            return []
        scope = wf or "org"
        alert = Alert(
            level=WARNING,
            condition=FORECAST,
            workflow_id=wf,
            period=month,
            message=f"{self._label(wf)}: month-end forecast above budget. {_forecast_text(fc)}",
            spent_nano=fc.spent_nano,
            limit_nano=fc.budget_nano,
            forecast=fc,
            dedup_key=self._dedup_id(FORECAST, scope, month),
        )
        return [_Pending(alert, self._key(FORECAST, scope, month), ttl)]

    def _blocked_pending(
        self, workflow_id: str, reason: str, today: date, count: int | None, now: datetime
    ) -> _Pending:
        day = today.isoformat()
        level = BLOCK_LEVELS.get(reason, WARNING)
        if count is None:
            what = f"a request was blocked: {reason}"
        else:
            what = f"{count} request{'s' if count != 1 else ''} blocked ({reason}) since the last check"
        wid, why = _safe_id(workflow_id), _safe_id(reason)
        alert = Alert(
            level=level,
            condition=BLOCKED,
            workflow_id=workflow_id,
            period=day,
            message=f"{self._label(workflow_id)}: {what} on {day}",
            reason=reason,
            dedup_key=self._dedup_id(f"{BLOCKED}:{why}", wid, day),
        )
        return _Pending(alert, self._key(BLOCKED, wid, why, day), self._ttl_ms(now, "day"), incident_kind="day")

    def _over_hold_pending(
        self, workflow_id: str, new: int, month_count: int, month_nano: int, today: date, now: datetime
    ) -> _Pending:
        """WARNING, once per workflow and day: calls settled above their hold (an overrun the ledger let by)."""
        day = today.isoformat()
        wid = _safe_id(workflow_id)
        alert = Alert(
            level=WARNING,
            condition=OVER_HOLD,
            workflow_id=workflow_id,
            period=day,
            message=(
                f"{self._label(workflow_id)}: {_calls(new)} settled above {'their' if new != 1 else 'its'} hold "
                f"since the last check (the API billed more than the worst case held); this month "
                f"{_calls(month_count)}, {fmt_usd(month_nano, 4)} over their holds"
            ),
            dedup_key=self._dedup_id(OVER_HOLD, wid, day),
        )
        return _Pending(alert, self._key(OVER_HOLD, wid, day), self._ttl_ms(now, "day"))

    def _label(self, wf: str | None) -> str:
        if wf is None:
            return "Org"
        w = self.config.workflows.get(wf)
        return f"{w.label} ({wf})" if w else f"unknown workflow {wf[:64]!r}"

    # --- dedup ------------------------------------------------------------------------------------

    def _claim(
        self,
        pending: list[_Pending],
        now: datetime,
        seen: tuple[str, Mapping[str, int], int] | None = None,
        stale: tuple[str, Mapping[str, Any]] | None = None,
    ) -> tuple[list[_Pending], list[str]]:
        """SET NX each new condition's key in one round trip (with the blocked-count and incident updates).

        Returns the conditions this process must act on, and the stale PagerDuty incidents it won.
        A condition it won comes back with ``fire`` set and a claim on each channel it is meant
        for; one another process fired earlier comes back (``fire`` unset) only when a channel's
        delivery failed transiently and its retry is due, holding just that channel.
        """
        now_ms = _ms(now)
        with self._lock:
            self._claimed = {key: until for key, until in self._claimed.items() if until > now}
            todo = [
                (p, channels)
                for p, channels in ((p, self._channels_for(p.alert)) for p in pending)
                if any(k not in self._claimed for k in (p.claim_key, *(_channel_key(p, c) for c in channels)))
            ]
        has_seen = bool(seen and seen[1])
        has_stale = bool(stale and stale[1])
        if not todo and not has_seen and not has_stale:
            return [], []
        pipe = self.redis.pipeline(transaction=False)
        for p, channels in todo:
            pipe.set(p.claim_key, p.alert.dedup_key, nx=True, px=p.ttl_ms)
            for channel in channels:
                pipe.get(_channel_key(p, channel))
        if has_seen:
            seen_key, updates, ttl = seen
            pipe.hset(seen_key, mapping=dict(updates))
            pipe.pexpire(seen_key, ttl)
        stale_ids = list(stale[1]) if has_stale else []
        for dedup in stale_ids:
            pipe.hdel(stale[0], dedup)  # HDEL returns 1 to exactly one process: it sends the resolve
        results = pipe.execute()
        won_stale = [d for d, n in zip(stale_ids, results[len(results) - len(stale_ids) :], strict=True) if n]

        cache: dict[str, datetime] = {}
        fired: list[tuple[_Pending, tuple[str, ...]]] = []
        owed: dict[int, list[tuple[str, str]]] = {}  # todo index -> (channel, the due value seen)
        i = 0
        for n, (p, channels) in enumerate(todo):
            won, values = bool(results[i]), results[i + 1 : i + 1 + len(channels)]
            i += 1 + len(channels)
            until = now + timedelta(milliseconds=p.ttl_ms)
            cache[p.claim_key] = until
            if won:
                fired.append((p, channels))
                continue
            for channel, value in zip(channels, values, strict=True):
                due = due_ms(value)
                if value is None:
                    # Fired before this channel was switched on, or by a manager that sends nothing: not
                    # owed. Looked at again later in case its claimant has not written it yet.
                    cache[_channel_key(p, channel)] = min(until, now + timedelta(seconds=self.redeliver_after))
                elif due is None:
                    cache[_channel_key(p, channel)] = until  # sent, or refused for good
                elif due > now_ms:
                    cache[_channel_key(p, channel)] = now + timedelta(milliseconds=due - now_ms)
                else:
                    owed.setdefault(n, []).append((channel, value.decode() if isinstance(value, bytes) else value))
        held = self._hold_channels(fired, owed, todo, now_ms)
        for p, _channels in todo:
            for channel, _value in held.get(p.claim_key, ()):
                cache[_channel_key(p, channel)] = now + timedelta(milliseconds=p.ttl_ms)
        with self._lock:
            self._claimed.update(cache)
        fired_keys = {p.claim_key for p, _ in fired}
        out = [
            replace(p, fire=p.claim_key in fired_keys, held=tuple(held.get(p.claim_key, ())))
            for p, _ in todo
            if p.claim_key in fired_keys or held.get(p.claim_key)
        ]
        return out, won_stale

    def _hold_channels(
        self,
        fired: list[tuple[_Pending, tuple[str, ...]]],
        owed: Mapping[int, list[tuple[str, str]]],
        todo: list[tuple[_Pending, tuple[str, ...]]],
        now_ms: int,
    ) -> dict[str, list[tuple[str, str]]]:
        """Take the channel claims: every channel of a condition just won, and each due retry (compare-and-set)."""
        held: dict[str, list[tuple[str, str]]] = {}
        top: dict[str, int] = {}
        for p, _ in fired:
            if p.group:
                top[p.group] = max(top.get(p.group, -1), _RANK[p.alert.level])
        plan = [
            (p, channel, pending_value(now_ms))
            for p, channels in fired
            if not (p.group and _RANK[p.alert.level] < top[p.group])  # superseded: nothing to send, ever
            for channel in channels
        ]
        if plan:
            pipe = self.redis.pipeline(transaction=False)
            for p, channel, value in plan:
                pipe.set(_channel_key(p, channel), value, nx=True, px=p.ttl_ms)
            for (p, channel, value), ok in zip(plan, pipe.execute(), strict=True):
                if ok:
                    held.setdefault(p.claim_key, []).append((channel, value))
        for n, due in owed.items():
            p = todo[n][0]
            for channel, seen in due:
                value = pending_value(now_ms)
                if self._swap(_channel_key(p, channel), seen, value):
                    held.setdefault(p.claim_key, []).append((channel, value))
        return held

    def _swap(self, key: str, expected: str, value: str) -> bool:
        """Compare-and-set one channel claim (keeps its TTL); False when another process changed it first."""
        if self._cas is None:
            self._cas = self.redis.register_script(CAS_SCRIPT)
        return bool(self._cas(keys=[key], args=[expected, value]))

    def _settle(self, p: _Pending, channel: str, value: str, result: Delivery, now: datetime) -> None:
        """Record a channel's outcome on its claim: sent, refused for good, or due again after a wait."""
        key = _channel_key(p, channel)
        if result.ok:
            final = SENT
        elif not result.retryable:
            final = FAILED
        else:
            wait = max(self.redeliver_after, result.retry_after or 0.0)
            final = retry_value(_ms(now) + int(wait * 1000))
            with self._lock:
                self._claimed[key] = now + timedelta(seconds=wait)
        try:
            self._swap(key, value, final)
        except Exception as exc:  # the claim then goes stale and another check takes it over
            log.warning("could not record the %s delivery outcome: %s", channel, self._describe(exc))

    def _channels_for(self, alert: Alert) -> tuple[str, ...]:
        """The outside channels ``alert`` goes to at this rollout stage (none when not delivering)."""
        if not self.deliver:
            return ()
        stage = min(_RANK[alert.level], _RANK.get(self.settings.min_level, 0))
        channels = []
        if stage >= _RANK[WARNING] and self.settings.slack_webhook_url:
            channels.append(SLACK)
        if stage >= _RANK[CRITICAL] and self.settings.pagerduty_routing_key:
            channels.append(PAGERDUTY)
        return tuple(channels)

    # --- delivery -------------------------------------------------------------------------------

    def _deliver_all(self, claimed: list[_Pending], now: datetime) -> list[Alert]:
        by_group: dict[str, int] = {}
        for p in claimed:
            if p.group and p.fire:
                by_group[p.group] = max(by_group.get(p.group, -1), _RANK[p.alert.level])
        fired = []
        for p in claimed:
            if p.group and _RANK[p.alert.level] < by_group.get(p.group, -1):
                continue  # warn and critical crossed at once: send the critical only
            fired.append(self._deliver(p, now) if self.deliver else p.alert)
        return fired

    def _deliver(self, p: _Pending, now: datetime) -> Alert:
        alert = p.alert
        held = dict(p.held)
        delivered: list[str] = []
        failed: list[str] = []
        if p.fire:
            log.log(
                _LOG_LEVEL[alert.level],
                "budget alert %s %s [%s]: %s",
                alert.level,
                alert.condition,
                alert.scope,
                alert.message,
            )
        else:  # an earlier delivery of this alert failed for a reason that passes: say it again, there only
            log.log(
                _LOG_LEVEL[alert.level],
                "budget alert %s %s [%s] sent again to %s: %s",
                alert.level,
                alert.condition,
                alert.scope,
                ", ".join(held),
                alert.message,
            )
        delivered.append("log")
        if p.fire and gha.in_actions():
            annotate = {INFO: gha.notice, WARNING: gha.warning, CRITICAL: gha.error}[alert.level]
            try:
                annotate(alert.message, title=f"Budget {alert.level.lower()}: {alert.condition}")
                gha.append_summary(f"- **{alert.level}** `{alert.condition}` {alert.scope}: {alert.message}")
                delivered.append("github")
            except OSError as exc:  # an unwritable summary file must not cost the Slack and PagerDuty legs
                log.warning("GitHub annotation or job summary failed: %s", exc.__class__.__name__)
                failed.append("github")
        if SLACK in held and self.settings.slack_webhook_url:
            result = self._post(SLACK, self.settings.slack_webhook_url, slack_payload(alert, gha.actions_run_url()))
            self._settle(p, SLACK, held[SLACK], result, now)
            (delivered if result.ok else failed).append(SLACK)
            if not result.ok:
                self._record_failure(result, alert, now)
        if PAGERDUTY in held and self.settings.pagerduty_routing_key:
            result = self._post(PAGERDUTY, self.pagerduty_url, self._pd_trigger(alert, now))
            self._settle(p, PAGERDUTY, held[PAGERDUTY], result, now)
            (delivered if result.ok else failed).append(PAGERDUTY)
            if result.ok and p.incident_kind:
                self._open_incident(alert, p.incident_kind)
            elif not result.ok:
                self._record_failure(result, alert, now)
        return replace(alert, delivered_to=tuple(delivered), failed=tuple(failed))

    def _open_incident(self, alert: Alert, kind: str) -> None:
        info = {"condition": alert.condition, "workflow": alert.workflow_id, "kind": kind, "period": alert.period}
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self._key("incidents"), alert.dedup_key, json.dumps(info))
            pipe.pexpire(self._key("incidents"), _INCIDENT_TTL_MS)
            pipe.execute()
        except Exception as exc:
            log.warning("could not record the open PagerDuty incident: %s", self._describe(exc))

    def _reopen_incident(self, info: Mapping[str, Any], retry_at_ms: int) -> None:
        entry = {k: v for k, v in info.items() if k != "dedup_key"} | {"retry_at_ms": retry_at_ms}
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(self._key("incidents"), str(info["dedup_key"]), json.dumps(entry))
            pipe.pexpire(self._key("incidents"), _INCIDENT_TTL_MS)
            pipe.execute()
        except Exception as exc:
            log.warning("could not keep the PagerDuty incident for a later resolve: %s", self._describe(exc))

    def _resolve(self, incidents: list[dict]) -> list[Alert]:
        out = []
        key = self.settings.pagerduty_routing_key
        for info in incidents:
            condition, wf = str(info.get("condition")), info.get("workflow")
            alert = Alert(
                level=INFO,
                condition=condition + RESOLVED_SUFFIX,
                workflow_id=wf,
                period=str(info.get("period")),
                message=f"{self._label(wf)}: {condition} of {info.get('period')} resolved: a new period has started",
                dedup_key=info["dedup_key"],
            )
            if not key:
                log.info("PagerDuty incident %s left open: no routing key configured", alert.dedup_key)
                continue
            result = self._post(PAGERDUTY, self.pagerduty_url, self._pd_resolve(alert.dedup_key))
            log.info("budget alert %s", alert.message)
            if not result.ok:
                now = self.now()
                self._record_failure(result, alert, now)
                if result.retryable:  # back in the hash, due later: the incident must not stay open for good
                    wait = max(self.redeliver_after, result.retry_after or 0.0)
                    self._reopen_incident(info, _ms(now) + int(wait * 1000))
            out.append(
                replace(
                    alert,
                    delivered_to=("log", PAGERDUTY) if result.ok else ("log",),
                    failed=() if result.ok else (PAGERDUTY,),
                )
            )
        return out

    def _pd_trigger(self, alert: Alert, now: datetime, severity: str | None = None) -> dict:
        severity = severity or {INFO: "info", WARNING: "warning", CRITICAL: "critical"}[alert.level]
        details: dict[str, Any] = {"condition": alert.condition, "period": alert.period, "scope": alert.scope}
        if alert.spent_nano is not None and alert.limit_nano:
            details["spend"] = fmt_usd(alert.spent_nano)
            details["limit"] = fmt_usd(alert.limit_nano)
            details["percent"] = _pct_text(alert.percent or 0)
        if alert.forecast is not None:
            details["forecast"] = _forecast_text(alert.forecast)
        if alert.reason:
            details["reason"] = alert.reason
        body: dict[str, Any] = {
            "routing_key": self.settings.pagerduty_routing_key,
            "event_action": "trigger",
            "dedup_key": alert.dedup_key,
            "payload": {
                "summary": alert.message[:1024],
                "source": f"acme-ci-budget/{self.config.namespace}",
                "severity": severity,
                "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "component": alert.scope,
                "group": self.config.namespace,
                "class": alert.condition,
                "custom_details": details,
            },
        }
        run = gha.actions_run_url()
        if run:
            body["links"] = [{"href": run, "text": "GitHub Actions run"}]
        return body

    def _pd_resolve(self, dedup_key: str) -> dict:
        return {"routing_key": self.settings.pagerduty_routing_key, "event_action": "resolve", "dedup_key": dedup_key}

    def _post(self, channel: str, url: str, payload: Mapping[str, Any]) -> Delivery:
        """POST JSON under the services' retry contract (``delivery.post_json``); never raises, never leaks ``url``."""
        return post_json(
            self.http,
            url,
            payload,
            channel=channel,
            where=_where(url) if channel == SLACK else url,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_wait=self.max_wait,
            sleep=self.sleep,
            scrub=self.scrub,
        )

    def _record_failure(self, result: Delivery, alert: Alert, now: datetime) -> None:
        """An ``alert_delivery_failed`` event and an ``alert_failed|{channel}`` count; best effort."""
        try:
            ledger = self.enforcer
            ts_ms = int(now.timestamp() * 1000)
            month = now.astimezone(self.config.tz).strftime("%Y-%m")
            retention_ms = self.config.ledger.retention_days * 86_400_000
            fields = {
                "type": EVENT_TYPE_FAILED,
                "ts_ms": ts_ms,
                "outcome": "error",
                "cost_nano": 0,
                "workflow": alert.workflow_id or "*",
                "channel": result.channel,
                "condition": alert.condition,
                "level": alert.level,
                "period": alert.period,
                "attempts": result.attempts,
                "status": result.status if result.status is not None else "",
                "reason": self.scrub(result.error),
            }
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(
                ledger.keys.events(),
                {k: str(v) for k, v in fields.items() if v != ""},
                minid=ts_ms - retention_ms,
                approximate=True,
            )
            pipe.hincrby(ledger.keys.stats(month), f"alert_failed|{result.channel}", 1)
            pipe.execute()
        except Exception as exc:
            log.warning("could not record the failed %s delivery: %s", result.channel, self._describe(exc))

    def _describe(self, exc: BaseException) -> str:
        text = str(exc)
        if _looks_like_requests_error(exc) or not text:
            return exc.__class__.__name__
        return f"{exc.__class__.__name__}: {self.scrub(text)[:200]}"


# --- rendering --------------------------------------------------------------------------------

_EMOJI = {INFO: ":information_source:", WARNING: ":warning:", CRITICAL: ":rotating_light:"}
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
        "percent": _pct_text(alert.percent) if alert.percent is not None else None,
        "forecast": _forecast_text(fc) if fc is not None else None,
        "reason": alert.reason,
        "run_url": run_url,
    }
    text = environment(filters={"slack_escape": slack_escape}).get_template("slack_alert.json.j2").render(**context)
    return json.loads(text)


# --- small helpers ----------------------------------------------------------------------------


def _period_end(now: datetime, tz: Any, kind: str) -> datetime:
    """Local midnight starting the next day / month in ``tz``."""
    local = now.astimezone(tz)
    if kind == "day":
        nxt = local.date() + timedelta(days=1)
    else:
        nxt = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


@lru_cache(maxsize=1024)
def _fraction_of(limit_nano: int, fraction: float) -> int:
    """``limit * fraction`` in whole nano, through Decimal so 0.8 means exactly 80%."""
    return int(Decimal(limit_nano) * Decimal(str(fraction)))


def _pct_text(value: float) -> str:
    """``80%``, ``81.3%``: floored to one decimal so 99.96% never reads as 100%."""
    floored = int(value * 10) / 10
    return f"{floored:g}%"


def _forecast_text(fc: Forecast) -> str:
    if fc.budget_nano <= 0:
        return ""
    text = (
        f"Month-end forecast {fmt_usd(fc.projected_nano)} of {fmt_usd(fc.budget_nano)} "
        f"({_pct_text(fc.projected_pct)}) at {fmt_usd(fc.burn_nano_per_day)}/day"
    )
    if fc.exhausted and fc.runs_out_on:
        return text + f"; the budget ran out on {fc.runs_out_on.isoformat()}"
    if fc.runs_out_on:
        return text + f"; the budget runs out on {fc.runs_out_on.isoformat()}"
    return text + "; on track to stay within budget"


def _calls(n: int) -> str:
    return f"{n:,} call{'s' if n != 1 else ''}"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _channel_key(p: _Pending, channel: str) -> str:
    """The claim on one channel of one alert; beside the condition's, so in the same cluster slot."""
    return f"{p.claim_key}:to:{channel}"


def _safe_id(value: str) -> str:
    """An id fit for a Redis key and a dedup key: as is when plain, else a short hash."""
    value = str(value)
    if _SAFE_ID.fullmatch(value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:20]


def _decode_hash(raw: Mapping[Any, Any] | None) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in (raw or {}).items()
    }


def _loads(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _looks_like_requests_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("requests", "urllib3")


__all__ = [
    "CRITICAL",
    "INFO",
    "LEVELS",
    "WARNING",
    "Alert",
    "AlertError",
    "AlertManager",
    "Delivery",
    "slack_payload",
]
