"""The ledger's key schema, the money-path scripts' keys and arguments, and the budget-pressure thresholds.

Owns the Redis keys of a namespace (``Keys``; every key carries the namespace as its hash tag,
the alert module's own state included: ``Keys.alert``), how a ``Reservation`` draft becomes
``reserve.lua``'s KEYS and ARGV, a settle ``Charge`` ``settle.lua``'s and a failed call
``release.lua``'s (each script's header lists them; the repository a call is attributed to, and its
cap from ``repos:``, travel in all three; a call's event fields go last, as flat name/value pairs),
including the budget-pressure part: the
cheaper model's worst case and the two thresholds, as exact integers that reproduce the status
read's rules (the org is in its reserve once its month spend is past
``monthly * (1 - reserve_pct)``; a workflow is under pressure once
``month spent / monthly >= budget_pressure_pct``). It must not talk to Redis, price a request or
decide a limit: ``ledger.draft`` and the scripts do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from acme_ci_budget.config import Config, Workflow


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one namespace; every key carries the namespace as its hash tag."""

    p: str

    def holds(self) -> str:
        return f"{self.p}holds"

    def hold(self, res_id: str) -> str:
        return f"{self.p}hold:{res_id}"

    def result(self, res_id: str) -> str:
        return f"{self.p}res:{res_id}"

    def org_spent(self, month: str) -> str:
        return f"{self.p}spent:org:m:{month}"

    def org_held(self, month: str) -> str:
        return f"{self.p}held:org:m:{month}"

    def wf_spent_month(self, wf: str, month: str) -> str:
        return f"{self.p}spent:wf:{wf}:m:{month}"

    def wf_held_month(self, wf: str, month: str) -> str:
        return f"{self.p}held:wf:{wf}:m:{month}"

    def wf_spent_day(self, wf: str, day: str) -> str:
        return f"{self.p}spent:wf:{wf}:d:{day}"

    def wf_held_day(self, wf: str, day: str) -> str:
        return f"{self.p}held:wf:{wf}:d:{day}"

    def repo_spent(self, repo: str, month: str) -> str:
        """A repository's month spend ('' repo: the namespace's no-repo key, which no script writes)."""
        return f"{self.p}spent:repo:{repo}:m:{month}" if repo else f"{self.p}repo:-"

    def repo_held(self, repo: str, month: str) -> str:
        return f"{self.p}held:repo:{repo}:m:{month}" if repo else f"{self.p}repo:-"

    def session(self, session_id: str | None) -> str:
        return f"{self.p}sess:{session_id}" if session_id else f"{self.p}sess:-"

    def task(self, task_id: str | None) -> str:
        return f"{self.p}task:{task_id}" if task_id else f"{self.p}task:-"

    def stats(self, month: str) -> str:
        return f"{self.p}stats:m:{month}"

    def events(self) -> str:
        return f"{self.p}events"

    def adjustments(self) -> str:
        """Reconcile's adjustments already recorded (id -> nano-USD): what makes ``--record-adjustments`` idempotent."""
        return f"{self.p}reconcile:adjustments"

    def incidents(self) -> str:
        """The alert module's open PagerDuty incidents (``AlertManager._key("incidents")``); reserve reads its size."""
        return self.alert("incidents")

    def alert(self, *parts: str) -> str:
        """A key of the alert module's own state (dedup claims, incidents, blocked-seen marks)."""
        return f"{self.p}alert:" + ":".join(parts)


def org_reserve_threshold(config: Config) -> int:
    """The org is in its reserve once its month spend is past this (or at its budget): ``get_org_status``'s rule."""
    return int(config.org_monthly_nano * (1 - config.reserve_pct))


def share_threshold(limit_nano: int, fraction: float) -> str:
    """The least spend ``s`` with ``s / limit_nano >= fraction`` in float division ('' : none), as a string.

    The router compares the month's share as a float; this integer makes the script's exact
    comparison agree with it at every amount, the boundary included. A zero budget has a share
    of 0.0, under pressure only when the fraction is 0.
    """
    if limit_nano <= 0:
        return "0" if fraction <= 0 else ""
    at = max(0, math.ceil(limit_nano * fraction))
    while at > 0 and (at - 1) / limit_nano >= fraction:
        at -= 1
    while at / limit_nano < fraction:
        at += 1
    return str(at)


def pressure_thresholds(config: Config) -> tuple[int, dict[str, str]]:
    """(the org reserve threshold, each workflow's pressure threshold), computed once per config."""
    return org_reserve_threshold(config), {
        wid: share_threshold(wf.monthly_nano, wf.routing.budget_pressure_pct) for wid, wf in config.workflows.items()
    }


@lru_cache(maxsize=512)
def period_keys(keys: Keys, wf: str, month: str, day: str) -> tuple[str, ...]:
    """The keys of one workflow, month and day, built once (every reserve and settle needs them):
    holds, org spent, org held, wf spent month, wf held month, wf spent day, wf held day, stats, events,
    incidents."""
    return (
        keys.holds(),
        keys.org_spent(month),
        keys.org_held(month),
        keys.wf_spent_month(wf, month),
        keys.wf_held_month(wf, month),
        keys.wf_spent_day(wf, day),
        keys.wf_held_day(wf, day),
        keys.stats(month),
        keys.events(),
        keys.incidents(),
    )


def reserve_keys(keys: Any, r: Any) -> list[str]:
    """``reserve.lua``'s KEYS for draft ``r`` (``keys``: the namespace's ``Keys``)."""
    holds, org_s, org_h, m_s, m_h, d_s, d_h, stats, events, incidents = period_keys(
        keys, r.workflow_id, r.month, r.day
    )
    return [
        holds,
        org_s,
        org_h,
        m_s,
        m_h,
        d_s,
        d_h,
        keys.session(r.session_id),
        keys.task(r.task_id),
        keys.hold(r.id),
        stats,
        events,
        incidents,
        keys.repo_spent(r.repo, r.month),
        keys.repo_held(r.repo, r.month),
    ]


def reserve_args(
    config: Config,
    prefix: str,
    wf: Workflow | None,
    r: Any,
    now_ms: int,
    retention_ms: int,
    thresholds: tuple[int, Mapping[str, str]],
) -> list:
    """``reserve.lua``'s ARGV for draft ``r`` of workflow ``wf`` (None: unknown, refused by ``r.reason``)."""
    session = wf is not None and r.session_id is not None
    task = wf is not None and r.task_id is not None
    event = event_pairs(**identity(r), input_tokens=r.input_tokens, max_output_tokens=r.max_output_tokens)
    cheaper = wf is not None and r.pressure_model is not None
    org_threshold, wf_thresholds = thresholds
    return [
        now_ms,
        config.ledger.hold_ttl_seconds * 1000,
        r.id,
        r.held_nano,
        config.org_monthly_nano,
        wf.monthly_nano if wf else 0,
        wf.daily_nano if wf else 0,
        r.input_tokens + r.max_output_tokens,
        wf.per_session_tokens.hard if session else 0,
        r.reason,
        r.workflow_id,
        prefix,
        retention_ms,
        retention_ms,
        wf.max_loop_steps if wf else 0,
        len(event) // 2,
        1 if task else 0,
        r.day,
        r.month,
        r.pressure_held_nano if cheaper else "",
        r.pressure_model if cheaper else "",
        org_threshold,
        wf_thresholds.get(r.workflow_id, "") if cheaper else "",
        r.repo,
        repo_cap(config, r.repo),
        *event,
    ]


def repo_cap(config: Config, repo: str) -> int | str:
    """The repository's monthly cap in nano-USD for ``reserve.lua`` ('' : none configured, or no repository)."""
    budget = config.repos.get(repo) if repo else None
    return budget.monthly_nano if budget is not None else ""


def settle_keys(keys: Keys, r: Any) -> list[str]:
    """``settle.lua``'s KEYS for reservation ``r``."""
    holds, org_s, _oh, m_s, _mh, d_s, _dh, stats, events, _i = period_keys(keys, r.workflow_id, r.month, r.day)
    return [
        holds,
        keys.hold(r.id),
        keys.result(r.id),
        org_s,
        m_s,
        d_s,
        keys.session(r.session_id),
        stats,
        events,
        keys.repo_spent(r.repo, r.month),
    ]


def settle_args(
    r: Any,
    charge: Any,
    now_ms: int,
    retention_ms: int,
    latency_ms: int | None,
    route_reason: str | None,
    usage_missing: bool,
) -> list:
    """``settle.lua``'s ARGV for reservation ``r`` charged ``charge`` (a ``ledger.draft.Charge``)."""
    model, counts, one_hour, cost = charge
    input_tokens, output_tokens, cache_creation, cache_read = counts
    event = event_pairs(
        **{**identity(r), "model": model},
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_creation_input_tokens=cache_creation,
        cache_creation_1h_input_tokens=one_hour or None,
        cache_read_input_tokens=cache_read,
        latency_ms=latency_ms,
        route_reason=route_reason,
        held_nano=r.held_nano,
        fail_open=1 if r.fail_open else None,
    )
    return [
        r.id,
        cost,
        sum(counts),
        now_ms,
        retention_ms,
        r.workflow_id,
        model,
        r.user_id or "",
        r.day[-2:],
        *counts,
        one_hour,
        1 if r.session_id else 0,
        retention_ms,
        len(event) // 2,
        1 if usage_missing else 0,
        r.repo,
        *event,
    ]


def release_keys(keys: Keys, r: Any) -> list[str]:
    """``release.lua``'s KEYS for reservation ``r``."""
    return [keys.holds(), keys.hold(r.id), keys.result(r.id), keys.stats(r.month), keys.events()]


def release_args(r: Any, now_ms: int, retention_ms: int, error: str, latency_ms: int | None) -> list:
    """``release.lua``'s ARGV: the failure event says why the call failed (``error``, cut to 500 characters)."""
    event = event_pairs(**identity(r), reason=error[:500] if error else "call_failed", latency_ms=latency_ms)
    return [r.id, now_ms, retention_ms, r.workflow_id, retention_ms, len(event) // 2, r.repo, *event]


def identity(r: Any) -> dict[str, Any]:
    """The fields that tie an event to its reservation: workflow, model, session, user, task, step, and
    the day and month of the counters it was charged to (the reserve's, even when it settles after midnight)."""
    return {
        "workflow": r.workflow_id,
        "model": r.model,
        "session": r.session_id,
        "user": r.user_id,
        "task": r.task_id,
        "loop_step": r.loop_step,
        "day": r.day,
        "month": r.month,
    }


def event_pairs(**fields: Any) -> list[str]:
    """The event's optional fields as flat name, value arguments (empty values skipped), for reserve, settle and
    release, which take them last: no JSON to encode here or decode in the script (a cjson decode was most of a
    script's argument checks)."""
    flat: list[str] = []
    for name, value in fields.items():
        if value is not None and value != "":
            flat += (name, str(value))
    return flat


# One encoder for every event: json.dumps with non-default separators builds a new one per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def event_fields(**fields: Any) -> str:
    """The event's optional fields as one JSON object argument (empty values skipped), for the scripts off the
    per-call path."""
    return _COMPACT.encode(event_dict(**fields))


def event_dict(**fields: Any) -> dict:
    return {name: str(value) for name, value in fields.items() if value is not None and value != ""}
