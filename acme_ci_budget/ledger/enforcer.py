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

``BudgetEnforcer`` is the ledger's one handle. Its other jobs live beside it and are re-exposed
as its methods: the checks and prices before Redis in ``ledger.draft``, the scripts' keys and
arguments in ``ledger.args``, the results in ``ledger.results``, the status and month reads in
``ledger.status``, the event stream in ``ledger.events``, the lab's one-shot API in
``ledger.lab``, ``reset`` and the inspection reads in ``ledger.admin``. It must not route, call a
model, or send alerts, and nothing above the ledger layer may touch its Redis keys (``Keys``) or
its connection except through these methods.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from acme_ci_budget.config import Config, Workflow, load_config
from acme_ci_budget.core.clock import Clock, utc_now
from acme_ci_budget.core.repos import resolve_repo
from acme_ci_budget.ledger import admin, agent_runs, journal, lab
from acme_ci_budget.ledger import events as stream
from acme_ci_budget.ledger.args import (
    Keys,
    pressure_thresholds,
    release_args,
    release_keys,
    reserve_args,
    reserve_keys,
    settle_args,
    settle_keys,
)
from acme_ci_budget.ledger.draft import reserve_draft, settle_charge, usage_cost
from acme_ci_budget.ledger.errors import (
    LedgerArgumentError,
    LedgerUnavailable,
    SettleError,
    is_connection_error,
    reserve_outage,
)
from acme_ci_budget.ledger.results import (
    ALREADY_FINAL,
    DAILY,
    LEDGER_DOWN,
    LOOP_STEPS,
    MONTHLY,
    NOT_HELD,
    ORG_MONTHLY,
    RELEASED,
    SESSION_TOKENS,
    TASK_TOKENS,
    UNKNOWN_RESERVATION,
    UNKNOWN_WORKFLOW,
    Release,
    Reservation,
    Settlement,
    reservation_from_reply,
    settlement_from_reply,
)
from acme_ci_budget.ledger.results import text as _text
from acme_ci_budget.ledger.scripts import load_script as _load_script
from acme_ci_budget.ledger.scripts import run_script as _run
from acme_ci_budget.ledger.status import StatusReads
from acme_ci_budget.ledger.store import connect, prefix, redact_url

# The names this module has always exported, now defined beside it (``from ...enforcer import X`` keeps working).
__all__ = [
    "ALREADY_FINAL",
    "DAILY",
    "LEDGER_DOWN",
    "LOOP_STEPS",
    "MONTHLY",
    "NOT_HELD",
    "ORG_MONTHLY",
    "RELEASED",
    "SESSION_TOKENS",
    "TASK_TOKENS",
    "UNKNOWN_RESERVATION",
    "UNKNOWN_WORKFLOW",
    "BudgetEnforcer",
    "Clock",
    "Keys",
    "LedgerArgumentError",
    "LedgerUnavailable",
    "Release",
    "Reservation",
    "SettleError",
    "Settlement",
    "utc_now",
]

log = logging.getLogger("acme_ci_budget.ledger")

DAY_MS = 86_400_000


class BudgetEnforcer(StatusReads):
    """Reserve before a model call, settle after it, release if it failed; all limits, atomically.

    ``config=None`` loads the default config; ``redis`` (a client) wins over ``redis_url``,
    which wins over ``$REDIS_URL``; with none, the embedded Redis. ``clock`` returns an aware
    datetime and drives days, months and hold expiry (tests and the simulator inject one).
    ``repo`` (owner/name; default ``$GITHUB_REPOSITORY``, else none): every call's repository (``core.repos``).
    """

    def __init__(
        self,
        config: Config | None = None,
        redis_url: str | None = None,
        redis: Any = None,
        clock: Clock | None = None,
        ephemeral_ledger: bool = False,
        repo: str | None = None,
    ) -> None:
        self.config, self.repo = config or load_config(), resolve_repo(repo, "repo")
        self.redis_url = redis_url or os.environ.get("REDIS_URL")
        self.redis = redis if redis is not None else connect(self.redis_url, allow_ephemeral=ephemeral_ledger)
        self.clock, self._tz = clock or utc_now, self.config.tz
        self.keys = Keys(prefix(self.config.namespace))
        self._reserve, self._settle, self._release, self._status, self._reset = (
            _load_script(self.redis, f"{name}.lua") for name in ("reserve", "settle", "release", "status", "reset")
        )
        self._retention_ms = self.config.ledger.retention_days * DAY_MS
        self._thresholds = pressure_thresholds(self.config)

    # --- where, and when ----------------------------------------------------------------------

    @property
    def where(self) -> str:
        """The ledger's Redis URL with any password removed: what messages may show."""
        return redact_url(self.redis_url)

    @property
    def ledger_id(self) -> str:
        """Which Redis this is, as the spend journal records it (a hash; never the URL)."""
        return journal.ledger_id(self.redis_url)

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

    # The steps of reserve and settle, one method each: the simulator's TickLedger pipelines them.
    def _reserve_draft(self, now: datetime, *request: Any) -> tuple[Reservation, Workflow | None]:
        """The checks and prices of ``reserve`` before Redis (``ledger.draft.reserve_draft``)."""
        return reserve_draft(self.config, *self.periods(now), *request, repo=self.repo)

    def _reserve_keys(self, r: Reservation) -> list[str]:
        return reserve_keys(self.keys, r)

    def _reserve_args(self, wf: Workflow | None, r: Reservation, now: datetime) -> list:
        return reserve_args(self.config, self.keys.p, wf, r, self._ms(now), self._retention_ms, self._thresholds)

    def _reserved(self, draft: Reservation, wf: Workflow | None, raw: Any) -> Reservation:
        """The reservation as the script decided it (``raw``: its reply)."""
        return reservation_from_reply(self.config, draft, wf, raw)

    def _unavailable(self, exc: Exception, draft: Reservation) -> Reservation:
        return reserve_outage(self.config, self.where, exc, draft)

    def _unreachable(self, exc: Exception) -> LedgerUnavailable:
        return LedgerUnavailable(f"budget ledger unreachable at {self.where} ({exc.__class__.__name__})")

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

    def _settle_request(self, r: Reservation, *request: Any) -> tuple[list[str], list, int]:
        """The checks and price of ``settle`` before Redis: the script's keys and arguments, and the cost.

        ``request``: ``settle``'s arguments after the reservation, in its order, all given.
        """
        i, o, cw, cr, latency_ms, route_reason, model, one_hour, usage_missing = request
        charge = settle_charge(self.config, r, i, o, cw, cr, model, one_hour, usage_missing)
        args = settle_args(r, charge, self._ms(self.now()), self._retention_ms, latency_ms, route_reason, usage_missing)
        return settle_keys(self.keys, r), args, charge.cost_nano

    def _settled(self, reservation: Reservation, raw: Any, usage_missing: bool) -> Settlement:
        """The settlement as the script recorded it (``raw``: its reply); a cost above its hold is logged."""
        settlement = settlement_from_reply(reservation, raw, usage_missing)
        if settlement.over_hold_nano and not settlement.duplicate:
            log.warning(
                "%s: call %s cost %s nano-USD, %s above its hold (the API billed more than the worst case)",
                reservation.workflow_id,
                reservation.id,
                settlement.cost_nano,
                settlement.over_hold_nano,
            )
        return settlement

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
        return usage_cost(
            self.config,
            model,
            input_tokens,
            output_tokens,
            cache_creation_input_tokens,
            cache_read_input_tokens,
            cache_creation_1h_input_tokens,
        )

    def release(self, reservation: Reservation, error: str = "", latency_ms: int | None = None) -> Release:
        """The call failed: drop the hold, record nothing spent, log the failure.

        Returns a ``Release`` (true when a hold was released now). Releasing again, or after a
        settle, is ``ALREADY_FINAL``; an id the ledger does not know is ``UNKNOWN_RESERVATION``:
        nothing changes and no failure is counted.
        """
        if not reservation.allowed:
            return Release(reservation.id, NOT_HELD)
        now_ms = self._ms(self.now())
        keys = release_keys(self.keys, reservation)
        (status,) = _run(self._release, keys, release_args(reservation, now_ms, self._retention_ms, error, latency_ms))
        outcome = {"ok": RELEASED, "dup": ALREADY_FINAL}.get(_text(status), UNKNOWN_RESERVATION)
        if outcome == UNKNOWN_RESERVATION:
            log.info("release of %s: the ledger holds no such reservation; nothing to release", reservation.id)
        return Release(reservation.id, outcome)

    # --- the jobs beside the money path, as methods (each module's functions take the enforcer) ---

    record_journaled = journal.record  # replaying the spend journal
    check_and_record = lab.check_and_record  # the lab's one-shot API
    calculate_cost = lab.calculate_cost
    reset = admin.reset  # admin
    session_tokens, task_steps, open_holds = admin.session_tokens, admin.task_steps, admin.open_holds
    events = stream.events  # the event stream, and the one event written outside a script
    task_spend = stream.task_spend
    record_alert_failure = stream.record_alert_failure
    reserve_run = agent_runs.reserve_run  # agent runs (Claude Code): a USD hold, and a settle per model
    load_run = agent_runs.load_run
    settle_run = agent_runs.settle_run

