"""The month's stats hash, regrouped by workflow: what ``settle.lua``, ``reserve.lua`` and
``release.lua`` counted (calls, cost, tokens, per-model calls and cost, day costs, blocks by
reason, tasks, sessions, the ledger's flagged exceptions).

Owns the parsing of the hash's ``kind|workflow[|detail]`` fields and the model-share arithmetic.
It must not read Redis (``monthly`` reads the hash in its one round trip) or judge the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acme_ci_budget.core.money import pct
from acme_ci_budget.report.model import ModelShare

# cache_write counts every cache write; cache_write_1h those of them at the 1-hour TTL.
TOKEN_KINDS = ("input", "output", "cache_write", "cache_read", "cache_write_1h")
_TOKEN_FIELDS = {
    "tok_in": "input",
    "tok_out": "output",
    "tok_cw": "cache_write",
    "tok_cr": "cache_read",
    "tok_cw1h": "cache_write_1h",
}
# The ledger's flagged exceptions, per workflow: calls settled above their hold, replies without usage.
_FLAG_FIELDS = {"over_hold": "over_hold_calls", "over_hold_nano": "over_hold_nano", "usage_missing": "usage_missing"}


@dataclass
class ParsedStats:
    """The stats hash regrouped by workflow (mutable while parsing only)."""

    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked_unknown: int = 0

    def wf(self, wid: str) -> dict[str, Any]:
        if wid not in self.workflows:
            self.workflows[wid] = {
                "calls": 0,
                "cost": 0,
                "failed": 0,
                "tasks": 0,
                "sessions": 0,
                "blocked": {},
                "tokens": dict.fromkeys(TOKEN_KINDS, 0),
                "model_calls": {},
                "model_cost": {},
                "days": {},
                **dict.fromkeys(_FLAG_FIELDS.values(), 0),
            }
        return self.workflows[wid]

    def org_models(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for data in self.workflows.values():
            for model, cost in data["model_cost"].items():
                entry = out.setdefault(model, [0, 0])
                entry[0] += data["model_calls"].get(model, 0)
                entry[1] += cost
        return {m: (c, v) for m, (c, v) in out.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_stats(raw: Mapping[Any, Any]) -> ParsedStats:
    parsed = ParsedStats()
    for key, value in raw.items():
        name, number = _text(key), int(_text(value))
        kind, _, rest = name.partition("|")
        if kind in ("calls", "cost"):
            wid, _, model = rest.partition("|")
            data = parsed.wf(wid)
            if model:
                data["model_calls" if kind == "calls" else "model_cost"][model] = number
            else:
                data[kind] = number
        elif kind in _TOKEN_FIELDS:
            if "|" not in rest:  # tok_*|wf|model: the same tokens by model (for `metrics`), not another workflow
                parsed.wf(rest)["tokens"][_TOKEN_FIELDS[kind]] = number
        elif kind == "day_cost":
            wid, _, dd = rest.rpartition("|")
            if dd.isdigit():
                parsed.wf(wid)["days"][int(dd)] = number
        elif kind in ("tasks", "sessions", "failed"):
            parsed.wf(rest)[kind] = number
        elif kind in _FLAG_FIELDS:
            parsed.wf(rest)[_FLAG_FIELDS[kind]] = number
        elif kind == "blocked":
            # The workflow id of an unknown-workflow block is whatever the caller sent: split from the right.
            wid, _, reason = rest.rpartition("|")
            if reason == "unknown_workflow":
                parsed.blocked_unknown += number
            else:
                parsed.wf(wid)["blocked"][reason] = number
        # user_cost / user_calls / settled_without_hold: not part of this report
    return parsed


def model_shares(models: Mapping[str, tuple[int, int]]) -> tuple[ModelShare, ...]:
    total = sum(cost for _, cost in models.values())
    shares = [ModelShare(m, calls, cost, pct(cost, total)) for m, (calls, cost) in models.items()]
    return tuple(sorted(shares, key=lambda s: (-s.cost_nano, -s.calls, s.model)))
