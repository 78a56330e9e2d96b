"""The budgeted model client: every Claude call goes route -> reserve -> call -> settle -> alert.

Owns one model call end to end (DESIGN.md, "the money path"): route the task (``router``),
estimate its input with THE estimator (``tokens``), reserve its worst case on the ledger, call
``messages.create`` with the (possibly clamped) ``max_tokens``, settle with the API's real usage
(input, output, cache write, cache read), run the alerts hook, and hand back a
``CompletionResult`` that looks the same on success and on a block. A blocked call never
reaches the API. The call runs under one deadline that ends before its hold expires
(``Config.call_deadline_seconds``): the client retries 429/529/5xx/timeouts itself, honouring
``retry-after`` within that deadline (``retry_policy``), with the SDK's own retries off. Any
failure of the call itself (API error after the retries, timeout, Ctrl-C, task cancellation)
releases the hold before the error propagates, so nothing stays held and the failure is an
event; API errors become typed ``ModelCallError`` subclasses whose messages name the model, the
retries made and, for a 404, where the config names it. A 200 whose body cannot be read was
billed by the API with unknown usage: it is charged at its hold and raised as
``ModelResponseError``. Requests with non-text content, or near the per-task limit, are held at
the API's exact input count (``input_count``). A call the ledger cannot record (Redis down) is
written to the local journal (``journal``) and replayed by the next call that reaches Redis.

It must not decide limits (the ledger does), pick models (the router does), or send alerts
itself (``acme_ci_budget.alerts.manager`` does, through a duck-typed ``check(workflow_id)`` hook, or
``check_spend`` with the settle's figures). A call is two Redis round trips, reserve and settle:
the reserve script also decides the budget-pressure downgrade the router leaves to it.
``anthropic`` is imported lazily, only when a call is about to be made or has failed.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from acme_ci_budget.catalog.pricing import UnknownModelError, cost_nano, price_for
from acme_ci_budget.client.input_count import InputCount, count_input, needs_exact_count
from acme_ci_budget.client.result import (
    CompletionResult,
    ModelAPIError,
    ModelNotFoundError,
    ModelResponseError,
    ModelTimeoutError,
)
from acme_ci_budget.client.retry_policy import Attempts, is_retryable
from acme_ci_budget.client.router import RouteDecision, TaskRouter
from acme_ci_budget.client.sessions import DEFAULT_KEEP_TURNS, Session
from acme_ci_budget.config import Config, Workflow, load_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.money import fmt_usd, nano_to_usd, pct
from acme_ci_budget.core.text import content_text, reply_text
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens
from acme_ci_budget.ledger import journal
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Clock, Reservation, Settlement

log = logging.getLogger("acme_ci_budget.client")

# Used for the model field of a block event when the workflow is unknown and nothing was routed.
UNROUTED = "-"
SETTLE_ATTEMPTS = 4  # waits 0.1 + 0.3 + 0.9 s for Redis to come back before giving up
# Signals that must propagate unchanged once the hold is released.
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


@dataclass(frozen=True)
class _Plan:
    """A reserved call, ready to send."""

    workflow: Workflow
    decision: RouteDecision
    reservation: Reservation
    params: dict[str, Any]
    timeout: float | None


# --- helpers ------------------------------------------------------------------------------------


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the latest user message: what the router's keyword rule reads."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _usage(message: Any) -> tuple[int, int, int, int, int] | None:
    """(input, output, cache write, cache read, of the cache write those at the 1-hour TTL), or None
    when the reply carries no usage (a gateway stripped it): the caller charges the hold then.

    ``cache_creation.ephemeral_1h_input_tokens`` / ``ephemeral_5m_input_tokens`` split the cache
    write by TTL; without that breakdown every cache write is a 5-minute one.
    """
    usage = getattr(message, "usage", None)
    if usage is None or getattr(usage, "input_tokens", None) is None or getattr(usage, "output_tokens", None) is None:
        return None

    def get(source: Any, name: str) -> int:
        value = getattr(source, name, None) if not isinstance(source, Mapping) else source.get(name)
        return max(int(value), 0) if value else 0

    written = get(usage, "cache_creation_input_tokens")
    split = getattr(usage, "cache_creation", None)
    one_hour = get(split, "ephemeral_1h_input_tokens") if split is not None else 0
    five_min = get(split, "ephemeral_5m_input_tokens") if split is not None else written
    written = max(written, one_hour + five_min)  # never below what the breakdown bills
    return (
        get(usage, "input_tokens"),
        get(usage, "output_tokens"),
        written,
        get(usage, "cache_read_input_tokens"),
        one_hour,
    )


def _cache_ttl(block: Any) -> str | None:
    """'5m' / '1h' for a block carrying cache_control, else None."""
    control = block.get("cache_control") if isinstance(block, Mapping) else getattr(block, "cache_control", None)
    if not control:
        return None
    ttl = control.get("ttl") if isinstance(control, Mapping) else getattr(control, "ttl", None)
    return "1h" if ttl == "1h" else "5m"


def cache_write_tokens(system: Any, messages: Sequence[Mapping[str, Any]], tools: Any = ()) -> tuple[int, int]:
    """(5-minute, 1-hour) tokens a request may write to the prompt cache, by THE estimator.

    The cached prefix of a ``cache_control`` block is everything up to and including it, in the
    API's order: tools, system, messages. As Anthropic bills mixed TTLs, with nothing cached yet
    (the worst case) the 1-hour write is the prefix up to the last 1-hour block and the 5-minute
    write the rest, up to the last block of either TTL.
    """
    marks: list[tuple[int, str]] = []
    tool_tokens = 0
    for tool in tools or ():
        tool_tokens += estimate_tokens(json.dumps(tool, sort_keys=True, default=str))
        if ttl := _cache_ttl(tool):
            marks.append((tool_tokens, ttl))
    blocks = [] if not system or isinstance(system, str) else list(system)
    for i, block in enumerate(blocks):
        if ttl := _cache_ttl(block):
            marks.append((tool_tokens + estimate_messages_tokens([], blocks[: i + 1]), ttl))
    for m, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str) or not content:
            continue
        content = list(content)
        for j, block in enumerate(content):
            if ttl := _cache_ttl(block):
                prefix = [*messages[:m], {**message, "content": content[: j + 1]}]
                marks.append((tool_tokens + estimate_messages_tokens(prefix, system), ttl))
    if not marks:
        return 0, 0
    one_hour = max((tokens for tokens, ttl in marks if ttl == "1h"), default=0)
    return max(max(tokens for tokens, _ in marks) - one_hour, 0), one_hour


def _limit(spent_nano: int, limit_nano: int) -> dict[str, Any]:
    return {
        "spent_usd": nano_to_usd(spent_nano),
        "limit_usd": nano_to_usd(limit_nano),
        "pct": round(pct(spent_nano, limit_nano), 4),
        "spent_nano": spent_nano,
        "limit_nano": limit_nano,
    }


def _is_transient_store_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


# httpx errors raised after the request was sent, while the reply was being read.
_MID_REPLY_ERRORS = frozenset({"RemoteProtocolError", "ReadError"})


class _UnreadableReply(ValueError):
    """The SDK handed back text instead of a message: a 200 whose body was not JSON."""


def _unreadable_reply(exc: BaseException) -> bool:
    """A 200 the SDK could not turn into a message (only a 2xx body is parsed: errors become APIStatusError)."""
    if isinstance(exc, (json.JSONDecodeError, _UnreadableReply)):
        return True
    try:
        import anthropic
    except ImportError:  # pragma: no cover - anthropic is a dependency
        return False
    return isinstance(exc, anthropic.APIResponseValidationError)


def _message_or_raise(message: Any) -> Any:
    if isinstance(message, (str, bytes)):
        raise _UnreadableReply(f"a {len(message)}-character reply that is not a JSON message")
    return message


def api_error(exc: BaseException) -> tuple[str | None, str]:
    """(error type, message) of an API error, from its body's ``error`` object as the API sends it.

    SDK versions differ in the attributes they copy from the body (``type``, ``api_message``);
    the body itself (``{"type": "error", "error": {"type": ..., "message": ...}}``) is the contract.
    """
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    error_type = error.get("type") if isinstance(error.get("type"), str) else getattr(exc, "type", None)
    message = error.get("message") if isinstance(error.get("message"), str) else getattr(exc, "api_message", None)
    return (error_type if isinstance(error_type, str) else None), (message if isinstance(message, str) else "")


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


# --- the client ---------------------------------------------------------------------------------


class BudgetedClient:
    """Claude calls under the budget: ``complete()`` for one call, ``session()`` for a conversation.

    ``config=None`` loads the default config. ``anthropic_client`` (anything with
    ``messages.create``) wins; otherwise ``anthropic.Anthropic()`` is built on first use, which
    reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` (gateways, proxies). ``max_retries``
    is the client's retry count for 429/529/5xx/timeouts, ``timeout`` each attempt's timeout, and
    ``deadline`` the whole call's (None: the given SDK client's own, else ``client:`` in the
    config). However they are set, no call runs past ``Config.call_deadline_seconds``, so its hold
    outlives it; a given SDK client's own retries are turned off (``with_options``) because they
    would wait past it. ``alerts``: an object with ``check(workflow_id)``; None builds
    ``acme_ci_budget.alerts.manager.AlertManager`` when that module exists; False turns alerts off.
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
    ) -> None:
        self.config = config or (enforcer.config if enforcer is not None else load_config())
        self.enforcer = enforcer or BudgetEnforcer(
            self.config, redis_url=redis_url, clock=clock, ephemeral_ledger=ephemeral_ledger
        )
        self.router = router or TaskRouter(self.config)
        self.max_retries = max_retries
        self.timeout = timeout
        self.deadline = deadline
        self._anthropic = anthropic_client
        self._configured = anthropic_client is None
        # what a given SDK client was built with, read before its own retries are turned off
        self._given_retries: int | None = None
        self._given_timeout: float | None = None
        self._sync_twin: Any = None
        self._alerts = alerts
        self._alerts_resolved = alerts is not None

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

    def _attempts(self, plan: _Plan) -> Attempts:
        """The call's time budget, from now (the hold was just taken): never past what its hold covers."""
        self.anthropic  # noqa: B018 - resolves the SDK client's own retries and timeout first
        deadline = self.config.call_deadline_seconds
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        timeout = plan.timeout if plan.timeout is not None else self._attempt_timeout()
        return Attempts(deadline, self._max_retries(), timeout)

    def _create(self, plan: _Plan, attempts: Attempts) -> Any:
        sdk = self.anthropic
        while True:
            try:
                return _message_or_raise(sdk.messages.create(**plan.params, **self._call_options(sdk, attempts)))
            except Exception as exc:
                wait = attempts.wait_after(exc)
                if wait is None:
                    raise
                log.info("%s: %s; retry %d in %.2f s", plan.workflow.id, self._describe(exc), attempts.retries, wait)
                time.sleep(wait)

    @staticmethod
    def _call_options(sdk: Any, attempts: Attempts) -> dict[str, Any]:
        options = attempts.options()
        if not hasattr(sdk, "with_options"):  # a stand-in, not the SDK: it gets the timeout only
            options.pop("extra_headers", None)
        return options

    @property
    def alerts(self) -> Any:
        if not self._alerts_resolved:
            self._alerts_resolved = True
            self._alerts = self._build_alerts()
        return self._alerts or None

    def _build_alerts(self) -> Any:
        name = "acme_ci_budget.alerts"
        try:
            if importlib.util.find_spec(name) is None:
                return None
            manager = importlib.import_module(name).AlertManager
            try:
                return manager(self.config, enforcer=self.enforcer)
            except TypeError:  # an AlertManager without enforcer=: share the ledger's Redis and clock instead
                return manager(self.config, redis=self.enforcer.alert_store(), clock=self.enforcer.clock)
        except Exception as exc:  # alerts are best effort: a broken alert setup must not stop model calls
            log.warning("alerts disabled: could not build AlertManager (%s)", exc.__class__.__name__)
            return None

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
        return Session(
            self,
            workflow_id,
            user_id,
            system=system,
            session_id=session_id,
            keep_turns=DEFAULT_KEEP_TURNS if keep_turns is None else keep_turns,
        )

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
        plan = self._prepare(
            workflow_id,
            messages,
            system,
            context,
            session_id,
            user_id,
            loop_step,
            max_tokens,
            task_id,
            timeout,
            max_tokens_cap,
        )
        if isinstance(plan, CompletionResult):
            self._replay_journal(plan)
            return plan
        started = time.monotonic()
        attempts = self._attempts(plan)  # the deadline runs from the hold, so before the replay
        self._replay_journal(plan)
        try:
            message = self._create(plan, attempts)
        except BaseException as exc:
            error = self._fail(plan, exc, started, attempts)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    def _prepare(
        self,
        workflow_id: str,
        messages: Sequence[Mapping[str, Any]],
        system: Any,
        context: Mapping[str, Any] | None,
        session_id: str | None,
        user_id: str | None,
        loop_step: int | None,
        max_tokens: int | None,
        task_id: str | None,
        timeout: float | None,
        max_tokens_cap: int | None = None,
    ) -> _Plan | CompletionResult:
        messages = [dict(m) for m in messages]
        if not messages:
            raise UsageError(f"{workflow_id}: complete() needs at least one message")
        if max_tokens is not None and max_tokens < 1:
            raise UsageError(f"{workflow_id}: max_tokens must be >= 1, got {max_tokens}")
        input_tokens = estimate_messages_tokens(messages, system)
        wf = self.config.workflows.get(workflow_id)
        counted: InputCount | None = None
        if wf is None:
            decision = RouteDecision(UNROUTED, max_tokens or 1, f"unknown workflow {workflow_id!r}", "unknown")
        else:
            decision, counted = self._route_and_count(wf, messages, system, context, input_tokens, max_tokens)
            input_tokens = counted.tokens if counted is not None else input_tokens
        wanted = max_tokens or decision.max_tokens
        capped = max_tokens_cap is not None and 1 <= max_tokens_cap < wanted
        # held at the cache-write rates: the system prompt as sent (marked when the workflow caches it)
        cw_5m, cw_1h = cache_write_tokens(self._system_param(wf, system) if wf and system else system, messages)
        reservation = self.enforcer.reserve(
            workflow_id,
            decision.model,
            input_tokens,
            max_tokens_cap if capped else wanted,
            session_id=session_id,
            task_id=task_id,
            loop_step=loop_step,
            user_id=user_id,
            cache_write_tokens=cw_5m,
            cache_write_1h_tokens=cw_1h,
            pressure_model=decision.pressure_model,
        )
        decision = self._pressure(decision, reservation)
        if counted is not None and counted.warning:
            reservation = replace(reservation, warnings=(*reservation.warnings, counted.warning))
        if not reservation.allowed:
            self._check_alerts(workflow_id)
            return self._blocked(wf, decision, reservation)
        if capped:
            reservation = replace(
                reservation,
                warnings=(f"max_tokens lowered from {wanted} to {max_tokens_cap} to fit", *reservation.warnings),
            )
        params: dict[str, Any] = {
            "model": decision.model,
            "max_tokens": reservation.max_output_tokens,
            "messages": messages,
        }
        if system:
            params["system"] = self._system_param(wf, system)
        return _Plan(wf, decision, reservation, params, timeout if timeout is not None else self.timeout)

    def _pressure(self, decision: RouteDecision, res: Reservation) -> RouteDecision:
        """The route as the reserve decided it: downgraded when it held the cheaper model for budget pressure."""
        if not res.pressure:
            return decision
        wf = self.config.workflows[res.workflow_id]
        spent = int(res.headroom.get("monthly_spent_nano", 0))  # as the script read it, before this hold
        share = spent / wf.monthly_nano if wf.monthly_nano else 0.0
        return self.router.under_pressure(res.workflow_id, decision, (res.pressure == "org_reserve", share))

    def _route_and_count(
        self,
        wf: Workflow,
        messages: Sequence[Mapping[str, Any]],
        system: Any,
        context: Mapping[str, Any] | None,
        estimate: int,
        max_tokens: int | None,
    ) -> tuple[RouteDecision, InputCount | None]:
        """Route on the estimate; when the estimate cannot be trusted, count exactly and route on that.

        Budget pressure is left to the reserve (one round trip, on the live counters), so no
        pressure is passed here: the decision names the cheaper model the reserve may pick, and an
        exact count is made for that model too (holding the larger), as it may be the one that answers.
        """
        text = last_user_text(messages)
        decision = self.router.route(wf.id, text, context, input_tokens=estimate)
        why = needs_exact_count(messages, system, estimate, max_tokens or decision.max_tokens, wf.per_task_tokens.hard)
        if not why:
            return decision, None
        sent_system = self._system_param(wf, system) if system else system
        counted = count_input(self._counting_sdk(), decision.model, messages, sent_system, estimate, why)
        if counted.tokens != estimate:
            rerouted = self.router.route(wf.id, text, context, input_tokens=counted.tokens)
            if rerouted.model != decision.model and counted.counted:
                # tokenizers differ between model generations: count again for the model that will answer
                counted = count_input(self._counting_sdk(), rerouted.model, messages, sent_system, estimate, why)
            decision = rerouted
        cheaper = decision.pressure_model
        if cheaper is not None and cheaper != decision.model:
            # The reserve may answer with the cheaper model (budget pressure, on the live counters), after
            # this count: its tokenizer may count the request higher, so the hold takes the larger count.
            other = count_input(self._counting_sdk(), cheaper, messages, sent_system, estimate, why)
            if other.tokens > counted.tokens:
                counted = other
        return decision, counted

    def _counting_sdk(self) -> Any:
        return self.anthropic

    @staticmethod
    def _system_param(wf: Workflow, system: Any) -> Any:
        """The system prompt, marked for prompt caching when the workflow enables it."""
        if not wf.cache_system_prompt:
            return system
        marker = {"type": "ephemeral"}
        if isinstance(system, str):
            return [{"type": "text", "text": system, "cache_control": marker}]
        blocks = [dict(block) for block in system]
        if blocks and not any("cache_control" in block for block in blocks):
            blocks[-1]["cache_control"] = marker
        return blocks

    def _finish(self, plan: _Plan, message: Any, started: float) -> CompletionResult:
        latency_ms = int((time.monotonic() - started) * 1000)
        res, decision = plan.reservation, plan.decision
        usage = _usage(message)
        answered_by = getattr(message, "model", None) or decision.model
        warnings = list(res.warnings)
        priced = self._priced_model(answered_by, decision.model, warnings)
        settlement = self._settle_with_retries(res, usage, latency_ms, decision.reason, priced)
        if usage is None:
            warnings.append(
                f"the reply carried no usage: charged its hold's worst case {fmt_usd(settlement.cost_nano, 4)}"
            )
            cw = res.cache_write_tokens + res.cache_write_1h_tokens
            usage = (res.input_tokens - cw, res.max_output_tokens, cw, 0, res.cache_write_1h_tokens)
        counts = usage[:4]
        stop_reason = getattr(message, "stop_reason", None)
        if stop_reason == "max_tokens":
            warnings.append(f"the reply was cut at max_tokens={res.max_output_tokens}")
        self._check_alerts(res.workflow_id, res, settlement)
        if res.session_id:
            self._check_session_soft_limit(plan.workflow, res, sum(counts))
        return CompletionResult(
            content=reply_text(message),
            model=answered_by,
            input_tokens=counts[0],
            output_tokens=counts[1],
            cache_creation_input_tokens=counts[2],
            cache_read_input_tokens=counts[3],
            cost_usd=settlement.cost_usd,
            latency_ms=latency_ms,
            stop_reason=stop_reason,
            budget_blocked=False,
            budget_reason="",
            route_reason=decision.reason,
            warnings=tuple(warnings),
            budget=self._budget(plan.workflow, res, settlement, sum(counts)),
            reservation_id=res.id,
            cost_nano=settlement.cost_nano,
            workflow_id=res.workflow_id,
            session_id=res.session_id,
            loop_step=res.loop_step,
            cache_creation_1h_input_tokens=usage[4],
            usage_missing=settlement.usage_missing,
        )

    def _priced_model(self, answered_by: str, requested: str, warnings: list[str]) -> str:
        """Price as the model that answered when it has a price (gateways may swap); else as requested."""
        if answered_by == requested:
            return requested
        try:
            price_for(answered_by, self.config.pricing)
        except UnknownModelError:
            warnings.append(f"the API answered as {answered_by!r}, which has no price; priced as {requested!r}")
            return requested
        return answered_by

    def _fail(self, plan: _Plan, exc: BaseException, started: float, attempts: Attempts | None = None) -> BaseException:
        """Release the hold (or charge it, for an unreadable 200), then say what went wrong as a typed error."""
        latency_ms = int((time.monotonic() - started) * 1000)
        res = plan.reservation
        if _unreadable_reply(exc):
            charged = self._charge_hold(plan, exc, latency_ms)
            if charged is not None:
                return charged
        try:
            self.enforcer.release(res, error=self._describe(exc), latency_ms=latency_ms)
        except Exception as release_exc:  # the hold expires by TTL; the original error matters more
            log.warning(
                "%s: could not release hold %s (%s); it expires in %ss",
                res.workflow_id,
                res.id,
                type(release_exc).__name__,
                self.config.ledger.hold_ttl_seconds,
            )
        if isinstance(exc, _PASS_THROUGH):
            return exc
        return self._translate(plan, exc, attempts)

    def _charge_hold(self, plan: _Plan, exc: BaseException, latency_ms: int) -> ModelResponseError | None:
        """A 200 whose body could not be read: the API billed it, for usage we cannot see. Charge the hold.

        The hold is the call's worst case (input, cache writes and max_tokens), the only figure known to cover the bill;
        releasing it instead would record a billed call as free. None when even that settle failed.
        """
        res, decision = plan.reservation, plan.decision
        try:  # usage None: charged exactly its hold and flagged usage_missing, as a reply without usage is
            settlement = self._settle_with_retries(res, None, latency_ms, decision.reason, decision.model)
        except Exception as settle_exc:  # then release below, so at least nothing stays held
            log.error("%s: could not charge unreadable reply (%s)", res.workflow_id, type(settle_exc).__name__)
            return None
        detail = f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__
        return ModelResponseError(
            f"{plan.workflow.id}: the Messages API answered 200 but its reply could not be read ({detail}); the "
            f"usage is unknown, so the call was charged at its hold, {fmt_usd(settlement.cost_nano, 6)}",
            model=decision.model,
            workflow_id=plan.workflow.id,
            status_code=200,
            reservation_id=res.id,
            charged_nano=settlement.cost_nano,
        )

    @staticmethod
    def _describe(exc: BaseException) -> str:
        """The failure as recorded in the event: class, status, API error type; never headers or keys."""
        parts = [type(exc).__name__]
        code = _status_code(exc)
        if code is not None:
            parts.append(str(code))
        error_type, api_message = api_error(exc)
        if error_type:
            parts.append(error_type)
        if api_message:
            parts.append(api_message[:200])
        return ": ".join(parts)

    def _translate(self, plan: _Plan, exc: BaseException, attempts: Attempts | None = None) -> BaseException:
        try:
            import anthropic
        except ImportError:  # pragma: no cover - anthropic is a dependency
            return exc
        model, wid = plan.decision.model, plan.workflow.id
        common = {"model": model, "workflow_id": wid, "reservation_id": plan.reservation.id}
        code = _status_code(exc)
        error_type, api_message = api_error(exc)
        retries = attempts.retries if attempts is not None else 0
        stopped = f"; {attempts.stopped}" if attempts is not None and attempts.stopped else ""
        if isinstance(exc, anthropic.NotFoundError):
            uses = self.config.model_uses(model)
            where = (
                f"the config names it at {', '.join(uses)} in {self.config.path}; change it there"
                if uses
                else f"no field of {self.config.path} names it"
            )
            return ModelNotFoundError(
                f"{wid}: model {model!r} was not found by the Messages API (404 {api_message or 'not_found_error'}); "
                f"it may be retired or misspelled: {where} (see `acme-ci-budget prices`)",
                status_code=code,
                error_type=error_type,
                **common,
            )
        if isinstance(exc, anthropic.APITimeoutError):
            deadline = f" within the call's deadline of {attempts.deadline_seconds:g} s" if attempts else ""
            return ModelTimeoutError(
                f"{wid}: {model} did not answer in time ({retries} retries{deadline}){stopped}; the hold was released",
                **common,
            )
        if isinstance(exc, anthropic.APIStatusError):
            retried = f" after {retries} retries" if retries or is_retryable(exc) else ""
            return ModelAPIError(
                f"{wid}: the Messages API answered {code} {error_type or ''}{retried} (model {model}): "
                f"{api_message or 'no message'}{stopped}".replace("  ", " "),
                status_code=code,
                error_type=error_type,
                **common,
            )
        if isinstance(exc, anthropic.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else type(exc).__name__
            if cause in _MID_REPLY_ERRORS:
                return ModelAPIError(
                    f"{wid}: the connection to the Messages API dropped before the reply was complete "
                    f"({retries} retries{stopped}): {cause}; the hold was released (whether the API billed the "
                    "call is unknown)",
                    **common,
                )
            return ModelAPIError(
                f"{wid}: could not reach the Messages API ({retries} retries{stopped}): {cause}", **common
            )
        if isinstance(exc, TypeError) and "authentication" in str(exc).lower():
            return ModelAPIError(
                f"{wid}: no Anthropic credentials: set ANTHROPIC_API_KEY (or pass anthropic_client=)", **common
            )
        return exc

    # --- blocks, budget status, alerts ----------------------------------------------------------

    def _blocked(self, wf: Workflow | None, decision: RouteDecision, res: Reservation) -> CompletionResult:
        return CompletionResult(
            content="",
            model=decision.model if wf is not None else "",
            input_tokens=0,
            output_tokens=0,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=0,
            cost_usd=0.0,
            latency_ms=0,
            stop_reason=None,
            budget_blocked=True,
            budget_reason=res.reason,
            route_reason=decision.reason,
            warnings=tuple(res.warnings),
            budget=self._budget(wf, res, None, 0),
            reservation_id=res.id,
            message=self.block_message(res),
            workflow_id=res.workflow_id,
            session_id=res.session_id,
            loop_step=res.loop_step,
        )

    def block_message(self, res: Reservation) -> str:
        """One sentence saying which limit refused the call and by how much."""
        wid = res.workflow_id
        wf = self.config.workflows.get(wid)
        if wf is None:
            known = ", ".join(sorted(self.config.workflows))
            return f"Blocked: workflow {wid!r} is not in the budget config {self.config.path} (known: {known})."
        h = res.headroom
        try:
            cached = res.cache_write_tokens + res.cache_write_1h_tokens
            need = cost_nano(
                res.model,
                res.input_tokens - cached,
                res.max_output_tokens,
                res.cache_write_tokens,
                overrides=self.config.pricing,
                cache_write_1h_tokens=res.cache_write_1h_tokens,
            )
        except UnknownModelError:
            need = 0
        need_text = f"this call needs up to {fmt_usd(need, 4)}"
        reason = res.reason
        if reason == "loop_step_limit_exceeded":
            return f"Blocked: {wid} allows {wf.max_loop_steps} loop steps per session/task and this would be one more."
        if reason == "task_token_limit_exceeded":
            return (
                f"Blocked: the input (~{res.input_tokens:,} tokens) reaches {wid}'s per-task hard limit of "
                f"{wf.per_task_tokens.hard:,} tokens; shorten it."
            )
        if reason == "session_token_limit_exceeded":
            return (
                f"Blocked: session {res.session_id} has used {h.get('session_tokens', 0):,} tokens and this turn "
                f"needs up to {res.input_tokens + res.max_output_tokens:,} more, past the hard limit of "
                f"{wf.per_session_tokens.hard:,}; start a new session."
            )
        if reason == "total_org_budget_exceeded":
            return (
                f"Blocked: the org's monthly budget {fmt_usd(self.config.org_monthly_nano)} is spent "
                f"({fmt_usd(h.get('org_spent_nano', 0), 4)} so far; {need_text})."
            )
        if reason == "monthly_limit_exceeded":
            return (
                f"Blocked: {wf.label} reached its monthly budget {fmt_usd(wf.monthly_nano)} "
                f"({fmt_usd(h.get('monthly_spent_nano', 0), 4)} spent; {need_text})."
            )
        if reason == "daily_limit_exceeded":
            return (
                f"Blocked: {wf.label} reached today's budget {fmt_usd(wf.daily_nano)} "
                f"({fmt_usd(h.get('daily_spent_nano', 0), 4)} spent; {need_text}); it resets at midnight "
                f"{self.config.timezone}."
            )
        return f"Blocked by the budget: {reason}."

    def _budget(
        self, wf: Workflow | None, res: Reservation, settlement: Settlement | None, tokens_used: int
    ) -> dict[str, Any]:
        """The limits this call touched, as they stand after it (or at the block)."""
        if wf is None:
            return {}
        h = res.headroom
        if settlement is not None and settlement.recorded and not res.fail_open:
            day, month, org = settlement.day_spent_nano, settlement.month_spent_nano, settlement.org_spent_nano
        else:
            day, month, org = h.get("daily_spent_nano", 0), h.get("monthly_spent_nano", 0), h.get("org_spent_nano", 0)
        budget: dict[str, Any] = {
            "workflow": wf.id,
            "day": res.day,
            "month": res.month,
            "daily": _limit(day, wf.daily_nano),
            "monthly": _limit(month, wf.monthly_nano),
            "org": _limit(org, self.config.org_monthly_nano),
            "task": {
                "tokens": res.input_tokens + res.max_output_tokens,
                "soft": wf.per_task_tokens.soft,
                "hard": wf.per_task_tokens.hard,
            },
        }
        if res.session_id:
            budget["session"] = {
                "id": res.session_id,
                "tokens": int(h.get("session_tokens", 0)) + tokens_used,
                "soft": wf.per_session_tokens.soft,
                "hard": wf.per_session_tokens.hard,
                "loop_step": res.loop_step,
                "max_loop_steps": wf.max_loop_steps,
            }
        if res.fail_open:
            budget["fail_open"] = True
        return budget

    def _settle_with_retries(
        self,
        res: Reservation,
        usage: tuple[int, int, int, int, int] | None,
        latency_ms: int,
        route_reason: str,
        model: str,
    ) -> Settlement:
        """Settle; the money is spent, so a Redis blip is retried (settle is idempotent by reservation id).

        ``usage`` None (the reply had none, or could not be read): the call is charged its hold's
        worst case, flagged. When Redis stays unreachable (a fail-open call, or the retries ran out)
        the call goes to the local journal, replayed later under the same reservation id, and an
        unrecorded settlement is returned: the caller still gets the answer it paid for.
        """
        counts, one_hour = (usage[:4], usage[4]) if usage is not None else ((), 0)
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                settlement = self.enforcer.settle(
                    res,
                    *counts,
                    latency_ms=latency_ms,
                    route_reason=route_reason,
                    model=model,
                    cache_creation_1h_input_tokens=one_hour,
                    usage_missing=usage is None,
                )
            except Exception as exc:
                if not _is_transient_store_error(exc):
                    log.error("%s: the call succeeded but its settle failed (%s)", res.workflow_id, type(exc).__name__)
                    raise
                if attempt == SETTLE_ATTEMPTS - 1:
                    return self._journal(res, usage, latency_ms, route_reason, model, exc)
                time.sleep(0.1 * 3**attempt)
                continue
            if not settlement.recorded:
                return self._journal(res, usage, latency_ms, route_reason, model, None)
            return settlement
        raise AssertionError("unreachable")  # pragma: no cover

    def _journal(
        self,
        res: Reservation,
        usage: tuple[int, int, int, int, int] | None,
        latency_ms: int,
        route_reason: str,
        model: str,
        error: Exception | None,
    ) -> Settlement:
        """Keep a call the ledger could not record in the local journal; raise ``error`` if even that fails."""
        if usage is None:  # no usage: the hold's worst case is both the counts and the charge
            cw = res.cache_write_tokens + res.cache_write_1h_tokens
            counts = (res.input_tokens - cw, res.max_output_tokens, cw, 0, res.cache_write_1h_tokens)
            model, cost = res.model, res.held_nano
        else:
            counts, cost = usage, self.enforcer.usage_cost(model, *usage)
        ledger = self.enforcer.ledger_id
        entry = journal.entry_for(
            res, self.config.namespace, ledger, model, counts, cost, latency_ms, route_reason, usage is None
        )
        try:
            path = journal.append(entry)
        except OSError as exc:
            log.critical(
                "%s: %s nano-USD spent and NOT RECORDED: the ledger is unreachable and the journal cannot be "
                "written (%s)",
                res.workflow_id,
                cost,
                type(exc).__name__,
            )
            if error is not None:
                raise error from None
            return Settlement(res.id, cost, 0, 0, 0, hold_found=False, recorded=False)
        journal.announce(entry, path)
        return Settlement(res.id, cost, 0, 0, 0, hold_found=False, recorded=False)

    def _replay_journal(self, plan: _Plan | CompletionResult) -> None:
        """The reserve just reached Redis: record what the journal kept while it could not."""
        if isinstance(plan, _Plan) and plan.reservation.fail_open:
            return
        if not journal.has_pending():
            return
        try:
            journal.replay_pending(self.enforcer)
        except Exception as exc:  # the journal stays; the next call tries again
            log.warning("journal replay failed (%s); it is kept for the next call", type(exc).__name__)

    def _check_session_soft_limit(self, wf: Workflow, res: Reservation, used: int) -> None:
        """INFO alert once per session when it passes its soft token limit (the alerts module dedups)."""
        total = int(res.headroom.get("session_tokens", 0)) + used
        manager = self.alerts
        if manager is None or total <= wf.per_session_tokens.soft:
            return
        notify = getattr(manager, "notify_session_soft_limit", None)
        if notify is None:
            return
        try:
            notify(wf.id, res.session_id, total, wf.per_session_tokens.soft)
        except Exception as exc:
            log.warning("session alert for %s failed (%s)", wf.id, type(exc).__name__)

    def _check_alerts(
        self, workflow_id: str, res: Reservation | None = None, settlement: Settlement | None = None
    ) -> None:
        """After a settle, from its reply's figures (Redis is read only when a threshold may be crossed);
        after a block, or from a manager without ``check_spend``, the full ``check``."""
        manager = self.alerts
        if manager is None:
            return
        try:
            check_spend = getattr(manager, "check_spend", None)
            if res is None or settlement is None or check_spend is None or res.fail_open:
                manager.check(workflow_id)
                return
            check_spend(
                workflow_id,
                day=res.day,
                org_spent_nano=settlement.org_spent_nano,
                month_spent_nano=settlement.month_spent_nano,
                day_spent_nano=settlement.day_spent_nano,
                over_hold_nano=settlement.over_hold_nano,
                open_incidents=res.open_incidents,
                org_held_nano=settlement.org_held_nano,
                month_held_nano=settlement.month_held_nano,
                day_held_nano=settlement.day_held_nano,
            )
        except Exception as exc:  # an alert failure (Slack down) must never fail the model call
            # Only the class name: exception texts of HTTP libraries can carry the webhook URL.
            log.warning("alert check for %s failed (%s)", workflow_id, type(exc).__name__)


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
        plan = self._prepare(
            workflow_id,
            messages,
            system,
            context,
            session_id,
            user_id,
            loop_step,
            max_tokens,
            task_id,
            timeout,
            max_tokens_cap,
        )
        if isinstance(plan, CompletionResult):
            self._replay_journal(plan)
            return plan
        started = time.monotonic()
        attempts = self._attempts(plan)  # the deadline runs from the hold, so before the replay
        self._replay_journal(plan)
        try:
            message = await self._create_async(plan, attempts)
        except BaseException as exc:
            error = self._fail(plan, exc, started, attempts)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    async def _create_async(self, plan: _Plan, attempts: Attempts) -> Any:
        sdk = self.anthropic
        while True:
            try:
                return _message_or_raise(await sdk.messages.create(**plan.params, **self._call_options(sdk, attempts)))
            except Exception as exc:
                wait = attempts.wait_after(exc)
                if wait is None:
                    raise
                log.info("%s: %s; retry %d in %.2f s", plan.workflow.id, self._describe(exc), attempts.retries, wait)
                await asyncio.sleep(wait)

    def session(self, *args: Any, **kwargs: Any) -> Session:
        raise NotImplementedError("sessions are synchronous: use BudgetedClient.session()")


# The lab's name.
AcmeBudgetedClient = BudgetedClient
