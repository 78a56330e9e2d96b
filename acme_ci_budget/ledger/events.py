"""The ledger's event stream, read back; and the one event written outside a Lua script.

Owns how the usage events the ledger's scripts append (CONTRACTS.md, "Events stream") are read:
XRANGE in batches, oldest first, decoded (known numeric fields as ints), filtered by workflow,
type, repository and a time window on the event's ledger-clock ``ts_ms`` (not the stream id, so simulated
clocks work): ``events(enforcer, ...)``, ``BudgetEnforcer.events``; and what a group of tasks was
charged (``task_spend``: one PR's reviews, whose task ids share the PR's prefix). It also appends the alert
module's ``alert_delivery_failed`` event and its ``alert_failed|{channel}`` count
(``record_alert_failure``), so that nothing above the ledger writes to the stream. It must not
change or delete an event, and must not format events for export: ``telemetry`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

INT_FIELDS = frozenset(
    {
        "ts_ms",
        "cost_nano",
        "held_nano",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "max_output_tokens",
        "latency_ms",
        "loop_step",
        "fail_open",
        "cache_creation_1h_input_tokens",
        "over_hold_nano",
        "usage_missing",
        "zeroed_nano",
        "org_zeroed_nano",
        "agent_cost_nano",
        "agent_total_cost_nano",
        "requested_nano",
    }
)
DAY_MS = 86_400_000
# How far ahead of the Redis server's clock a writer's clock may run and a month's first events still be found
# from the month's start in stream-id time (month_start_id_ms).
MONTH_MARGIN_MS = 2 * DAY_MS


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_event(entry_id: Any, raw: Mapping[Any, Any]) -> dict[str, Any]:
    """One stream entry as a dict: ``id`` first, then its fields; known numeric fields as ints."""
    event: dict[str, Any] = {"id": _s(entry_id)}
    for key, value in raw.items():
        name, text = _s(key), _s(value)
        if name in INT_FIELDS:
            try:
                event[name] = int(text)
                continue
            except ValueError:
                pass
        event[name] = text
    return event


def event_ms(event: Mapping[str, Any]) -> int:
    """When the event happened by the ledger clock (the stream id's time if ``ts_ms`` is missing)."""
    ts = event.get("ts_ms")
    if isinstance(ts, int):
        return ts
    return int(str(event["id"]).split("-", 1)[0])


def read_events(
    redis: Any,
    stream_key: str,
    *,
    workflow: str | None = None,
    types: Iterable[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch: int = 1000,
    start_id_ms: int | None = None,
    repo: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events of the stream at ``stream_key`` oldest first, filtered; read in batches so memory stays flat.
    ``start_id_ms``: skip entries whose stream id (the Redis server's clock, not the ledger's) is older."""
    wanted = set(types) if types else None
    start = str(max(0, start_id_ms)) if start_id_ms is not None else "-"
    while True:
        chunk = redis.xrange(stream_key, min=start, max="+", count=batch)
        for entry_id, raw in chunk:
            event = decode_event(entry_id, raw)
            if workflow is not None and event.get("workflow") != workflow:
                continue
            if wanted is not None and event.get("type") not in wanted:
                continue
            if repo is not None and event.get("repo", "") != repo:
                continue
            when = event_ms(event)
            if since_ms is not None and when < since_ms:
                continue
            if until_ms is not None and when >= until_ms:
                continue
            yield event
        if len(chunk) < batch:
            return
        start = "(" + _s(chunk[-1][0])


def events(
    enforcer: BudgetEnforcer,
    since_ms: int | None = None,
    workflow: str | None = None,
    *,
    until_ms: int | None = None,
    types: Iterable[str] | None = None,
    repo: str | None = None,
    start_id_ms: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The ledger's events oldest first: at or after ``since_ms`` and before ``until_ms`` (epoch ms, the
    ledger clock), of one ``workflow``, of ``types`` and of one ``repo`` (owner/name; '' : none known) when given;
    ``start_id_ms``: from that stream-id time on (``month_start_id_ms``)."""
    return read_events(
        enforcer.redis,
        enforcer.keys.events(),
        workflow=workflow,
        types=types,
        since_ms=since_ms,
        until_ms=until_ms,
        repo=repo,
        start_id_ms=start_id_ms,
    )


def month_start_id_ms(enforcer: BudgetEnforcer, month_start_ms: int) -> int | None:
    """Where in the stream (its ids' time, the Redis server's clock) a read of one month's events can start,
    or None: from the oldest.

    Stream ids follow the server's clock and the events' months the ledger's: they agree on a ledger in
    real use, so a month's events are never older than its start less ``MONTH_MARGIN_MS``, and a report
    need not read a year of retention to find one month. They do not agree for a simulated month (its
    clock is anywhere) or behind a writer whose clock runs days ahead: the newest event before that
    bound tells (one read). Written by a clock already in the month or later, the ids say nothing of
    the months, and the whole stream is read.
    """
    bound = month_start_ms - MONTH_MARGIN_MS
    if bound <= 0:
        return None
    newest = enforcer.redis.xrevrange(enforcer.keys.events(), max=str(bound - 1), min="-", count=1)
    if not newest:
        return None  # nothing before the bound to skip
    entry_id, raw = newest[0]
    return bound if event_ms(decode_event(entry_id, raw)) < month_start_ms else None


@dataclass(frozen=True)
class TaskSpend:
    """What the events of a group of tasks were charged: ``cost_nano`` in all, ``calls`` settled, and how
    many distinct ``tasks`` (for a PR's reviews: the pushes reviewed) had a call."""

    cost_nano: int = 0
    calls: int = 0
    tasks: int = 0


def task_spend(
    enforcer: BudgetEnforcer, task_prefix: str, *, workflow: str | None = None, not_before_ms: int | None = None
) -> TaskSpend:
    """The sum of the events whose task id starts with ``task_prefix`` (of ``workflow`` when given): the
    ledger is the sum of its events, so this is what those tasks cost, within the event retention.
    ``not_before_ms`` (epoch ms; e.g. when the PR was opened): no event of the group is older, so the read
    starts there instead of at the stream's first entry. Stream ids are the Redis server's clock, so the
    caller leaves a margin for clock skew."""
    if not task_prefix:
        raise ValueError("task_spend needs a non-empty task prefix")
    cost = calls = 0
    tasks: set[str] = set()
    for event in read_events(enforcer.redis, enforcer.keys.events(), workflow=workflow, start_id_ms=not_before_ms):
        task = event.get("task")
        if not isinstance(task, str) or not task.startswith(task_prefix):
            continue
        amount = event.get("cost_nano")
        cost += amount if isinstance(amount, int) else 0
        if event.get("type") == "call":
            calls += 1
            tasks.add(task)
    return TaskSpend(cost, calls, len(tasks))


def record_alert_failure(enforcer: BudgetEnforcer, fields: Mapping[str, Any], month: str, channel: str) -> None:
    """Append the alert module's ``alert_delivery_failed`` event (``fields``, empty values dropped, trimmed
    to the retention as the scripts trim) and count it in the month's stats, in one round trip."""
    ts_ms = int(fields["ts_ms"])
    retention_ms = enforcer.config.ledger.retention_days * DAY_MS
    pipe = enforcer.redis.pipeline(transaction=False)
    pipe.xadd(
        enforcer.keys.events(),
        {k: str(v) for k, v in fields.items() if v != ""},
        minid=ts_ms - retention_ms,
        approximate=True,
    )
    pipe.hincrby(enforcer.keys.stats(month), f"alert_failed|{channel}", 1)
    pipe.execute()
