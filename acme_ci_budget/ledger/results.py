"""What the money path answers: ``Reservation``, ``Settlement``, ``Release``, the refusal reasons, and
how a script's reply becomes one of them.

Owns the frozen result types of ``reserve`` / ``settle`` / ``release``, the reason a request is
refused (one constant per limit) and what a release did, and the reading of ``reserve.lua``'s and
``settle.lua``'s replies into results (``reservation_from_reply``, ``settlement_from_reply``). It
must not talk to Redis, price a request or decide a limit: the scripts and ``ledger.enforcer`` do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.money import nano_to_usd
from acme_ci_budget.core.records import record

# Reasons a request is refused, one per limit.
UNKNOWN_WORKFLOW = "unknown_workflow"
TASK_TOKENS = "task_token_limit_exceeded"
SESSION_TOKENS = "session_token_limit_exceeded"
LOOP_STEPS = "loop_step_limit_exceeded"
ORG_MONTHLY = "total_org_budget_exceeded"
MONTHLY = "monthly_limit_exceeded"
DAILY = "daily_limit_exceeded"
REPO_MONTHLY = "repo_limit_exceeded"  # the repository's cap (config ``repos:``)
LEDGER_DOWN = "ledger_unavailable"

# What a release did (Release.status).
RELEASED = "released"
ALREADY_FINAL = "already_final"  # settled or released before: nothing changed
UNKNOWN_RESERVATION = "unknown"  # the ledger holds no such reservation: nothing changed, no failure counted
NOT_HELD = "refused"  # the reservation was refused: it never held anything


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
    # The repository the call is attributed to (owner/name; '' : none known): every event names it, and
    # its month counters (and cap, when ``repos:`` sets one) move with the org's.
    repo: str = ""

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


def evolve(r: Reservation, **changes: Any) -> Reservation:
    """``dataclasses.replace`` without its per-call field introspection, built by field copy (``core.records``):
    every reserve takes this path."""
    return record(Reservation, {**r.__dict__, **changes})


def text(value: Any) -> str:
    """A script's reply word as text (redis-py hands back bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def reservation_from_reply(config: Config, draft: Reservation, wf: Workflow | None, raw: Any) -> Reservation:
    """The reservation as ``reserve.lua`` decided it (``raw``: its reply) for ``draft``."""
    allowed = bool(int(raw[0]))
    reason = text(raw[1])
    org_s, org_h, m_s, m_h, d_s, d_h, s_tok, s_held = map(int, raw[2:10])
    pressure = text(raw[11]) if draft.pressure_model else ""
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
            "org_remaining_nano": config.org_monthly_nano - org_s - org_h,
            "monthly_remaining_nano": wf.monthly_nano - m_s - m_h,
            "daily_remaining_nano": wf.daily_nano - d_s - d_h,
            "org_spent_nano": org_s,
            "monthly_spent_nano": m_s,
            "daily_spent_nano": d_s,
            "session_tokens": s_tok,
        }
        cap = config.repos.get(draft.repo) if draft.repo else None
        if cap is not None:
            repo_s, repo_h = int(raw[13]), int(raw[14]) + (held if allowed else 0)
            headroom["repo_remaining_nano"] = cap.monthly_nano - repo_s - repo_h
            headroom["repo_spent_nano"] = repo_s
        if draft.session_id and s_tok + s_held > wf.per_session_tokens.soft:
            warnings.append(
                f"per-session soft limit: {s_tok + s_held} tokens > {wf.per_session_tokens.soft}; compress context"
            )
    return evolve(
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


def settlement_from_reply(reservation: Reservation, raw: Any, usage_missing: bool) -> Settlement:
    """The settlement as ``settle.lua`` recorded it (``raw``: its reply)."""
    # the figures go to int() as they come: it reads bytes, str and int alike, with no decode first
    status, cost_s, org_s, month_s, day_s, found, over = raw[:7]
    # a marker written before the held figures were part of the reply has seven words: no holds then
    org_h, month_h, day_h = (int(raw[8]), int(raw[9]), int(raw[10])) if len(raw) >= 11 else (0, 0, 0)
    fields = dict(  # every field named (recorded too): core.records builds it by copy, on every settle
        reservation_id=reservation.id,
        cost_nano=int(cost_s),
        org_spent_nano=int(org_s),
        month_spent_nano=int(month_s),
        day_spent_nano=int(day_s),
        hold_found=text(found) == "1",
        duplicate=text(status) == "dup",
        over_hold_nano=int(over),
        usage_missing=usage_missing,
        org_held_nano=org_h,
        month_held_nano=month_h,
        day_held_nano=day_h,
        recorded=True,
    )
    return record(Settlement, fields)
