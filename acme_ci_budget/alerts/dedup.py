"""Alert dedup: each condition fires once per period and threshold, each channel delivers it once.

Owns deciding, from the claims in Redis (``ledger.claims``: ``SET NX PX`` to the end of the period
plus a day, under the namespace's hash tag), which conditions this process must act on: a
condition it won fires (log, GitHub, returned) and takes a claim on each outside channel it is
meant for (``<claim>:to:<channel>``); one another process fired comes back only when a channel's
delivery failed transiently and its retry is due, taken over by compare-and-set. Also what a
channel's claim says after a delivery (sent, refused for good, due again after a wait), the
local memory of claims known settled (so the per-call check sends nothing to Redis for them),
which warn is superseded by its critical, and which open PagerDuty incidents are stale. It must
not evaluate conditions, word or send anything; the claim values are ``alerts.delivery``'s.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from acme_ci_budget.alerts.alert import RANK, Alert, Condition
from acme_ci_budget.alerts.delivery import FAILED, SENT, Delivery, due_ms, pending_value, retry_value
from acme_ci_budget.alerts.scrubbing import LOGGER, describe
from acme_ci_budget.ledger.claims import AlertClaims, ClaimRequest

log = logging.getLogger(LOGGER)

# Claims outlive their period by a day so processes whose clocks disagree a little still agree.
_DEDUP_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Pending:
    """A condition with its claim key; after ``Dedup.claim``, whether this process fires it (``fire``) or only
    owes a redelivery, and the channel claims it holds as (channel, the value it wrote there)."""

    condition: Condition
    claim_key: str
    ttl_ms: int
    fire: bool = True
    held: tuple[tuple[str, str], ...] = ()

    @property
    def alert(self) -> Alert:
        return self.condition.alert

    @property
    def group(self) -> str:
        return self.condition.group

    @property
    def incident_kind(self) -> str:
        return self.condition.incident_kind


def period_end(now: datetime, tz: Any, kind: str) -> datetime:
    """Local midnight starting the next day / month in ``tz``."""
    local = now.astimezone(tz)
    if kind == "day":
        nxt = local.date() + timedelta(days=1)
    else:
        nxt = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


def ttl_ms(now: datetime, tz: Any, kind: str) -> int:
    """How long a claim on a ``kind`` (day / month) period lives: to its end, plus the margin."""
    end = period_end(now, tz, kind) + _DEDUP_MARGIN
    return max(int((end.astimezone(UTC) - now.astimezone(UTC)).total_seconds() * 1000), 1000)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def group_tops(items: Iterable[Pending]) -> dict[str, int]:
    """The highest level that fires in each warn / critical group: a lower one is superseded, never sent."""
    top: dict[str, int] = {}
    for p in items:
        if p.group and p.fire:
            top[p.group] = max(top.get(p.group, -1), RANK[p.alert.level])
    return top


def stale_incidents(
    incidents: Mapping[str, str], current: Mapping[str, str], now_ms: int, workflow_id: str | None
) -> dict[str, dict]:
    """Open PagerDuty incidents of a period that is over (``current``: kind -> this period), whose
    resolve is due (a failed one waits for its retry time), for ``workflow_id`` (None: any)."""
    out = {}
    for dedup, text in incidents.items():
        info = _loads(text)
        if (
            info
            and info.get("period") != current.get(info.get("kind", ""), info.get("period"))
            and _int(info.get("retry_at_ms")) <= now_ms
            and (workflow_id is None or info.get("workflow") in (workflow_id, None))
        ):
            out[dedup] = info
    return out


class Dedup:
    """The claims of one manager: in Redis through ``claims``, remembered locally until they expire."""

    def __init__(self, claims: Callable[[], AlertClaims], tz: Any, redeliver_after: float) -> None:
        self._claims = claims  # the ledger is made on first use (``alerts test`` needs no Redis)
        self.tz = tz
        self.redeliver_after = redeliver_after
        # Claim keys known to be settled in Redis, until they expire (or a channel's retry falls due).
        self._claimed: dict[str, datetime] = {}
        self._lock = threading.Lock()

    @property
    def claims(self) -> AlertClaims:
        return self._claims()

    def pending(self, conditions: Iterable[Condition], now: datetime) -> list[Pending]:
        return [Pending(c, self.claims.key(*c.claim), ttl_ms(now, self.tz, c.period)) for c in conditions]

    def unclaimed(self, pending: Iterable[Pending], now: datetime) -> list[Pending]:
        """Those not known (locally) to be claimed already."""
        with self._lock:
            return [p for p in pending if self._claimed.get(p.claim_key, now) <= now]

    def claim(
        self,
        pending: Sequence[Pending],
        now: datetime,
        channels_for: Callable[[Alert], tuple[str, ...]],
        seen: tuple[str, Mapping[str, int], int] | None = None,
        stale: Sequence[str] = (),
    ) -> tuple[list[Pending], list[str]]:
        """SET NX each new condition's claim in one round trip (with the seen counts and stale incidents).

        Returns the conditions this process must act on, and the stale incidents it won (and so must
        resolve). A condition it won comes back with ``fire`` set and a claim on each channel it is meant
        for; one another process fired comes back (``fire`` unset) only when a channel's delivery failed
        transiently and its retry is due, holding just that channel.
        """
        now_ms = ms(now)
        key = AlertClaims.channel_key
        with self._lock:
            self._claimed = {k: until for k, until in self._claimed.items() if until > now}
            todo = [
                (p, channels)
                for p, channels in ((p, channels_for(p.alert)) for p in pending)
                if any(k not in self._claimed for k in (p.claim_key, *(key(p.claim_key, c) for c in channels)))
            ]
        if not todo and not (seen and seen[1]) and not stale:
            return [], []
        reply = self.claims.claim(
            [
                ClaimRequest(p.claim_key, p.alert.dedup_key, p.ttl_ms, tuple(key(p.claim_key, c) for c in ch))
                for p, ch in todo
            ],
            seen,
            stale,
        )
        cache: dict[str, datetime] = {}
        fired: list[tuple[Pending, tuple[str, ...]]] = []
        owed: dict[int, list[tuple[str, str]]] = {}  # todo index -> (channel, the due value seen)
        for n, ((p, channels), won, values) in enumerate(zip(todo, reply.won, reply.channel_values, strict=True)):
            until = now + timedelta(milliseconds=p.ttl_ms)
            cache[p.claim_key] = until
            if won:
                fired.append((p, channels))
                continue
            for channel, value in zip(channels, values, strict=True):
                due = due_ms(value)
                if value is None:
                    # Fired before this channel was switched on, or by a manager that sends nothing: not
                    # owed. Looked at again later in case its claimant has not written it yet.
                    cache[key(p.claim_key, channel)] = min(until, now + timedelta(seconds=self.redeliver_after))
                elif due is None:
                    cache[key(p.claim_key, channel)] = until  # sent, or refused for good
                elif due > now_ms:
                    cache[key(p.claim_key, channel)] = now + timedelta(milliseconds=due - now_ms)
                else:
                    owed.setdefault(n, []).append((channel, value.decode() if isinstance(value, bytes) else value))
        held = self._hold_channels(fired, owed, todo, now_ms)
        for p, _channels in todo:
            for channel, _value in held.get(p.claim_key, ()):
                cache[key(p.claim_key, channel)] = now + timedelta(milliseconds=p.ttl_ms)
        with self._lock:
            self._claimed.update(cache)
        fired_keys = {p.claim_key for p, _ in fired}
        out = [
            replace(p, fire=p.claim_key in fired_keys, held=tuple(held.get(p.claim_key, ())))
            for p, _ in todo
            if p.claim_key in fired_keys or held.get(p.claim_key)
        ]
        return out, list(reply.won_stale)

    def _hold_channels(
        self,
        fired: list[tuple[Pending, tuple[str, ...]]],
        owed: Mapping[int, list[tuple[str, str]]],
        todo: list[tuple[Pending, tuple[str, ...]]],
        now_ms: int,
    ) -> dict[str, list[tuple[str, str]]]:
        """Take the channel claims: every channel of a condition just won, and each due retry (compare-and-set)."""
        held: dict[str, list[tuple[str, str]]] = {}
        top = group_tops(p for p, _ in fired)
        key = AlertClaims.channel_key
        plan = [
            (p, channel, pending_value(now_ms))
            for p, channels in fired
            if not (p.group and RANK[p.alert.level] < top[p.group])  # superseded: nothing to send, ever
            for channel in channels
        ]
        taken = self.claims.take([(key(p.claim_key, channel), value, p.ttl_ms) for p, channel, value in plan])
        for (p, channel, value), ok in zip(plan, taken, strict=True):
            if ok:
                held.setdefault(p.claim_key, []).append((channel, value))
        for n, due in owed.items():
            p = todo[n][0]
            for channel, seen in due:
                value = pending_value(now_ms)
                if self.claims.swap(key(p.claim_key, channel), seen, value):
                    held.setdefault(p.claim_key, []).append((channel, value))
        return held

    def settle(self, p: Pending, channel: str, value: str, result: Delivery, now: datetime) -> None:
        """Record a channel's outcome on its claim: sent, refused for good, or due again after a wait."""
        key = AlertClaims.channel_key(p.claim_key, channel)
        if result.ok:
            final = SENT
        elif not result.retryable:
            final = FAILED
        else:
            wait = max(self.redeliver_after, result.retry_after or 0.0)
            final = retry_value(ms(now) + int(wait * 1000))
            with self._lock:
                self._claimed[key] = now + timedelta(seconds=wait)
        try:
            self.claims.swap(key, value, final)
        except Exception as exc:  # the claim then goes stale and another check takes it over
            log.warning("could not record the %s delivery outcome: %s", channel, describe(exc))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _loads(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


__all__ = ["Dedup", "Pending", "group_tops", "ms", "period_end", "stale_incidents", "ttl_ms"]
