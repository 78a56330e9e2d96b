"""What the money path decides before Redis: argument checks, the per-task limit, and the prices.

Owns the part of ``reserve`` and ``settle`` that needs no counter: token counts must be
non-negative integers; a reserve's per-task limit refuses or clamps it and its soft limit warns; an
unknown workflow or too many loop steps refuse it; its worst case is priced (cache writes at their
rates, and the cheaper model's worst case when the caller offered one); a settle's cost is priced
from the API's usage, or is the hold's worst case when the reply had no usage. The result is a
``Reservation`` draft or a settle ``Charge``, which ``ledger.args`` turns into a script's
arguments. It must not talk to Redis or decide a limit that needs the counters: the scripts do.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.records import record
from acme_ci_budget.ledger.errors import SettleError
from acme_ci_budget.ledger.results import LOOP_STEPS, TASK_TOKENS, UNKNOWN_WORKFLOW, Reservation


class Charge(NamedTuple):
    """What a settle records: the model priced, the four usage counts, the 1-hour cache writes, the cost."""

    model: str
    counts: tuple[int, int, int, int]  # input, output, cache writes (all TTLs), cache reads
    cache_creation_1h_input_tokens: int
    cost_nano: int


def check_counts(what: str, counts: tuple[int, ...] = (), **named: int) -> None:
    """Token counts must be non-negative integers (the scripts refuse anything else, before writing)."""
    for c in (*counts, *named.values()):  # a loop, not any(<generator>): every reserve and settle passes here
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            shown = ", ".join([*(str(c) for c in counts), *(f"{n}={v!r}" for n, v in named.items())])
            raise SettleError(f"{what}: token counts must be non-negative integers, got ({shown})")


def _plain_counts(counts: tuple[Any, ...]) -> bool:
    """Every count an ``int`` (exactly: not a bool or a subclass) and >= 0: ``check_counts``' usual case, cheaply."""
    for c in counts:  # noqa: SIM110 - a loop: all(<generator>) costs twice as much, on every reserve and settle
        if c.__class__ is not int or c < 0:
            return False
    return True


def usage_cost(
    config: Config,
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
        overrides=config.pricing,
        cache_write_1h_tokens=cache_creation_1h_input_tokens,
    )


def reserve_draft(
    config: Config,
    day: str,
    month: str,
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
    *,
    repo: str = "",
) -> tuple[Reservation, Workflow | None]:
    """The request as ``reserve.lua`` will see it, with the workflow it names (None: unknown)."""
    counts = (input_tokens, max_output_tokens, cache_write_tokens, cache_write_1h_tokens)
    if not _plain_counts(counts):  # check_counts decides and words it (the fast test only passes plain ints)
        check_counts(
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
    wf = config.workflows.get(workflow_id)
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
            warnings.append(f"max_tokens clamped from {requested} to {max_output_tokens} by the per-task hard limit")
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
            overrides=config.pricing,
            cache_write_1h_tokens=cw_1h,
        )

    # every field named (the defaults too), so core.records builds it by copy, at a fifth of __init__'s cost
    fields = dict(
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
        repo=repo,
        headroom={},
        fail_open=False,
        pressure="",
        open_incidents=0,
    )
    return record(Reservation, fields), wf


def settle_charge(
    config: Config,
    reservation: Reservation,
    input_tokens: int,
    output_tokens: int,
    cache_creation_input_tokens: int,
    cache_read_input_tokens: int,
    model: str | None,
    cache_creation_1h_input_tokens: int,
    usage_missing: bool,
) -> Charge:
    """What ``settle`` records for ``reservation``: the usage checked and priced (the hold's worst case
    when the reply had no usage)."""
    if not reservation.allowed:
        raise SettleError(f"reservation {reservation.id} was refused ({reservation.reason}); nothing to settle")
    if usage_missing:
        model = reservation.model  # what the hold priced; the reply said nothing about what it used
        cache_creation_1h_input_tokens = reservation.cache_write_1h_tokens
        cache_creation_input_tokens = reservation.cache_write_tokens + cache_creation_1h_input_tokens
        input_tokens = reservation.input_tokens - cache_creation_input_tokens
        output_tokens, cache_read_input_tokens = reservation.max_output_tokens, 0
    counts = (input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens)
    if not _plain_counts((*counts, cache_creation_1h_input_tokens)):
        check_counts("settle", cache_creation_1h_input_tokens=cache_creation_1h_input_tokens, counts=counts)
    if cache_creation_1h_input_tokens > cache_creation_input_tokens:
        raise SettleError(
            f"cache_creation_1h_input_tokens ({cache_creation_1h_input_tokens}) is part of "
            f"cache_creation_input_tokens ({cache_creation_input_tokens}) and cannot exceed it"
        )
    model = model or reservation.model
    cost = usage_cost(config, model, *counts, cache_creation_1h_input_tokens)
    if usage_missing and reservation.held_nano:
        cost = reservation.held_nano  # exactly what was held, even if prices changed since
    return Charge(model, counts, cache_creation_1h_input_tokens, cost)
