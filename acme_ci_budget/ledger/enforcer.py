"""The budget ledger: atomic reserve / settle / release of spend against every limit, in Redis.

Owns the money path (DESIGN.md): each reserve, settle and release is one Lua
script in one round trip, money is integer nano-USD, holds expire so a crashed
worker leaks nothing past the TTL (the next reserve or status read gives the
hold back, however late it runs), and each settle appends the call's event in
the same script, so the counters always equal the sum of the events. A settle
above its hold is recorded and flagged (``over_hold_nano``); a reply without
usage is charged its hold's worst case and flagged ``usage_missing``. Every
script checks all its arguments before its first write. Offered a cheaper model,
``reserve`` decides the budget-pressure downgrade in its script, on the live
counters, and holds that model's worst case (``Reservation.pressure`` says why).
The status reads live in ``ledger.status``; the key schema and the reserve script's
arguments in ``ledger.args``. It must not route, call a model, or send alerts, and
nothing above the ledger layer may touch its Redis keys (``Keys``) or its connection
except through this class.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from acme_ci_budget.catalog.pricing import calculate_cost as _calculate_cost
from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import Config, Workflow, load_config
from acme_ci_budget.core.clock import Clock, utc_now
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.money import nano_to_usd, pct
from acme_ci_budget.core.resources import lua_path
from acme_ci_budget.ledger.args import Keys, pressure_thresholds, reserve_args, reserve_keys
from acme_ci_budget.ledger.args import event_dict as _event_dict
from acme_ci_budget.ledger.args import event_fields as _event_fields
from acme_ci_budget.ledger.args import identity as _identity
from acme_ci_budget.ledger.errors import LedgerUnavailable, is_connection_error
from acme_ci_budget.ledger.status import StatusReads
from acme_ci_budget.ledger.store import connect, prefix, redact_url

log = logging.getLogger("acme_ci_budget.ledger")

DAY_MS = 86_400_000

# Reasons a request is refused, one per limit.
UNKNOWN_WORKFLOW = "unknown_workflow"
TASK_TOKENS = "task_token_limit_exceeded"
SESSION_TOKENS = "session_token_limit_exceeded"
LOOP_STEPS = "loop_step_limit_exceeded"
ORG_MONTHLY = "total_org_budget_exceeded"
MONTHLY = "monthly_limit_exceeded"
DAILY = "daily_limit_exceeded"
LEDGER_DOWN = "ledger_unavailable"

# What a release did (Release.status).
RELEASED = "released"
ALREADY_FINAL = "already_final"  # settled or released before: nothing changed
UNKNOWN_RESERVATION = "unknown"  # the ledger holds no such reservation: nothing changed, no failure counted
NOT_HELD = "refused"  # the reservation was refused: it never held anything


class SettleError(AcmeError, ValueError):
    """A settle or release was given something it cannot record (negative tokens, a foreign reservation)."""


class LedgerArgumentError(SettleError):
    """A ledger script refused an argument (out of range, malformed) before writing anything."""


@dataclass(frozen=True)
class Reservation:
    id: str
    workflow_id: str
    model: str
    allowed: bool
    reason: str
    input_tokens: int
    max_output_tokens: int
    requested_max_output_tokens: int
    held_nano: int
    day: str
    month: str
    session_id: str | None = None
    user_id: str | None = None
    task_id: str | None = None
    loop_step: int | None = None
    warnings: tuple[str, ...] = ()
    headroom: Mapping[str, Any] = field(default_factory=dict)
    fail_open: bool = False
    # How many of input_tokens the request may write to the prompt cache (5-minute / 1-hour TTL),
    # held at the cache-write prices.
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # Budget pressure: the cheaper model the caller offered, its worst case, and why the script held
    # it instead of the routed model ('' : it did not; 'org_reserve' / 'workflow_month'). When it
    # did, ``model`` and ``held_nano`` are the cheaper model's.
    pressure_model: str | None = None
    pressure_held_nano: int = 0
    pressure: str = ""
    # Open PagerDuty incidents the alert module recorded (read by the same script): the client's
    # alert check resolves stale ones only when there are some.
    open_incidents: int = 0

    @property
    def held_usd(self) -> float:
        return nano_to_usd(self.held_nano)

    @property
    def clamped(self) -> bool:
        return self.max_output_tokens < self.requested_max_output_tokens


@dataclass(frozen=True)
class Settlement:
    reservation_id: str
    cost_nano: int
    org_spent_nano: int
    month_spent_nano: int
    day_spent_nano: int
    hold_found: bool
    duplicate: bool = False
    over_hold_nano: int = 0  # the part of the cost no live hold covered (the API billed above the worst case)
    usage_missing: bool = False  # the reply had no usage: charged the hold's worst case
    # False: Redis was unreachable and a fail-open call's cost is not in the ledger (the client journals it).
    recorded: bool = True
    # Other calls' holds left on the counters this call was held on, once its hold was dropped (0: none,
    # or its hold was gone): with the spend above, what the per-call alert check's one-call rule needs.
    org_held_nano: int = 0
    month_held_nano: int = 0
    day_held_nano: int = 0

    @property
    def cost_usd(self) -> float:
        return nano_to_usd(self.cost_nano)


@dataclass(frozen=True)
class Release:
    """What ``release`` did; true only when it released a hold now."""

    reservation_id: str
    status: str  # RELEASED | ALREADY_FINAL | UNKNOWN_RESERVATION | NOT_HELD

    def __bool__(self) -> bool:
        return self.status == RELEASED


def _load_script(redis: Any, name: str) -> Any:
    prelude = "\n".join(lua_path(part).read_text() for part in ("_args.lua", "_purge.lua"))
    return redis.register_script(prelude + "\n" + lua_path(name).read_text())


class BudgetEnforcer(StatusReads):
    """Reserve before a model call, settle after it, release if it failed; all limits, atomically.

    ``config=None`` loads the default config; ``redis`` (a client) wins over ``redis_url``,
    which wins over ``$REDIS_URL``; with none, the embedded Redis. ``clock`` returns an aware
    datetime and drives days, months and hold expiry (tests and the simulator inject one).
    """

    def __init__(
        self,
        config: Config | None = None,
        redis_url: str | None = None,
        redis: Any = None,
        clock: Clock | None = None,
        ephemeral_ledger: bool = False,
    ) -> None:
        self.config = config or load_config()
        self.redis_url = redis_url or os.environ.get("REDIS_URL")
        self.redis = redis if redis is not None else connect(self.redis_url, allow_ephemeral=ephemeral_ledger)
        self.clock = clock or utc_now
        self._tz = self.config.tz
        self.keys = Keys(prefix(self.config.namespace))
        self._reserve = _load_script(self.redis, "reserve.lua")
        self._settle = _load_script(self.redis, "settle.lua")
        self._release = _load_script(self.redis, "release.lua")
        self._status = _load_script(self.redis, "status.lua")
        self._retention_ms = self.config.ledger.retention_days * DAY_MS
        self._thresholds = pressure_thresholds(self.config)

    # --- periods ------------------------------------------------------------------------------

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the ledger clock must return an aware datetime")
        return now

    def periods(self, now: datetime | None = None) -> tuple[str, str]:
        """(day, month) of ``now`` in the configured timezone, e.g. ('2026-11-29', '2026-11')."""
        local = (now or self.now()).astimezone(self._tz)
        month = f"{local.year:04d}-{local.month:02d}"  # f-strings: strftime costs ~3x more on the hot path
        return f"{month}-{local.day:02d}", month

    def _ms(self, now: datetime) -> int:
        return int(now.timestamp() * 1000)

    # --- the money path ---------------------------------------------------------------------

    def reserve(
        self,
        workflow_id: str,
        model: str,
        input_tokens: int,
        max_output_tokens: int,
        session_id: str | None = None,
        task_id: str | None = None,
        loop_step: int | None = None,
        user_id: str | None = None,
        *,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        pressure_model: str | None = None,
    ) -> Reservation:
        """Hold this request's worst case on every counter, or refuse it naming the first limit it breaks.

        ``cache_write_tokens`` / ``cache_write_1h_tokens``: how many of ``input_tokens`` the request
        may write to the prompt cache at the 5-minute / 1-hour TTL; the worst case prices them at
        the cache-write rates (1.25x / 2x input) instead of input. Loop steps are counted in Redis
        per session and per task id, whatever ``loop_step`` says.

        ``pressure_model``: a cheaper model to use instead when the workflow is under budget pressure
        (the org past its reserve threshold, or the workflow's month spend at ``budget_pressure_pct``),
        decided by the script on the counters it holds against, so never stale. The result's
        ``pressure`` says whether it did and why; its ``model`` and ``held_nano`` are then the cheaper
        model's, for the same tokens.
        """
        now = self.now()
        draft, wf = self._reserve_draft(
            now,
            workflow_id,
            model,
            input_tokens,
            max_output_tokens,
            session_id,
            task_id,
            loop_step,
            user_id,
            cache_write_tokens,
            cache_write_1h_tokens,
            pressure_model,
        )
        try:
            raw = _run(self._reserve, self._reserve_keys(draft), self._reserve_args(wf, draft, now))
        except Exception as exc:
            return self._unavailable(exc, draft)
        return self._reserved(draft, wf, raw)

    def _reserve_draft(
        self,
        now: datetime,
        workflow_id: str,
        model: str,
        input_tokens: int,
        max_output_tokens: int,
        session_id: str | None,
        task_id: str | None,
        loop_step: int | None,
        user_id: str | None,
        cache_write_tokens: int,
        cache_write_1h_tokens: int,
        pressure_model: str | None,
    ) -> tuple[Reservation, Workflow | None]:
        """The checks and prices of ``reserve`` before Redis: the request as the script will see it."""
        _check_counts(
            "reserve",
            input_tokens=input_tokens,
            max_output_tokens=max_output_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
        )
        if max_output_tokens < 1:
            raise SettleError(f"reserve needs max_output_tokens >= 1 (got {max_output_tokens})")
        if not isinstance(workflow_id, str) or not workflow_id:
            raise SettleError(f"reserve needs a workflow id (got {workflow_id!r})")
        # Cache writes are part of the input: never more than it (the 1-hour ones, dearer, first).
        cw_1h = min(cache_write_1h_tokens, input_tokens)
        cw_5m = min(cache_write_tokens, input_tokens - cw_1h)
        day, month = self.periods(now)
        wf = self.config.workflows.get(workflow_id)
        requested = max_output_tokens
        warnings: list[str] = []
        reason = ""
        if wf is None:
            reason = UNKNOWN_WORKFLOW
        elif loop_step is not None and loop_step > wf.max_loop_steps:
            reason = LOOP_STEPS
        elif input_tokens >= wf.per_task_tokens.hard:
            reason = TASK_TOKENS
        else:
            if input_tokens + max_output_tokens > wf.per_task_tokens.hard:
                max_output_tokens = wf.per_task_tokens.hard - input_tokens
                warnings.append(
                    f"max_tokens clamped from {requested} to {max_output_tokens} by the per-task hard limit"
                )
            if input_tokens + max_output_tokens > wf.per_task_tokens.soft:
                warnings.append(
                    f"per-task soft limit: {input_tokens + max_output_tokens} tokens > {wf.per_task_tokens.soft}"
                )

        def worst_case(priced_as: str) -> int:
            if reason:
                return 0
            return cost_nano(
                priced_as,
                input_tokens - cw_5m - cw_1h,
                max_output_tokens,
                cw_5m,
                0,
                overrides=self.config.pricing,
                cache_write_1h_tokens=cw_1h,
            )

        draft = Reservation(
            id=os.urandom(16).hex(),  # 128 random bits, as uuid4 has, at a quarter of its cost
            workflow_id=workflow_id,
            model=model,
            allowed=False,
            reason=reason,
            input_tokens=input_tokens,
            max_output_tokens=max_output_tokens,
            requested_max_output_tokens=requested,
            held_nano=worst_case(model),
            day=day,
            month=month,
            session_id=session_id,
            user_id=user_id,
            task_id=task_id,
            loop_step=loop_step,
            warnings=tuple(warnings),
            cache_write_tokens=cw_5m,
            cache_write_1h_tokens=cw_1h,
            pressure_model=pressure_model if wf is not None else None,
            pressure_held_nano=worst_case(pressure_model) if pressure_model and wf is not None else 0,
        )
        return draft, wf

    def _reserved(self, draft: Reservation, wf: Workflow | None, raw: Any) -> Reservation:
        """The reservation as the script decided it (``raw``: its reply)."""
        allowed = bool(int(raw[0]))
        reason = _text(raw[1])
        org_s, org_h, m_s, m_h, d_s, d_h, s_tok, s_held = (int(x) for x in raw[2:10])
        pressure = _text(raw[11]) if draft.pressure_model else ""
        model, held = draft.model, draft.held_nano
        if pressure:
            model, held = draft.pressure_model, draft.pressure_held_nano
        if allowed:  # the script returns the counters as they were before this hold
            org_h, m_h, d_h = org_h + held, m_h + held, d_h + held
            s_held += draft.input_tokens + draft.max_output_tokens if draft.session_id else 0
        warnings = list(draft.warnings)
        headroom = {}
        if wf is not None:
            headroom = {
                "org_remaining_nano": self.config.org_monthly_nano - org_s - org_h,
                "monthly_remaining_nano": wf.monthly_nano - m_s - m_h,
                "daily_remaining_nano": wf.daily_nano - d_s - d_h,
                "org_spent_nano": org_s,
                "monthly_spent_nano": m_s,
                "daily_spent_nano": d_s,
                "session_tokens": s_tok,
            }
            if draft.session_id and s_tok + s_held > wf.per_session_tokens.soft:
                warnings.append(
                    f"per-session soft limit: {s_tok + s_held} tokens > {wf.per_session_tokens.soft}; compress context"
                )
        return _evolve(
            draft,
            model=model,
            allowed=allowed,
            reason=reason,
            held_nano=held if allowed else 0,
            warnings=tuple(warnings),
            headroom=headroom,
            pressure=pressure,
            open_incidents=int(raw[12]),
        )

    def _reserve_keys(self, r: Reservation) -> list[str]:
        return reserve_keys(self.keys, r)

    def _reserve_args(self, wf: Workflow | None, r: Reservation, now: datetime) -> list:
        return reserve_args(self.config, self.keys.p, wf, r, self._ms(now), self._retention_ms, self._thresholds)

    def _unavailable(self, exc: Exception, draft: Reservation) -> Reservation:
        if not is_connection_error(exc):
            raise exc
        where = redact_url(self.redis_url)
        if not self.config.ledger.fail_open:
            raise LedgerUnavailable(
                f"budget ledger unreachable at {where} ({exc.__class__.__name__}); refusing to spend without it "
                "(set ledger.fail_open: true to allow calls while Redis is down)"
            ) from None
        message = (
            f"LEDGER UNREACHABLE at {where}: fail_open is on, letting {draft.workflow_id} call {draft.model} UNBUDGETED"
        )
        log.warning(message)
        return replace(
            draft,
            id=f"failopen-{draft.id}",
            allowed=True,
            reason=LEDGER_DOWN,
            held_nano=0,
            warnings=(*draft.warnings, message),
            fail_open=True,
        )

    def _unreachable(self, exc: Exception) -> LedgerUnavailable:
        where = redact_url(self.redis_url)
        return LedgerUnavailable(f"budget ledger unreachable at {where} ({exc.__class__.__name__})")

    def settle(
        self,
        reservation: Reservation,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        latency_ms: int | None = None,
        route_reason: str | None = None,
        model: str | None = None,
        *,
        cache_creation_1h_input_tokens: int = 0,
        usage_missing: bool = False,
    ) -> Settlement:
        """Record what the call really cost (from the API's usage) and drop its hold; idempotent by id.

        The counts mean what the API's ``usage`` means: ``cache_creation_input_tokens`` is every
        cache write, of which ``cache_creation_1h_input_tokens`` were at the 1-hour TTL (priced at
        the 1-hour rate, the rest at the 5-minute rate). ``usage_missing=True`` (a reply without
        usage): the counts are ignored and the call is charged its hold's worst case, flagged.
        """
        keys, args, cost = self._settle_request(
            reservation,
            input_tokens,
            output_tokens,
            cache_creation_input_tokens,
            cache_read_input_tokens,
            latency_ms,
            route_reason,
            model,
            cache_creation_1h_input_tokens,
            usage_missing,
        )
        try:
            raw = _run(self._settle, keys, args)
        except Exception as exc:
            if not reservation.fail_open or not is_connection_error(exc):
                raise
            log.warning(
                "LEDGER UNREACHABLE: fail-open call of %s cost %s nano-USD and could not be recorded",
                reservation.workflow_id,
                cost,
            )
            return Settlement(
                reservation.id, cost, 0, 0, 0, hold_found=False, usage_missing=usage_missing, recorded=False
            )
        return self._settled(reservation, raw, usage_missing)

    def _settle_request(
        self,
        reservation: Reservation,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int,
        cache_read_input_tokens: int,
        latency_ms: int | None,
        route_reason: str | None,
        model: str | None,
        cache_creation_1h_input_tokens: int,
        usage_missing: bool,
    ) -> tuple[list[str], list, int]:
        """The checks and price of ``settle`` before Redis: the script's keys and arguments, and the cost."""
        if not reservation.allowed:
            raise SettleError(f"reservation {reservation.id} was refused ({reservation.reason}); nothing to settle")
        if usage_missing:
            model = reservation.model  # what the hold priced; the reply said nothing about what it used
            cache_creation_1h_input_tokens = reservation.cache_write_1h_tokens
            cache_creation_input_tokens = reservation.cache_write_tokens + cache_creation_1h_input_tokens
            input_tokens = reservation.input_tokens - cache_creation_input_tokens
            output_tokens, cache_read_input_tokens = reservation.max_output_tokens, 0
        counts = (input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens)
        _check_counts("settle", cache_creation_1h_input_tokens=cache_creation_1h_input_tokens, counts=counts)
        if cache_creation_1h_input_tokens > cache_creation_input_tokens:
            raise SettleError(
                f"cache_creation_1h_input_tokens ({cache_creation_1h_input_tokens}) is part of "
                f"cache_creation_input_tokens ({cache_creation_input_tokens}) and cannot exceed it"
            )
        model = model or reservation.model
        cost = self.usage_cost(model, *counts, cache_creation_1h_input_tokens)
        if usage_missing and reservation.held_nano:
            cost = reservation.held_nano  # exactly what was held, even if prices changed since
        now = self.now()
        wf, day, month = reservation.workflow_id, reservation.day, reservation.month
        k = self.keys
        event = _event_fields(
            **{**_identity(reservation), "model": model},
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=cache_creation_input_tokens,
            cache_creation_1h_input_tokens=cache_creation_1h_input_tokens or None,
            cache_read_input_tokens=cache_read_input_tokens,
            latency_ms=latency_ms,
            route_reason=route_reason,
            held_nano=reservation.held_nano,
            fail_open=1 if reservation.fail_open else None,
        )
        keys = [
            k.holds(),
            k.hold(reservation.id),
            k.result(reservation.id),
            k.org_spent(month),
            k.wf_spent_month(wf, month),
            k.wf_spent_day(wf, day),
            k.session(reservation.session_id),
            k.stats(month),
            k.events(),
        ]
        args = [
            reservation.id,
            cost,
            sum(counts),
            self._ms(now),
            self._retention_ms,
            wf,
            model,
            reservation.user_id or "",
            day[-2:],
            *counts,
            cache_creation_1h_input_tokens,
            1 if reservation.session_id else 0,
            self._retention_ms,
            event,
            1 if usage_missing else 0,
        ]
        return keys, args, cost

    def _settled(self, reservation: Reservation, raw: Any, usage_missing: bool) -> Settlement:
        """The settlement as the script recorded it (``raw``: its reply)."""
        wf = reservation.workflow_id
        status, cost_s, org_s, month_s, day_s, found, over = (_text(x) for x in raw[:7])
        # a marker written before the held figures were part of the reply has seven words: no holds then
        org_h, month_h, day_h = (int(_text(x)) for x in raw[8:11]) if len(raw) >= 11 else (0, 0, 0)
        settlement = Settlement(
            reservation_id=reservation.id,
            cost_nano=int(cost_s),
            org_spent_nano=int(org_s),
            month_spent_nano=int(month_s),
            day_spent_nano=int(day_s),
            hold_found=found == "1",
            duplicate=status == "dup",
            over_hold_nano=int(over),
            usage_missing=usage_missing,
            org_held_nano=org_h,
            month_held_nano=month_h,
            day_held_nano=day_h,
        )
        if settlement.over_hold_nano and not settlement.duplicate:
            log.warning(
                "%s: call %s cost %s nano-USD, %s above its hold (the API billed more than the worst case)",
                wf,
                reservation.id,
                settlement.cost_nano,
                settlement.over_hold_nano,
            )
        return settlement

    def record_journaled(self, entry: Any) -> Settlement:
        """Settle a call the journal kept while Redis was unreachable (see ``acme_ci_budget.ledger.journal``).

        Charged to the day and month the call was spent in, through ``settle`` (idempotent by
        reservation id: a second replay records nothing). Raises ``LedgerUnavailable`` while Redis
        is still unreachable, so the entry stays in the journal.
        """
        counts = (
            entry.input_tokens,
            entry.output_tokens,
            entry.cache_creation_input_tokens,
            entry.cache_read_input_tokens,
        )
        one_hour = entry.cache_creation_1h_input_tokens
        # A call whose reply had no usage was journaled with its worst case as the counts and that
        # worst case as its cost: the stand-in reservation holds exactly that, so the replay charges it, flagged.
        reservation = Reservation(
            id=entry.reservation,
            workflow_id=entry.workflow,
            model=entry.model,
            allowed=True,
            reason=LEDGER_DOWN if entry.fail_open else "",
            input_tokens=entry.input_tokens + entry.cache_creation_input_tokens,
            max_output_tokens=max(1, entry.output_tokens),
            requested_max_output_tokens=max(1, entry.output_tokens),
            held_nano=entry.cost_nano if entry.usage_missing else 0,
            day=entry.day,
            month=entry.month,
            session_id=entry.session,
            user_id=entry.user,
            task_id=entry.task,
            loop_step=entry.loop_step,
            fail_open=entry.fail_open,
            cache_write_tokens=entry.cache_creation_input_tokens - one_hour,
            cache_write_1h_tokens=one_hour,
        )
        unreachable = f"budget ledger unreachable at {redact_url(self.redis_url)}; the journal keeps the call"
        try:
            settled = self.settle(
                reservation,
                *counts,
                latency_ms=entry.latency_ms,
                route_reason=entry.route_reason,
                model=entry.model,
                cache_creation_1h_input_tokens=one_hour,
                usage_missing=entry.usage_missing,
            )
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            raise LedgerUnavailable(unreachable) from None
        if not settled.recorded:  # a fail-open settle reports the outage instead of raising
            raise LedgerUnavailable(unreachable)
        return settled

    def usage_cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        cache_creation_1h_input_tokens: int = 0,
    ) -> int:
        """What a call costs from the API's usage (cache writes as the API counts them: all, and the 1-hour part)."""
        return cost_nano(
            model,
            input_tokens,
            output_tokens,
            cache_creation_input_tokens - cache_creation_1h_input_tokens,
            cache_read_input_tokens,
            overrides=self.config.pricing,
            cache_write_1h_tokens=cache_creation_1h_input_tokens,
        )

    def release(self, reservation: Reservation, error: str = "", latency_ms: int | None = None) -> Release:
        """The call failed: drop the hold, record nothing spent, log the failure.

        Returns a ``Release`` (true when a hold was released now). Releasing again, or after a
        settle, is ``ALREADY_FINAL``; an id the ledger does not know is ``UNKNOWN_RESERVATION``:
        nothing changes and no failure is counted.
        """
        if not reservation.allowed:
            return Release(reservation.id, NOT_HELD)
        now = self.now()
        k = self.keys
        event = _event_fields(
            **_identity(reservation),
            reason=error[:500] if error else "call_failed",
            latency_ms=latency_ms,
        )
        (status,) = _run(
            self._release,
            [k.holds(), k.hold(reservation.id), k.result(reservation.id), k.stats(reservation.month), k.events()],
            [reservation.id, self._ms(now), self._retention_ms, reservation.workflow_id, self._retention_ms, event],
        )
        outcome = {"ok": RELEASED, "dup": ALREADY_FINAL}.get(_text(status), UNKNOWN_RESERVATION)
        if outcome == UNKNOWN_RESERVATION:
            log.info("release of %s: the ledger holds no such reservation; nothing to release", reservation.id)
        return Release(reservation.id, outcome)

    # --- the lab's one-shot API -------------------------------------------------------------

    def check_and_record(self, workflow_id: str, model: str, input_tokens: int, output_tokens: int) -> dict:
        """Reserve and settle at once (the lab's call), returning the lab's keys."""
        res = self.reserve(workflow_id, model, input_tokens, max(output_tokens, 1))
        wf = self.config.workflows.get(workflow_id)
        if not res.allowed:
            status = self.workflow_status(workflow_id) if wf else {}
            return {
                "allowed": False,
                "cost": 0.0,
                "reason": res.reason,
                "daily_spend_after": status.get("daily_spend", 0.0),
                "monthly_spend_after": status.get("monthly_spend", 0.0),
                "daily_pct": status.get("daily_pct", 0.0),
                "monthly_pct": status.get("monthly_pct", 0.0),
            }
        settled = self.settle(res, input_tokens, output_tokens)
        return {
            "allowed": True,
            "cost": settled.cost_usd,
            "reason": "within_budget",
            "daily_spend_after": nano_to_usd(settled.day_spent_nano),
            "monthly_spend_after": nano_to_usd(settled.month_spent_nano),
            "daily_pct": pct(settled.day_spent_nano, wf.daily_nano),
            "monthly_pct": pct(settled.month_spent_nano, wf.monthly_nano),
            "warnings": list(res.warnings),
        }

    def calculate_cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        *,
        cache_write_1h_tokens: int = 0,
    ) -> float:
        return _calculate_cost(
            model,
            input_tokens,
            output_tokens,
            cache_creation_input_tokens,
            cache_read_input_tokens,
            self.config.pricing,
            cache_write_1h_tokens=cache_write_1h_tokens,
        )

    # --- admin --------------------------------------------------------------------------------

    def reset(self, workflow_id: str | None, period: str, when: datetime | None = None) -> list[str]:
        """Zero the spent counters of ``period`` ('day' or 'month') for one workflow or all; returns keys removed.

        Monthly stats and events are history and are kept; the reset is itself logged as an event.
        """
        if period not in ("day", "month"):
            raise SettleError(f"period must be 'day' or 'month', got {period!r}")
        day, month = self.periods(when)
        k = self.keys
        ids = [workflow_id] if workflow_id else list(self.config.workflows)
        for wid in ids:
            self.config.workflow(wid)
        keys = [k.wf_spent_day(w, day) for w in ids] if period == "day" else [k.wf_spent_month(w, month) for w in ids]
        if period == "month" and workflow_id is None:
            keys.append(k.org_spent(month))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        pipe.xadd(
            k.events(),
            _event_dict(
                type="admin_reset",
                ts_ms=self._ms(self.now()),
                workflow=workflow_id or "*",
                reason=f"reset {period} {day if period == 'day' else month}",
            ),
        )
        pipe.execute()
        return keys


def _evolve(r: Reservation, **changes: Any) -> Reservation:
    """``dataclasses.replace`` without its per-call field introspection (every reserve takes this path)."""
    return Reservation(**{**r.__dict__, **changes})


def _check_counts(what: str, counts: tuple[int, ...] = (), **named: int) -> None:
    """Token counts must be non-negative integers (the scripts refuse anything else, before writing)."""
    for c in (*counts, *named.values()):  # a loop, not any(<generator>): every reserve and settle passes here
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            shown = ", ".join([*(str(c) for c in counts), *(f"{n}={v!r}" for n, v in named.items())])
            raise SettleError(f"{what}: token counts must be non-negative integers, got ({shown})")


def _run(script: Any, keys: list[str], args: list) -> Any:
    """Run one ledger script; its argument refusals (nothing written) become ``LedgerArgumentError``."""
    import redis as redis_lib

    try:
        return script(keys=keys, args=args)
    except redis_lib.ResponseError as exc:
        if "acb: bad argument" in str(exc):
            raise LedgerArgumentError(f"the ledger refused the request, nothing was written: {exc}") from None
        raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
