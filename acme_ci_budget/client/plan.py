"""A call's plan: route it, count its input, reserve its worst case, and shape the request to send.

Owns everything a model call does before ``messages.create``: reading the request (``Request``),
routing it (``router``), its input tokens by THE estimator or, when the estimate cannot be trusted,
by the API's exact count (``input_count``), the tokens it may write to the prompt cache, the one
reserve round trip (which also decides the budget-pressure downgrade, applied here to the route),
and the parameters to send. ``prepare`` hands back a ``Plan`` (held, ready to send) or a
``Refused`` (the ledger said no: nothing held, nothing to send); its two steps are ``draft`` (route and
count) and ``hold`` (reserve and shape).

Before the reserve it has no side effect but routing and counting: the simulator's tick ledger
raises ``Deferred`` (a ``BaseException``) from the reserve and calls ``hold`` again later with the
same draft, so nothing here may catch it or leave anything half-done before it. It must not call the model,
settle, alert or word a block (``outcome`` does); the SDK client for counting is handed in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from acme_ci_budget.client.input_count import InputCount, count_input, needs_exact_count
from acme_ci_budget.client.router import RouteDecision, TaskRouter
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.text import content_text
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Reservation

# Used for the model field of a block event when the workflow is unknown and nothing was routed.
UNROUTED = "-"


@dataclass(frozen=True)
class Request:
    """What ``complete()`` was asked (``timeout`` already resolved against the client's)."""

    workflow_id: str
    messages: Sequence[Mapping[str, Any]]
    system: Any = ""
    context: Mapping[str, Any] | None = None
    session_id: str | None = None
    user_id: str | None = None
    loop_step: int | None = None
    max_tokens: int | None = None
    task_id: str | None = None
    timeout: float | None = None
    max_tokens_cap: int | None = None


@dataclass(frozen=True)
class Plan:
    """A reserved call, ready to send."""

    workflow: Workflow
    decision: RouteDecision
    reservation: Reservation
    params: dict[str, Any]
    timeout: float | None


@dataclass(frozen=True)
class Refused:
    """A call the ledger refused: nothing is held and nothing will be sent."""

    workflow: Workflow | None
    decision: RouteDecision
    reservation: Reservation


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the latest user message: what the router's keyword rule reads."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _cache_ttl(block: Any) -> str | None:
    """'5m' / '1h' for a block carrying cache_control, else None."""
    # `x.__class__ is dict` first: the usual case, without the ABC isinstance check (~10x dearer)
    if block.__class__ is dict or isinstance(block, Mapping):
        control = block.get("cache_control")
    else:
        control = getattr(block, "cache_control", None)
    if not control:
        return None
    is_map = control.__class__ is dict or isinstance(control, Mapping)
    ttl = control.get("ttl") if is_map else getattr(control, "ttl", None)
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
    longest = one_hour = 0  # every mark is >= 0 tokens; a loop, not max(<generator>): every call passes here
    for tokens, ttl in marks:
        if tokens > longest:
            longest = tokens
        if ttl == "1h" and tokens > one_hour:
            one_hour = tokens
    return max(longest - one_hour, 0), one_hour


def system_param(wf: Workflow, system: Any) -> Any:
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


def route_and_count(
    router: TaskRouter,
    counting_sdk: Callable[[], Any],
    wf: Workflow,
    request: Request,
    messages: Sequence[Mapping[str, Any]],
    estimate: int,
) -> tuple[RouteDecision, InputCount | None]:
    """Route on the estimate; when the estimate cannot be trusted, count exactly and route on that.

    Budget pressure is left to the reserve (one round trip, on the live counters), so no
    pressure is passed here: the decision names the cheaper model the reserve may pick, and an
    exact count is made for that model too (holding the larger), as it may be the one that answers.
    """
    system, context = request.system, request.context
    text = last_user_text(messages)
    decision = router.route(wf.id, text, context, input_tokens=estimate)
    wanted = request.max_tokens or decision.max_tokens
    why = needs_exact_count(messages, system, estimate, wanted, wf.per_task_tokens.hard)
    if not why:
        return decision, None
    sent_system = system_param(wf, system) if system else system
    counted = count_input(counting_sdk(), decision.model, messages, sent_system, estimate, why)
    if counted.tokens != estimate:
        rerouted = router.route(wf.id, text, context, input_tokens=counted.tokens)
        if rerouted.model != decision.model and counted.counted:
            # tokenizers differ between model generations: count again for the model that will answer
            counted = count_input(counting_sdk(), rerouted.model, messages, sent_system, estimate, why)
        decision = rerouted
    cheaper = decision.pressure_model
    if cheaper is not None and cheaper != decision.model:
        # The reserve may answer with the cheaper model (budget pressure, on the live counters), after
        # this count: its tokenizer may count the request higher, so the hold takes the larger count.
        other = count_input(counting_sdk(), cheaper, messages, sent_system, estimate, why)
        if other.tokens > counted.tokens:
            counted = other
    return decision, counted


def under_pressure(config: Config, router: TaskRouter, decision: RouteDecision, res: Reservation) -> RouteDecision:
    """The route as the reserve decided it: downgraded when it held the cheaper model for budget pressure."""
    if not res.pressure:
        return decision
    wf = config.workflows[res.workflow_id]
    spent = int(res.headroom.get("monthly_spent_nano", 0))  # as the script read it, before this hold
    share = spent / wf.monthly_nano if wf.monthly_nano else 0.0
    return router.under_pressure(res.workflow_id, decision, (res.pressure == "org_reserve", share))


class Draft(NamedTuple):
    """A call routed and counted, before its reserve: what ``hold`` reserves and shapes into a ``Plan``."""

    workflow: Workflow | None
    decision: RouteDecision
    counted: InputCount | None
    messages: list[dict[str, Any]]  # the request's, copied: what is sent
    input_tokens: int
    wanted: int  # max_tokens asked for (or the route's allowance)
    capped: bool  # max_tokens_cap lowers it
    sent_system: Any  # the system prompt as sent (marked when the workflow caches it)
    cache_writes: tuple[int, int]  # (5-minute, 1-hour) tokens it may write to the prompt cache


def draft(config: Config, router: TaskRouter, counting_sdk: Callable[[], Any], request: Request) -> Draft:
    """Route and count ``request`` (``UsageError`` for a malformed one): no side effect but the counting request."""
    workflow_id, system, max_tokens = request.workflow_id, request.system, request.max_tokens
    cap = request.max_tokens_cap
    messages = [dict(m) for m in request.messages]
    if not messages:
        raise UsageError(f"{workflow_id}: complete() needs at least one message")
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"{workflow_id}: max_tokens must be >= 1, got {max_tokens}")
    input_tokens = estimate_messages_tokens(messages, system)
    wf = config.workflows.get(workflow_id)
    counted: InputCount | None = None
    if wf is None:
        decision = RouteDecision(UNROUTED, max_tokens or 1, f"unknown workflow {workflow_id!r}", "unknown")
    else:
        decision, counted = route_and_count(router, counting_sdk, wf, request, messages, input_tokens)
        input_tokens = counted.tokens if counted is not None else input_tokens
    wanted = max_tokens or decision.max_tokens
    capped = cap is not None and 1 <= cap < wanted
    # held at the cache-write rates: the system prompt as sent (marked when the workflow caches it)
    sent_system = system_param(wf, system) if wf and system else system
    cache_writes = cache_write_tokens(sent_system, messages)
    return Draft(wf, decision, counted, messages, input_tokens, wanted, capped, sent_system, cache_writes)


def hold(
    config: Config, router: TaskRouter, enforcer: BudgetEnforcer, request: Request, drafted: Draft
) -> Plan | Refused:
    """Reserve ``drafted`` (one round trip) and shape the request to send, or say why the ledger refused it."""
    wf, decision, counted, messages, input_tokens, wanted, capped, sent_system, (cw_5m, cw_1h) = drafted
    cap = request.max_tokens_cap
    reservation = enforcer.reserve(
        request.workflow_id,
        decision.model,
        input_tokens,
        cap if capped else wanted,
        session_id=request.session_id,
        task_id=request.task_id,
        loop_step=request.loop_step,
        user_id=request.user_id,
        cache_write_tokens=cw_5m,
        cache_write_1h_tokens=cw_1h,
        pressure_model=decision.pressure_model,
    )
    decision = under_pressure(config, router, decision, reservation)
    if counted is not None and counted.warning:
        reservation = replace(reservation, warnings=(*reservation.warnings, counted.warning))
    if not reservation.allowed:
        return Refused(wf, decision, reservation)
    if capped:
        reservation = replace(
            reservation,
            warnings=(f"max_tokens lowered from {wanted} to {cap} to fit", *reservation.warnings),
        )
    params: dict[str, Any] = {
        "model": decision.model,
        "max_tokens": reservation.max_output_tokens,
        "messages": messages,
    }
    if request.system:
        params["system"] = sent_system
    return Plan(wf, decision, reservation, params, request.timeout)


def prepare(
    config: Config,
    router: TaskRouter,
    enforcer: BudgetEnforcer,
    counting_sdk: Callable[[], Any],
    request: Request,
) -> Plan | Refused:
    """Route, count, reserve (one round trip) and shape the request; ``UsageError`` for a malformed one."""
    return hold(config, router, enforcer, request, draft(config, router, counting_sdk, request))
