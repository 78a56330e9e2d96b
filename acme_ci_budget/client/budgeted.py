"""The budgeted model client: every Claude call goes route -> reserve -> call -> settle -> alert.

Owns the order of one model call end to end (DESIGN.md, "the money path") and the SDK client it
is made with: ``plan`` routes the task, counts its input and reserves its worst case on the ledger
(a blocked call never reaches the API); this module calls ``messages.create`` with the (possibly
clamped) ``max_tokens`` under one deadline that ends before the hold expires
(``Config.call_deadline_seconds``), retrying 429/529/5xx/timeouts itself and honouring
``retry-after`` within that deadline (``retry_policy``), with the SDK's own retries off; ``settle``
charges the API's real usage (input, output, cache write, cache read), retrying Redis blips and
keeping what the ledger cannot record in the local journal; ``hooks`` runs the alerts hook the
caller handed in; ``outcome`` builds the ``CompletionResult``, the same shape on success and on a
block. Any failure of the call itself (API error after the retries, timeout, Ctrl-C, task
cancellation) releases the hold before the error propagates, so nothing stays held and the
failure is an event; ``errors`` turns it into a typed ``ModelCallError``. A 200 whose body cannot
be read was billed with unknown usage: it is charged at its hold and raised as
``ModelResponseError``. A call is two Redis round trips, reserve and settle.

It must not decide limits (the ledger does), pick models (the router does), word a block, or send
alerts itself; it never imports ``acme_ci_budget.alerts`` (the hook is handed in). ``anthropic``
is imported lazily, only when a call is about to be made.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from acme_ci_budget.client import hooks
from acme_ci_budget.client.errors import (
    ANTHROPIC_SPEND_LIMIT,
    api_error,
    describe,
    message_or_raise,
    spend_limit_reached,
    translate,
    unreadable_reply,
)
from acme_ci_budget.client.hooks import build_hook, check_alerts, check_session_soft_limit
from acme_ci_budget.client.outcome import answered_result, blocked_result
from acme_ci_budget.client.outcome import block_message as word_block
from acme_ci_budget.client.plan import Draft, Plan, Refused, Request, cache_write_tokens, draft, hold, last_user_text
from acme_ci_budget.client.result import CompletionResult
from acme_ci_budget.client.retry_policy import Attempts
from acme_ci_budget.client.router import TaskRouter
from acme_ci_budget.client.sessions import DEFAULT_KEEP_TURNS, Session
from acme_ci_budget.client.settle import charge_hold, replay_journal, settle_reply
from acme_ci_budget.config import Config, load_config
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Reservation

__all__ = [
    "AcmeBudgetedClient",
    "AsyncBudgetedClient",
    "BudgetedClient",
    # where they were before the split (tests and callers import them from here)
    "api_error",
    "cache_write_tokens",
    "last_user_text",
]

log = logging.getLogger("acme_ci_budget.client")

# Signals that must propagate unchanged once the hold is released.
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


class BudgetedClient:
    """Claude calls under the budget: ``complete()`` for one call, ``session()`` for a conversation.

    ``config=None`` loads the default config. ``anthropic_client`` (anything with
    ``messages.create``) wins; otherwise ``anthropic.Anthropic()`` is built on first use, which
    reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` (gateways, proxies). ``max_retries``
    is the client's retry count for 429/529/5xx/timeouts, ``timeout`` each attempt's timeout, and
    ``deadline`` the whole call's (None: the given SDK client's own, else ``client:`` in the
    config). However they are set, no call runs past ``Config.call_deadline_seconds``, so its hold
    outlives it; a given SDK client's own retries are turned off (``with_options``) because they
    would wait past it. ``alerts``: the alerts hook (an object with ``check(workflow_id)``, see
    ``client.hooks``), or a factory of it called on first use with ``(config, enforcer=...)``, such
    as ``acme_ci_budget.alerts.AlertManager`` itself; None or False: no alerts. ``telemetry``: likewise,
    the metrics hook (``record_call``, e.g. ``acme_ci_budget.telemetry.otel_hook``), given every call.
    ``repo`` (owner/name, default ``$GITHUB_REPOSITORY``): the repository the ledger it builds attributes calls to.
    """

    def __init__(
        self,
        config: Config | None = None,
        redis_url: str | None = None,
        anthropic_client: Any = None,
        *,
        enforcer: BudgetEnforcer | None = None,
        router: TaskRouter | None = None,
        alerts: Any = None,
        clock: Clock | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        ephemeral_ledger: bool = False,
        deadline: float | None = None,
        repo: str | None = None,
        telemetry: Any = None,
    ) -> None:
        self.config = config or (enforcer.config if enforcer is not None else load_config())
        self.enforcer = enforcer or BudgetEnforcer(
            self.config, redis_url=redis_url, clock=clock, ephemeral_ledger=ephemeral_ledger, repo=repo
        )
        self.router = router or TaskRouter(self.config)
        self.max_retries, self.timeout, self.deadline = max_retries, timeout, deadline
        self._anthropic = anthropic_client
        self._configured = anthropic_client is None
        # what a given SDK client was built with, read before its own retries are turned off
        self._given_retries: int | None = None
        self._given_timeout: float | None = None
        self._sync_twin: Any = None
        self._alerts, self._alerts_resolved = alerts, False
        self._telemetry, self._telemetry_resolved = telemetry, False

    # --- collaborators, built lazily --------------------------------------------------------

    @property
    def anthropic(self) -> Any:
        """The SDK client (built on first use, so blocked calls and imports never load ``anthropic``)."""
        if self._anthropic is None:
            self._anthropic = self._build_client()
        elif not self._configured:
            self._configured = True
            retries = getattr(self._anthropic, "max_retries", None)
            self._given_retries = retries if isinstance(retries, int) else None
            timeout = getattr(self._anthropic, "timeout", None)
            timeout = getattr(timeout, "read", timeout)  # an httpx Timeout: its read timeout
            self._given_timeout = float(timeout) if isinstance(timeout, (int, float)) else None
            if hasattr(self._anthropic, "with_options"):
                self._anthropic = self._anthropic.with_options(max_retries=0)
        return self._anthropic

    def _build_client(self) -> Any:
        import anthropic

        return anthropic.Anthropic(max_retries=0, timeout=self._attempt_timeout())

    def _counting_sdk(self) -> Any:
        return self.anthropic

    @property
    def alerts(self) -> Any:
        """The alerts hook (a factory handed in is built on first use), or None."""
        if not self._alerts_resolved:
            self._alerts_resolved = True
            self._alerts = build_hook(self._alerts, self.config, self.enforcer)
        return self._alerts or None

    @property
    def telemetry(self) -> Any:
        """The telemetry hook (a factory handed in is built on first use), or None."""
        if not self._telemetry_resolved:
            self._telemetry_resolved = True
            self._telemetry = build_hook(self._telemetry, self.config, self.enforcer, method="record_call")
        return self._telemetry or None

    def _attempt_timeout(self) -> float:
        for value in (self.timeout, self._given_timeout):
            if value is not None:
                return value
        return self.config.client.request_timeout_seconds

    def _max_retries(self) -> int:
        for value in (self.max_retries, self._given_retries):
            if value is not None:
                return value
        return self.config.client.max_retries

    def _attempts(self, plan: Plan) -> Attempts:
        """The call's time budget, from now (the hold was just taken): never past what its hold covers."""
        self.anthropic  # noqa: B018 - resolves the SDK client's own retries and timeout first
        deadline = self.config.call_deadline_seconds
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        timeout = plan.timeout if plan.timeout is not None else self._attempt_timeout()
        return Attempts(deadline, self._max_retries(), timeout)

    @staticmethod
    def _call_options(sdk: Any, attempts: Attempts) -> dict[str, Any]:
        options = attempts.options()
        if not hasattr(sdk, "with_options"):  # a stand-in, not the SDK: it gets the timeout only
            options.pop("extra_headers", None)
        return options

    def session(
        self,
        workflow_id: str,
        user_id: str | None = None,
        *,
        system: str = "",
        session_id: str | None = None,
        keep_turns: int | None = None,
    ) -> Session:
        """A multi-turn conversation of ``workflow_id`` (see ``acme_ci_budget.client.sessions``)."""
        keep = DEFAULT_KEEP_TURNS if keep_turns is None else keep_turns
        return Session(self, workflow_id, user_id, system=system, session_id=session_id, keep_turns=keep)

    def block_message(self, res: Reservation) -> str:
        """One sentence saying which limit refused the call and by how much."""
        return word_block(self.config, res)

    # --- one call ---------------------------------------------------------------------------

    def complete(
        self,
        workflow_id: str,
        messages: Sequence[Mapping[str, Any]],
        system: Any = "",
        context: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        loop_step: int | None = None,
        max_tokens: int | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
        max_tokens_cap: int | None = None,
    ) -> CompletionResult:
        """Route, reserve, call, settle, alert; a blocked call returns ``budget_blocked=True`` unsent.

        ``max_tokens`` replaces the route's allowance; ``max_tokens_cap`` only lowers it (sessions
        use it to spend their last tokens on a shorter reply instead of being blocked).
        """
        timeout = self.timeout if timeout is None else timeout
        args = (workflow_id, messages, system, context, session_id, user_id, loop_step, max_tokens, task_id, timeout)
        begun = self._begin(Request(*args, max_tokens_cap))
        if isinstance(begun, CompletionResult):
            return begun
        plan, started, attempts = begun
        try:
            message = self._create(plan, attempts)
        except BaseException as exc:
            error = self._fail(plan, exc, started, attempts)
            if spend_limit_reached(exc):  # the hold is released; the call is refused, not failed
                return self._spend_limit_block(plan)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    def _begin(self, request: Request) -> tuple[Plan, float, Attempts] | CompletionResult:
        """The call up to sending: its plan (or its block), its start and its time budget.

        ``_prepare`` may raise ``BaseException`` subclasses from the reserve (the simulator's
        ``Deferred``): they pass straight up, before anything is held or started.
        """
        plan = self._prepare(request)
        if isinstance(plan, CompletionResult):
            replay_journal(self.enforcer, fail_open=False)
            return plan
        started = time.monotonic()
        attempts = self._attempts(plan)  # the deadline runs from the hold, so before the replay
        replay_journal(self.enforcer, fail_open=plan.reservation.fail_open)
        return plan, started, attempts

    def _draft(self, request: Request) -> Draft:  # plan.draft: a step of its own, the simulator takes it once a call
        return draft(self.config, self.router, self._counting_sdk, request)

    def _prepare(self, request: Request) -> Plan | CompletionResult:
        prepared = hold(self.config, self.router, self.enforcer, request, self._draft(request))
        if isinstance(prepared, Refused):
            hooks.record_refusal(self.telemetry, prepared.reservation, prepared.decision.model)
            check_alerts(self.alerts, request.workflow_id)
            return blocked_result(self.config, prepared.workflow, prepared.decision, prepared.reservation)
        return prepared

    def _create(self, plan: Plan, attempts: Attempts) -> Any:
        sdk = self.anthropic
        while True:
            try:
                return message_or_raise(sdk.messages.create(**plan.params, **self._call_options(sdk, attempts)))
            except Exception as exc:
                wait = attempts.wait_after(exc)
                if wait is None:
                    raise
                log.info("%s: %s; retry %d in %.2f s", plan.workflow.id, describe(exc), attempts.retries, wait)
                time.sleep(wait)

    def _finish(self, plan: Plan, message: Any, started: float) -> CompletionResult:
        latency_ms = int((time.monotonic() - started) * 1000)
        settled = settle_reply(self.config, self.enforcer, plan, message, latency_ms)
        res = plan.reservation
        hooks.record_answer(self.telemetry, plan, settled, latency_ms)
        check_alerts(self.alerts, res.workflow_id, res, settled.settlement)
        if res.session_id:
            check_session_soft_limit(self.alerts, plan.workflow, res, sum(settled.usage[:4]))
        return answered_result(self.config, plan, message, settled, latency_ms)

    def _spend_limit_block(self, plan: Plan) -> CompletionResult:
        """The organisation's Anthropic spend limit refused the call: a block with its own reason."""
        refused = replace(plan.reservation, allowed=False, reason=ANTHROPIC_SPEND_LIMIT, held_nano=0)
        hooks.record_refusal(self.telemetry, refused, plan.decision.model)
        check_alerts(self.alerts, refused.workflow_id)
        return blocked_result(self.config, plan.workflow, plan.decision, refused)

    def _fail(self, plan: Plan, exc: BaseException, started: float, attempts: Attempts | None = None) -> BaseException:
        """Release the hold (or charge it, for an unreadable 200), then say what went wrong as a typed error."""
        latency_ms = int((time.monotonic() - started) * 1000)
        res = plan.reservation
        if unreadable_reply(exc):
            charged = charge_hold(self.config, self.enforcer, plan, exc, latency_ms)
            if charged is not None:  # billed at its hold: the cost counter keeps up with the ledger
                hooks.record_failure(self.telemetry, plan, exc, latency_ms, charged.charged_nano)
                return charged
        hooks.record_failure(self.telemetry, plan, exc, latency_ms)
        try:
            self.enforcer.release(res, error=describe(exc), latency_ms=latency_ms)
        except Exception as release_exc:  # the hold expires by TTL; the original error matters more
            name, ttl = type(release_exc).__name__, self.config.ledger.hold_ttl_seconds
            log.warning("%s: could not release hold %s (%s); it expires in %ss", res.workflow_id, res.id, name, ttl)
        if isinstance(exc, _PASS_THROUGH):
            return exc
        return translate(self.config, plan, exc, attempts)


class AsyncBudgetedClient(BudgetedClient):
    """``await complete(...)`` with ``anthropic.AsyncAnthropic``; the same reserve/settle/release code path.

    The ledger round trips stay synchronous on the event loop thread: they are short, and it keeps
    reserve and release strictly paired when the awaiting task is cancelled mid-call.
    """

    def _build_client(self) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(max_retries=0, timeout=self._attempt_timeout())

    def _counting_sdk(self) -> Any:
        """count_tokens runs before the hold, synchronously (as the ledger round trips do): a sync twin."""
        import anthropic

        sdk = self.anthropic
        if not isinstance(sdk, anthropic.AsyncAnthropic):
            return sdk
        if self._sync_twin is None:
            self._sync_twin = anthropic.Anthropic(
                api_key=sdk.api_key,
                auth_token=sdk.auth_token,
                base_url=sdk.base_url,
                max_retries=0,
                default_headers=getattr(sdk, "_custom_headers", None),
            )
        return self._sync_twin

    async def complete(  # type: ignore[override]
        self,
        workflow_id: str,
        messages: Sequence[Mapping[str, Any]],
        system: Any = "",
        context: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        loop_step: int | None = None,
        max_tokens: int | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
        max_tokens_cap: int | None = None,
    ) -> CompletionResult:
        timeout = self.timeout if timeout is None else timeout
        args = (workflow_id, messages, system, context, session_id, user_id, loop_step, max_tokens, task_id, timeout)
        begun = self._begin(Request(*args, max_tokens_cap))
        if isinstance(begun, CompletionResult):
            return begun
        plan, started, attempts = begun
        try:
            message = await self._create_async(plan, attempts)
        except BaseException as exc:
            error = self._fail(plan, exc, started, attempts)
            if spend_limit_reached(exc):  # the hold is released; the call is refused, not failed
                return self._spend_limit_block(plan)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    async def _create_async(self, plan: Plan, attempts: Attempts) -> Any:
        sdk = self.anthropic
        while True:
            try:
                return message_or_raise(await sdk.messages.create(**plan.params, **self._call_options(sdk, attempts)))
            except Exception as exc:
                wait = attempts.wait_after(exc)
                if wait is None:
                    raise
                log.info("%s: %s; retry %d in %.2f s", plan.workflow.id, describe(exc), attempts.retries, wait)
                await asyncio.sleep(wait)

    def session(self, *args: Any, **kwargs: Any) -> Session:
        raise NotImplementedError("sessions are synchronous: use BudgetedClient.session()")


# The lab's name.
AcmeBudgetedClient = BudgetedClient
