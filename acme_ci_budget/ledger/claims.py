"""The alerts' Redis keys and the operations on them: claims, channel claims, open incidents, failure events.

Owns, for one ledger's namespace, the key names the alert module uses (``{ns}alert:<parts>`` for a
condition's once-per-period claim, ``<claim>:to:<channel>`` beside it so both hash to one cluster
slot, ``{ns}alert:blocked_seen:<month>`` for the block counts already alerted on, and the open
PagerDuty incidents hash ``Keys.incidents``, whose size the reserve script reads), the round trips
that read the figures the full alert check evaluates, that ``SET NX PX`` the claims, that
compare-and-set one channel claim (``lua/claim_cas.lua``), and that write an
``alert_delivery_failed`` event with its count in the month's stats. Spend is read here, never
written. It must not decide which alerts hold, what a claim value means, or send anything: those are
``acme_ci_budget.alerts``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.core.resources import lua_path
from acme_ci_budget.ledger.events import record_alert_failure

INCIDENT_TTL_MS = 62 * 86_400_000  # an open incident outlives the month it was paged in


@dataclass(frozen=True)
class AlertFigures:
    """What the full alert check evaluates, read in one round trip.

    ``spent`` / ``held``: per workflow, (month, day); ``stats``: the month's integer counters;
    ``seen``: block and over-hold counts already alerted on; ``incidents``: open PagerDuty
    incidents (dedup key -> JSON).
    """

    org_spent: int
    org_held: int
    spent: Mapping[str, tuple[int, int]]
    held: Mapping[str, tuple[int, int]]
    stats: Mapping[str, int]
    seen: Mapping[str, str]
    incidents: Mapping[str, str]


@dataclass(frozen=True)
class ClaimRequest:
    """One condition to claim: ``SET key value NX PX ttl_ms``, and the current values of its channel claims."""

    key: str
    value: str
    ttl_ms: int
    channel_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimReply:
    """Per request: whether this process won it, and the channel claims' values it read (None: unset)."""

    won: tuple[bool, ...]
    channel_values: tuple[tuple[Any, ...], ...]
    won_stale: tuple[str, ...]  # the stale incidents this process removed, so must resolve


class AlertClaims:
    """The alert keys of one ledger (``BudgetEnforcer``) and their round trips."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self._cas: Any = None

    @property
    def redis(self) -> Any:
        return self._ledger.redis

    def key(self, *parts: str) -> str:
        """A condition's claim key; ``parts`` are already safe for a key (``alerts`` hashes free text)."""
        return self._ledger.keys.alert(*parts)

    @staticmethod
    def channel_key(claim_key: str, channel: str) -> str:
        """The claim on one channel of one alert; beside the condition's, so in the same cluster slot."""
        return f"{claim_key}:to:{channel}"

    def seen_key(self, month: str) -> str:
        return self.key("blocked_seen", month)

    def incidents_key(self) -> str:
        return self._ledger.keys.incidents()

    def read(self, workflow_ids: Sequence[str], day: str, month: str) -> AlertFigures:
        """Spend, holds, stats, seen counts and open incidents, in one pipeline.

        GETs rather than MGET because a cluster pipeline refuses MGET. The holds count: "within one
        call of the limit" includes what calls in flight already promised.
        """
        k = self._ledger.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(k.org_spent(month))
        for wf in workflow_ids:
            pipe.get(k.wf_spent_month(wf, month))
            pipe.get(k.wf_spent_day(wf, day))
        pipe.hgetall(k.stats(month))
        pipe.hgetall(self.seen_key(month))
        pipe.hgetall(self.incidents_key())
        pipe.get(k.org_held(month))
        for wf in workflow_ids:
            pipe.get(k.wf_held_month(wf, month))
            pipe.get(k.wf_held_day(wf, day))
        raw = pipe.execute()
        n = len(workflow_ids)
        spent = {wf: (int(raw[1 + 2 * i] or 0), int(raw[2 + 2 * i] or 0)) for i, wf in enumerate(workflow_ids)}
        tail = 4 + 2 * n
        stats, seen, incidents = (_decode_hash(h) for h in raw[1 + 2 * n : tail])
        held = {
            wf: (int(raw[tail + 1 + 2 * i] or 0), int(raw[tail + 2 + 2 * i] or 0)) for i, wf in enumerate(workflow_ids)
        }
        return AlertFigures(
            org_spent=int(raw[0] or 0),
            org_held=int(raw[tail] or 0),
            spent=spent,
            held=held,
            stats={name: int(v) for name, v in stats.items() if v.lstrip("-").isdigit()},
            seen=seen,
            incidents=incidents,
        )

    def claim(
        self,
        requests: Sequence[ClaimRequest],
        seen: tuple[str, Mapping[str, int], int] | None = None,
        stale: Sequence[str] = (),
    ) -> ClaimReply:
        """One round trip: ``SET NX PX`` each request (and GET its channel claims), record the seen counts
        (``(month, counts, ttl_ms)``), and HDEL the stale incidents (HDEL answers 1 to exactly one process)."""
        pipe = self.redis.pipeline(transaction=False)
        for r in requests:
            pipe.set(r.key, r.value, nx=True, px=r.ttl_ms)
            for channel_key in r.channel_keys:
                pipe.get(channel_key)
        if seen and seen[1]:
            month, updates, ttl = seen
            pipe.hset(self.seen_key(month), mapping=dict(updates))
            pipe.pexpire(self.seen_key(month), ttl)
        for dedup in stale:
            pipe.hdel(self.incidents_key(), dedup)
        results = pipe.execute()
        won, values, i = [], [], 0
        for r in requests:
            won.append(bool(results[i]))
            values.append(tuple(results[i + 1 : i + 1 + len(r.channel_keys)]))
            i += 1 + len(r.channel_keys)
        removed = results[len(results) - len(stale) :] if stale else []
        return ClaimReply(tuple(won), tuple(values), tuple(d for d, n in zip(stale, removed, strict=True) if n))

    def take(self, claims: Sequence[tuple[str, str, int]]) -> list[bool]:
        """``SET key value NX PX ttl_ms`` for each (key, value, ttl_ms), in one round trip."""
        if not claims:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for key, value, ttl_ms in claims:
            pipe.set(key, value, nx=True, px=ttl_ms)
        return [bool(ok) for ok in pipe.execute()]

    def swap(self, key: str, expected: str, value: str) -> bool:
        """Compare-and-set one channel claim (keeps its TTL); False when another process changed it first."""
        if self._cas is None:
            self._cas = self.redis.register_script(lua_path("claim_cas.lua").read_text())
        return bool(self._cas(keys=[key], args=[expected, value]))

    def save_incident(self, dedup_key: str, info: Mapping[str, Any]) -> None:
        """Record (or put back, with a retry time) an open PagerDuty incident."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.incidents_key(), dedup_key, json.dumps(dict(info)))
        pipe.pexpire(self.incidents_key(), INCIDENT_TTL_MS)
        pipe.execute()

    def record_failure(self, fields: Mapping[str, Any], month: str, channel: str) -> None:
        """An ``alert_delivery_failed`` event (``fields``, with ``ts_ms``) and its ``alert_failed|channel``
        count in the month's stats: the ledger's one writer of that event (``ledger.events``)."""
        record_alert_failure(self._ledger, fields, month, channel)


def _decode_hash(raw: Mapping[Any, Any] | None) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
        for k, v in (raw or {}).items()
    }


__all__ = ["INCIDENT_TTL_MS", "AlertClaims", "AlertFigures", "ClaimReply", "ClaimRequest"]
