"""The budgeted model client: every Claude call goes route -> reserve -> call -> settle -> alert.

Owns one model call end to end (DESIGN.md, "the money path"): route the task (``router``),
estimate its input with THE estimator (``tokens``), reserve its worst case on the ledger, call
``messages.create`` with the (possibly clamped) ``max_tokens``, settle with the API's real usage
(input, output, cache write, cache read), run the alerts hook, and hand back a
``CompletionResult`` that looks the same on success and on a block. A blocked call never
reaches the API. Any failure of the call itself (API error after the SDK's retries, timeout,
Ctrl-C, task cancellation) releases the hold before the error propagates, so nothing stays held
and the failure is an event; API errors become typed ``ModelCallError`` subclasses whose
messages name the model and, for a 404, where the config names it.

It must not decide limits (the ledger does), pick models (the router does), or send alerts
itself (``acme_ci_budget.alerts`` does, through a duck-typed ``check(workflow_id)`` hook, or
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from acme_ci_budget.config import Config, Workflow, load_config
from acme_ci_budget.errors import AcmeError, UsageError
from acme_ci_budget.ledger import BudgetEnforcer, Clock, Reservation, Settlement
from acme_ci_budget.money import fmt_usd, nano_to_usd, pct
from acme_ci_budget.pricing import UnknownModelError, cost_nano, price_for
from acme_ci_budget.router import RouteDecision, TaskRouter
from acme_ci_budget.tokens import estimate_messages_tokens, estimate_tokens

if TYPE_CHECKING:
    from acme_ci_budget.sessions import Session

log = logging.getLogger("acme_ci_budget.client")

# Used for the model field of a block event when the workflow is unknown and nothing was routed.
UNROUTED = "-"
SDK_DEFAULT_MAX_RETRIES = 2
SETTLE_ATTEMPTS = 4  # waits 0.1 + 0.3 + 0.9 s for Redis to come back before giving up
# Signals that must propagate unchanged once the hold is released.
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


# --- errors -------------------------------------------------------------------------------------


class ModelCallError(AcmeError, RuntimeError):
    """The model call failed after the SDK's retries; its hold was released and a failure event logged."""

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        workflow_id: str = "",
        status_code: int | None = None,
        error_type: str | None = None,
        reservation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.workflow_id = workflow_id
        self.status_code = status_code
        self.error_type = error_type
        self.reservation_id = reservation_id


class ModelNotFoundError(ModelCallError, LookupError):
    """404: the model is retired, misspelled or not available to this key; names where the config uses it."""


class ModelTimeoutError(ModelCallError, TimeoutError):
    """The API did not answer within the timeout, retries included."""


class ModelAPIError(ModelCallError):
    """Any other API failure: rate limit or overload after retries, 5xx, 4xx, connection, credentials."""


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionResult:
    """What one ``complete()`` returns, on success and on a block alike; ``result.x`` or ``result["x"]``."""

    content: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_usd: float
    latency_ms: int
    stop_reason: str | None
    budget_blocked: bool
    budget_reason: str
    route_reason: str
    warnings: tuple[str, ...] = ()
    budget: Mapping[str, Any] = field(default_factory=dict)
    reservation_id: str = ""
    cost_nano: int = 0
    # A sentence for people: why the call was blocked (empty on success).
    message: str = ""
    workflow_id: str = ""
    session_id: str | None = None
    loop_step: int | None = None
    # Of cache_creation_input_tokens, those written at the 1-hour TTL (priced at the 1-hour rate).
    cache_creation_1h_input_tokens: int = 0
    # The reply had no usage: charged the hold's worst case (the token counts are that worst case).
    usage_missing: bool = False

    def __getitem__(self, key: str) -> Any:
        if key in _RESULT_FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in _RESULT_FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(_RESULT_FIELDS)

    def keys(self) -> tuple[str, ...]:
        return _RESULT_FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _RESULT_FIELDS else default

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RESULT_FIELDS}
        data["warnings"] = list(self.warnings)
        data["budget"] = _plain(self.budget)
        return data


_RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CompletionResult))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Plan:
    """A reserved call, ready to send."""

    workflow: Workflow
    decision: RouteDecision
    reservation: Reservation
    params: dict[str, Any]
    timeout: float | None


# --- helpers ------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        kind = block.get("type") if isinstance(block, Mapping) else getattr(block, "type", None)
        text = block.get("text") if isinstance(block, Mapping) else getattr(block, "text", None)
        if kind in (None, "text") and isinstance(text, str):
            parts.append(text)
    return "\n".join(parts)


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the latest user message: what the router's keyword rule reads."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def response_text(message: Any) -> str:
    """All text blocks of a response, joined as the SDK's ``get_final_text`` joins them."""
    return "".join(
        block.text for block in (message.content or ()) if getattr(block, "type", None) == "text" and block.text
    )


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


def _status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


# --- the client ---------------------------------------------------------------------------------


class BudgetedClient:
    """Claude calls under the budget: ``complete()`` for one call, ``session()`` for a conversation.

    ``config=None`` loads the default config. ``anthropic_client`` (anything with
    ``messages.create``) wins; otherwise ``anthropic.Anthropic()`` is built on first use, which
    reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` (gateways, proxies). ``max_retries``
    is the SDK's retry count for 429/529/5xx/timeouts (None: the SDK default of 2, or the given
    client's own). ``alerts``: an object with ``check(workflow_id)``; None builds
    ``acme_ci_budget.alerts.AlertManager`` when that module exists; False turns alerts off.
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
    ) -> None:
        self.config = config or (enforcer.config if enforcer is not None else load_config())
        self.enforcer = enforcer or BudgetEnforcer(
            self.config, redis_url=redis_url, clock=clock, ephemeral_ledger=ephemeral_ledger
        )
        self.router = router or TaskRouter(self.config)
        self.max_retries = max_retries
        self.timeout = timeout
        self._anthropic = anthropic_client
        self._configured = anthropic_client is None
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
            if self.max_retries is not None and hasattr(self._anthropic, "with_options"):
                self._anthropic = self._anthropic.with_options(max_retries=self.max_retries)
        return self._anthropic

    def _build_client(self) -> Any:
        import anthropic

        kwargs: dict[str, Any] = {
            "max_retries": self.max_retries if self.max_retries is not None else SDK_DEFAULT_MAX_RETRIES
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return anthropic.Anthropic(**kwargs)

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
                return manager(self.config, redis=self.enforcer.redis, clock=self.enforcer.clock)
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
        """A multi-turn conversation of ``workflow_id`` (see ``acme_ci_budget.sessions``)."""
        from acme_ci_budget.sessions import DEFAULT_KEEP_TURNS, Session

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
            return plan
        started = time.monotonic()
        try:
            message = self.anthropic.messages.create(**plan.params, **self._request_options(plan))
        except BaseException as exc:
            error = self._fail(plan, exc, started)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    def _request_options(self, plan: _Plan) -> dict[str, Any]:
        return {"timeout": plan.timeout} if plan.timeout is not None else {}

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
        if wf is None:
            decision = RouteDecision(UNROUTED, max_tokens or 1, f"unknown workflow {workflow_id!r}", "unknown")
        else:
            # Budget pressure is left to the reserve below: one round trip, on the live counters.
            decision = self.router.route(workflow_id, last_user_text(messages), context, input_tokens=input_tokens)
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
            content=response_text(message),
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

    def _fail(self, plan: _Plan, exc: BaseException, started: float) -> BaseException:
        """Release the hold (always), then say what went wrong as a typed error."""
        latency_ms = int((time.monotonic() - started) * 1000)
        res = plan.reservation
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
        return self._translate(plan, exc)

    @staticmethod
    def _describe(exc: BaseException) -> str:
        """The failure as recorded in the event: class, status, API error type; never headers or keys."""
        parts = [type(exc).__name__]
        code = _status_code(exc)
        if code is not None:
            parts.append(str(code))
        error_type = getattr(exc, "type", None)
        if isinstance(error_type, str):
            parts.append(error_type)
        api_message = getattr(exc, "api_message", None)
        if isinstance(api_message, str) and api_message:
            parts.append(api_message[:200])
        return ": ".join(parts)

    def _retries(self) -> int:
        value = getattr(self._anthropic, "max_retries", None)
        return value if isinstance(value, int) else (self.max_retries or 0)

    def _translate(self, plan: _Plan, exc: BaseException) -> BaseException:
        try:
            import anthropic
        except ImportError:  # pragma: no cover - anthropic is a dependency
            return exc
        model, wid = plan.decision.model, plan.workflow.id
        common = {"model": model, "workflow_id": wid, "reservation_id": plan.reservation.id}
        code = _status_code(exc)
        error_type = getattr(exc, "type", None) if isinstance(getattr(exc, "type", None), str) else None
        api_message = getattr(exc, "api_message", None) or ""
        retries = self._retries()
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
            return ModelTimeoutError(
                f"{wid}: {model} did not answer in time ({retries} retries); the hold was released",
                **common,
            )
        if isinstance(exc, anthropic.APIStatusError):
            retried = f" after {retries} retries" if code == 429 or (code or 0) >= 500 else ""
            return ModelAPIError(
                f"{wid}: the Messages API answered {code} {error_type or ''}{retried} (model {model}): "
                f"{api_message or 'no message'}".replace("  ", " "),
                status_code=code,
                error_type=error_type,
                **common,
            )
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelAPIError(
                f"{wid}: could not reach the Messages API ({retries} retries): {type(exc).__name__}", **common
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
        if settlement is not None and not res.fail_open:
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

        ``usage`` None (the reply had none): the call is charged its hold's worst case, flagged.
        """
        counts, one_hour = (usage[:4], usage[4]) if usage is not None else ((), 0)
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                return self.enforcer.settle(
                    res,
                    *counts,
                    latency_ms=latency_ms,
                    route_reason=route_reason,
                    model=model,
                    cache_creation_1h_input_tokens=one_hour,
                    usage_missing=usage is None,
                )
            except Exception as exc:
                last = attempt == SETTLE_ATTEMPTS - 1
                if last or not _is_transient_store_error(exc):
                    log.error(
                        "%s: the call succeeded but its settle failed (%s); reservation %s stays held until its TTL",
                        res.workflow_id,
                        type(exc).__name__,
                        res.id,
                    )
                    raise
                time.sleep(0.1 * 3**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

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

        kwargs: dict[str, Any] = {
            "max_retries": self.max_retries if self.max_retries is not None else SDK_DEFAULT_MAX_RETRIES
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return anthropic.AsyncAnthropic(**kwargs)

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
            return plan
        started = time.monotonic()
        try:
            message = await self.anthropic.messages.create(**plan.params, **self._request_options(plan))
        except BaseException as exc:
            error = self._fail(plan, exc, started)
            if error is exc:
                raise
            raise error from exc
        return self._finish(plan, message, started)

    def session(self, *args: Any, **kwargs: Any) -> Session:
        raise NotImplementedError("sessions are synchronous: use BudgetedClient.session()")


# The lab's name.
AcmeBudgetedClient = BudgetedClient
