"""The ledger's status reads: spend, holds, health and overruns of today and this month.

Owns what ``status``, the router's budget pressure and the review summary read from the ledger,
in one round trip each (``lua/status.lua``), with expired holds purged first so that a crashed
worker's hold is never shown as held; and the plain month reads of the layers above (the report,
the alert check, the simulator): the month's stats hash and its spend/held counters, pipelined into
one round trip (``month_figures``, ``month_stats``); and everything ``metrics`` publishes, counters and
the whole stats hash in the status script's one round trip (``metrics_snapshot``); and the server's
own settings that put the money at risk (``server_warnings``: its eviction policy). ``BudgetEnforcer``
inherits these methods; this module holds no money-path logic and must not reserve, settle, release or write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acme_ci_budget.budget.health import health_level, refusal_fields, refused_counts
from acme_ci_budget.core.clock import Clock
from acme_ci_budget.core.money import nano_to_usd, pct
from acme_ci_budget.ledger.errors import is_connection_error
from acme_ci_budget.ledger.results import REPO_MONTHLY
from acme_ci_budget.ledger.server_policy import eviction_warnings

__all__ = ["MonthFigures", "StatusReads", "is_connection_error"]

# Month stats per workflow that status shows next to the counters.
_STAT_FIELDS = ("over_hold", "over_hold_nano", "usage_missing")


@dataclass(frozen=True)
class MonthFigures:
    """A month as the ledger holds it, read in one round trip (``StatusReads.month_figures``).

    ``stats``: the month's stats hash, its numeric fields (``calls|wf``, ``cost|wf|model`` ...);
    ``counters``: spent/held under the status names (``org_spent``, ``org_held``, ``<wf>:m_spent``,
    ``<wf>:m_held`` and, when a day was asked for, ``<wf>:d_spent`` / ``<wf>:d_held``);
    ``hashes``: the extra hashes asked for (the alert module's own state), decoded, in order.
    """

    stats: Mapping[str, int]
    counters: Mapping[str, int]
    hashes: tuple[Mapping[str, str], ...] = ()


class StatusReads:
    """Mixin of ``BudgetEnforcer``: needs its ``config``, ``keys``, ``redis``, ``_status`` script,
    ``now``/``periods``/``_ms``, ``_retention_ms`` and ``_unreachable``."""

    config: Any
    keys: Any
    redis: Any
    _status: Any
    _retention_ms: int
    now: Clock
    periods: Callable[..., tuple[str, str]]
    _ms: Callable[[datetime], int]
    _unreachable: Callable[[Exception], Exception]

    def server_warnings(self) -> list[str]:
        """What in the Redis server's own settings puts the money at risk: a memory limit with an eviction
        policy other than noeviction (``server_policy``), one line each; one INFO read (every cluster master)."""
        try:
            return eviction_warnings(self.redis)
        except Exception as exc:
            if is_connection_error(exc):
                raise self._unreachable(exc) from None
            raise

    def _read_counters(self, now: datetime | None = None, stats: bool = True) -> dict[str, int]:
        """Every spent/held counter of today and this month (and the month's overrun stats), one round trip.

        Expired holds are purged first (up to 1,000 a read), so ``*_held`` never counts them;
        ``expired_holds_left`` says how many the bound left for the next read.
        """
        return self._read(now, stats)[0]

    def _read(
        self, now: datetime | None = None, stats: bool = True, whole_stats: bool = False
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The counters (``_read_counters``) and, with ``whole_stats``, the month's whole stats hash
        (numeric fields), in the same round trip."""
        now = now or self.now()
        day, month = self.periods(now)
        k = self.keys
        names = {"org_spent": k.org_spent(month), "org_held": k.org_held(month)}
        for wf in self.config.workflows:
            names[f"{wf}:m_spent"] = k.wf_spent_month(wf, month)
            names[f"{wf}:m_held"] = k.wf_held_month(wf, month)
            names[f"{wf}:d_spent"] = k.wf_spent_day(wf, day)
            names[f"{wf}:d_held"] = k.wf_held_day(wf, day)
        for repo in self.config.repos:  # the capped repositories' month counters ride along
            names[f"repo:{repo}:m_spent"] = k.repo_spent(repo, month)
            names[f"repo:{repo}:m_held"] = k.repo_held(repo, month)
        fields = []
        if stats:
            fields = [f"repo_blocked|{repo}|{REPO_MONTHLY}" for repo in self.config.repos]
            # the month's money-limit refusals ride along: health needs them (a refused call is CRIT)
            fields += [f"{stat}|{wf}" for wf in self.config.workflows for stat in _STAT_FIELDS]
            fields += refusal_fields(self.config.workflows)
        try:
            raw = self._status(
                keys=[k.holds(), k.events(), k.stats(month), *names.values()],
                args=[self._ms(now), k.p, self._retention_ms, self._retention_ms, int(whole_stats), *fields],
            )
        except Exception as exc:
            if is_connection_error(exc):
                raise self._unreachable(exc) from None
            raise
        end = 2 + len(names) + len(fields)
        values = [int(v) for v in raw[:end]]
        out = dict(zip(names, values[2 : 2 + len(names)], strict=True))
        out.update(zip(fields, values[2 + len(names) :], strict=True))
        out["holds_purged"], out["expired_holds_left"] = values[0], values[1]
        pairs = raw[end:]
        return out, _numeric(dict(zip(pairs[::2], pairs[1::2], strict=True)))

    def get_org_status(self, counters: Mapping[str, int] | None = None) -> dict:
        c = counters if counters is not None else self._read_counters()
        budget = self.config.org_monthly_nano
        spent, held = c["org_spent"], c["org_held"]
        threshold = int(budget * (1 - self.config.reserve_pct))
        state = "exhausted" if spent >= budget else "reserve" if spent > threshold else "normal"
        over_calls = sum(c.get(f"over_hold|{wf}", 0) for wf in self.config.workflows)
        over_nano = sum(c.get(f"over_hold_nano|{wf}", 0) for wf in self.config.workflows)
        return {
            "spend": nano_to_usd(spent),
            "spend_nano": spent,
            "budget": nano_to_usd(budget),
            "budget_nano": budget,
            "pct": pct(spent, budget),
            "held_usd": nano_to_usd(held),
            "held_nano": held,
            "remaining": nano_to_usd(budget - spent - held),
            "reserve_ratio": self.config.reserve_pct,  # a fraction (0.2 = 20%); every *_pct field is a percent
            "reserve_threshold": nano_to_usd(threshold),
            "reserve_state": state,
            "in_reserve": state != "normal",
            "over_hold_calls": over_calls,
            "over_hold_nano": over_nano,
            "over_hold_usd": nano_to_usd(over_nano),
            "usage_missing_calls": sum(c.get(f"usage_missing|{wf}", 0) for wf in self.config.workflows),
        }

    def refusals(self, counters: Mapping[str, int] | None = None) -> dict[str, int]:
        """This month's money-limit refusals for health: {wf: monthly-limit blocks, "org": org-limit blocks}."""
        c = counters if counters is not None else self._read_counters()
        return refused_counts(c, self.config.workflows)

    def workflow_status(
        self, workflow_id: str, counters: Mapping[str, int] | None = None, refused: Mapping[str, int] | None = None
    ) -> dict:
        c = counters if counters is not None else self._read_counters()
        refused = refused if refused is not None else self.refusals(c)
        wf = self.config.workflow(workflow_id)
        d_s, d_h = c[f"{workflow_id}:d_spent"], c[f"{workflow_id}:d_held"]
        m_s = c[f"{workflow_id}:m_spent"]
        org = self.get_org_status(c)
        daily_pct, monthly_pct = pct(d_s, wf.daily_nano), pct(m_s, wf.monthly_nano)
        over_nano = c.get(f"over_hold_nano|{workflow_id}", 0)
        return {
            "label": wf.label,
            "daily_spend": nano_to_usd(d_s),
            "daily_limit": wf.daily_usd,
            "daily_pct": daily_pct,
            "monthly_spend": nano_to_usd(m_s),
            "monthly_limit": wf.monthly_usd,
            "monthly_pct": monthly_pct,
            "held_usd": nano_to_usd(d_h),
            "health": self.health(daily_pct, monthly_pct, org, workflow_id, c, refused),
            "daily_spend_nano": d_s,
            "monthly_spend_nano": m_s,
            "held_nano": d_h,
            "over_hold_calls": c.get(f"over_hold|{workflow_id}", 0),
            "over_hold_nano": over_nano,
            "over_hold_usd": nano_to_usd(over_nano),
            "usage_missing_calls": c.get(f"usage_missing|{workflow_id}", 0),
        }

    def health(
        self,
        daily_pct: float,
        monthly_pct: float,
        org: Mapping[str, Any],
        workflow_id: str | None = None,
        counters: Mapping[str, int] | None = None,
        refused: Mapping[str, int] | None = None,
    ) -> str:
        """OK / WARN / CRIT; the rule (a refused call or less than one call left is CRIT) is ``health.health_level``."""
        return health_level(self.config, daily_pct, monthly_pct, org, workflow_id, counters, refused).level

    def get_all_status(self) -> dict:
        counters = self._read_counters()
        refused = self.refusals(counters)
        return {wf: self.workflow_status(wf, counters, refused) for wf in self.config.workflows}

    def status_snapshot(self) -> dict:
        """Everything ``status`` shows, from one round trip (counters, overruns and refusals in one script)."""
        return self._snapshot(whole_stats=False)

    def metrics_snapshot(self) -> dict:
        """``status_snapshot`` plus each workflow's month held (``month_held_nano``) and the month's whole
        stats hash (``stats``: calls, blocks, tokens, daily cost by workflow and model), from the same one
        round trip: what ``metrics`` publishes."""
        return self._snapshot(whole_stats=True)

    def _snapshot(self, whole_stats: bool) -> dict:
        now = self.now()
        counters, stats = self._read(now, whole_stats=whole_stats)
        refused = self.refusals(counters)
        day, month = self.periods(now)
        snapshot = {
            "day": day,
            "month": month,
            "timezone": self.config.timezone,
            "org": self.get_org_status(counters),
            "workflows": {wf: self.workflow_status(wf, counters, refused) for wf in self.config.workflows},
            "expired_holds_left": counters["expired_holds_left"],
            **({"repos": self.repo_status(counters)} if self.config.repos else {}),
        }
        if whole_stats:
            snapshot["month_held_nano"] = {wf: counters[f"{wf}:m_held"] for wf in self.config.workflows}
            snapshot["stats"] = stats
        return snapshot

    def repo_status(self, counters: Mapping[str, int] | None = None) -> dict[str, dict]:
        """Each capped repository's month (config ``repos:``): spend, held and refusals against its cap."""
        c = counters if counters is not None else self._read_counters()
        out = {}
        for repo, cap in self.config.repos.items():
            spent, held = c.get(f"repo:{repo}:m_spent", 0), c.get(f"repo:{repo}:m_held", 0)
            out[repo] = {
                "monthly_spend": nano_to_usd(spent),
                "monthly_limit": cap.monthly_usd,
                "monthly_pct": pct(spent, cap.monthly_nano),
                "held_usd": nano_to_usd(held),
                "remaining": nano_to_usd(cap.monthly_nano - spent - held),
                "blocked": c.get(f"repo_blocked|{repo}|{REPO_MONTHLY}", 0),
                "monthly_spend_nano": spent,
                "monthly_limit_nano": cap.monthly_nano,
                "held_nano": held,
            }
        return out

    def pressure(self, workflow_id: str) -> tuple[bool, float]:
        """(org in reserve, share of the workflow's month spent) for the router, one round trip."""
        counters = self._read_counters(stats=False)
        wf = self.config.workflows.get(workflow_id)
        org = self.get_org_status(counters)
        share = counters.get(f"{workflow_id}:m_spent", 0) / wf.monthly_nano if wf and wf.monthly_nano else 0.0
        return org["in_reserve"], share

    def month_figures(
        self,
        month: str,
        day: str | None = None,
        workflows: Iterable[str] | None = None,
        *,
        day_held: bool = True,
        hashes: Iterable[str] = (),
    ) -> MonthFigures:
        """The month's stats and counters of ``workflows`` (default: the config's), with ``day``'s spend
        (and held, unless ``day_held=False``) when given, and the ``hashes`` keys read alongside.

        Plain reads, no purge: a hold past its TTL still counts until a money-path script or a status
        read gives it back (as the alert check and the report have always read it).
        """
        k = self.keys
        names = {"org_spent": k.org_spent(month), "org_held": k.org_held(month)}
        for wf in self.config.workflows if workflows is None else workflows:
            names[f"{wf}:m_spent"] = k.wf_spent_month(wf, month)
            names[f"{wf}:m_held"] = k.wf_held_month(wf, month)
            if day is not None:
                names[f"{wf}:d_spent"] = k.wf_spent_day(wf, day)
                if day_held:
                    names[f"{wf}:d_held"] = k.wf_held_day(wf, day)
        extra = list(hashes)
        # GETs rather than one MGET: a cluster pipeline refuses MGET, and every key shares the namespace's
        # hash tag, so either way the whole batch goes to one node in one round trip.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.stats(month))
        for key in extra:
            pipe.hgetall(key)
        for key in names.values():
            pipe.get(key)
        stats, *rest = pipe.execute()
        read = rest[: len(extra)]
        values = rest[len(extra) :]
        return MonthFigures(
            stats=_numeric(stats),
            counters={name: int(v or 0) for name, v in zip(names, values, strict=True)},
            hashes=tuple({_text(a): _text(b) for a, b in (h or {}).items()} for h in read),
        )

    def month_stats(self, month: str) -> dict[str, int]:
        """The month's stats hash (calls, cost, tokens, blocks, overruns per workflow and model), numeric fields."""
        return _numeric(self.redis.hgetall(self.keys.stats(month)))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _numeric(raw: Mapping[Any, Any]) -> dict[str, int]:
    """A stats hash decoded: its integer fields as ints (anything else is not a count and is left out)."""
    out = {}
    for key, value in raw.items():
        text = _text(value)
        if text.lstrip("-").isdigit():
            out[_text(key)] = int(text)
    return out
