"""The report's breakdown by repository: spend, calls and blocks of each repository that shared the ledger.

Owns reading the month's per-repository stats (``repo_cost|{repo}``, ``repo_calls|{repo}``,
``repo_blocked|{repo}|{reason}``, written by the ledger's scripts) into ``RepoLine`` rows, with one row
for the calls no repository was known for. The templates show the breakdown only when there is more
than one row (``Report.repos``). It must not read Redis (the report's one round trip hands the stats
in) or decide health.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from acme_ci_budget.core.money import nano_to_usd, pct

UNATTRIBUTED = ""  # the row of calls made with no repository known (shown as "(none)")


@dataclass(frozen=True)
class RepoLine:
    repo: str  # owner/name, or UNATTRIBUTED
    spend_nano: int
    calls: int
    blocked: int
    share_pct: float  # of the month's spend
    blocked_by_reason: Mapping[str, int] = field(default_factory=dict)
    cap_nano: int | None = None  # config ``repos:`` cap, when set

    @property
    def label(self) -> str:
        return self.repo or "(none)"

    def to_json(self) -> dict:
        return {
            "spend_usd": nano_to_usd(self.spend_nano),
            "spend_nano": self.spend_nano,
            "calls": self.calls,
            "blocked": self.blocked,
            "blocked_by_reason": dict(self.blocked_by_reason),
            "share_pct": self.share_pct,
            "cap_usd": None if self.cap_nano is None else nano_to_usd(self.cap_nano),
        }


def repo_lines(stats: Mapping[str, int], caps: Mapping[str, int] | None = None) -> tuple[RepoLine, ...]:
    """Rows by spend (largest first), the unattributed row last; ``stats``: the month's stats hash, numeric."""
    spend: dict[str, int] = {}
    calls: dict[str, int] = {}
    blocked: dict[str, dict[str, int]] = {}
    total_cost = total_calls = total_blocked = 0
    for name, number in stats.items():
        kind, _, rest = name.partition("|")
        if kind == "repo_cost":
            spend[rest] = number
        elif kind == "repo_calls":
            calls[rest] = number
        elif kind == "repo_blocked":
            repo, _, reason = rest.rpartition("|")
            blocked.setdefault(repo, {})[reason] = number
        elif kind in ("cost", "calls") and "|" not in rest:  # the workflow totals, not per model
            if kind == "cost":
                total_cost += number
            else:
                total_calls += number
        elif kind == "blocked":
            total_blocked += number
    repos = sorted(set(spend) | set(calls) | set(blocked), key=lambda r: (-spend.get(r, 0), r))
    caps = caps or {}
    lines = [
        RepoLine(
            repo,
            spend.get(repo, 0),
            calls.get(repo, 0),
            sum(blocked.get(repo, {}).values()),
            pct(spend.get(repo, 0), total_cost),
            blocked.get(repo, {}),
            caps.get(repo),
        )
        for repo in repos
    ]
    rest_cost = total_cost - sum(line.spend_nano for line in lines)
    rest_calls = total_calls - sum(line.calls for line in lines)
    rest_blocked = total_blocked - sum(line.blocked for line in lines)
    if rest_cost or rest_calls or rest_blocked:
        lines.append(RepoLine(UNATTRIBUTED, rest_cost, rest_calls, rest_blocked, pct(rest_cost, total_cost)))
    return tuple(lines)
