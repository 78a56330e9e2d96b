"""What the month's caching saved and what its blocks prevented, in nano-USD, from the ledger's events.

Owns two figures the counters cannot give (they keep tokens per workflow, not per model):

- caching saved: each call's cache read tokens priced as plain input minus what they cost as cache
  reads, at that call's model and price tier (``cost_nano`` with the reads moved to input, minus the
  call's cost with them as reads), so a 1M-token prompt tier is priced as the API bills it;
- blocks prevented: each refused request's worst case (its input priced as input, its max_tokens as
  output, at the model it asked for), the amount the ledger would have held had it fitted.

It reads the month's ``call`` and ``block`` events once (``ledger.events``, from where the month can
start in the stream, ``month_start_id_ms``, filtered on the event's ``month`` field, which is the month
the counters were charged to); events older than the ledger's
retention are gone, so ``complete`` says whether the whole month was still there. A model with no
price (a block for a misspelt model) is counted in ``unpriced``, never guessed. It must not write,
render or decide advice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from acme_ci_budget.catalog.pricing import UnknownModelError, cost_nano
from acme_ci_budget.ledger.events import events, month_start_id_ms


@dataclass(frozen=True)
class Savings:
    cache_saved_nano: int
    blocked_worst_case_nano: int
    by_workflow: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # wid -> (cache saved, prevented)
    complete: bool = True  # every event of the month was still in the stream
    unpriced: int = 0  # events whose model has no price

    def cache_saved_for(self, workflow_id: str) -> int:
        return self.by_workflow.get(workflow_id, (0, 0))[0]

    def prevented_for(self, workflow_id: str) -> int:
        return self.by_workflow.get(workflow_id, (0, 0))[1]


def call_cache_saving(event: Mapping[str, Any], overrides: Mapping[str, object] | None) -> int:
    """What one settled call's cache reads saved against paying for them as input (0 without reads)."""
    read = int(event.get("cache_read_input_tokens", 0) or 0)
    if not read:
        return 0
    model = str(event.get("model", ""))
    inp = int(event.get("input_tokens", 0) or 0)
    out = int(event.get("output_tokens", 0) or 0)
    cw = int(event.get("cache_creation_input_tokens", 0) or 0)
    cw1h = int(event.get("cache_creation_1h_input_tokens", 0) or 0)
    as_input = cost_nano(model, inp + read, out, cw - cw1h, 0, overrides, cache_write_1h_tokens=cw1h)
    as_read = cost_nano(model, inp, out, cw - cw1h, read, overrides, cache_write_1h_tokens=cw1h)
    return max(0, as_input - as_read)


def block_worst_case(event: Mapping[str, Any], overrides: Mapping[str, object] | None) -> int:
    """A refused request's worst case: its input as input and its max_tokens as output."""
    model = str(event.get("model", ""))
    return cost_nano(
        model, int(event.get("input_tokens", 0) or 0), int(event.get("max_output_tokens", 0) or 0), 0, 0, overrides
    )


def summarize(
    events: Iterable[Mapping[str, Any]], month: str, overrides: Mapping[str, object] | None, complete: bool
) -> Savings:
    """The month's savings from its events (any order; events of other months are skipped)."""
    per: dict[str, list[int]] = {}
    unpriced = 0
    for event in events:
        if event.get("month") != month:
            continue
        kind = event.get("type")
        try:
            if kind == "call":
                amount, slot = call_cache_saving(event, overrides), 0
            elif kind == "block":
                amount, slot = block_worst_case(event, overrides), 1
            else:
                continue
        except UnknownModelError:
            unpriced += 1
            continue
        if amount:
            per.setdefault(str(event.get("workflow", "")), [0, 0])[slot] += amount
    by_workflow = {wid: (v[0], v[1]) for wid, v in sorted(per.items())}
    return Savings(
        cache_saved_nano=sum(v[0] for v in by_workflow.values()),
        blocked_worst_case_nano=sum(v[1] for v in by_workflow.values()),
        by_workflow=by_workflow,
        complete=complete,
        unpriced=unpriced,
    )


def read_savings(enforcer: Any, month: str, month_start: datetime) -> Savings:
    """Read the month's call and block events once and sum what caching saved and blocks prevented."""
    kept_since = enforcer.now().timestamp() - enforcer.config.ledger.retention_days * 86_400
    complete = month_start.timestamp() >= kept_since
    start = month_start_id_ms(enforcer, int(month_start.timestamp() * 1000))  # not the whole retention
    stream = events(enforcer, types=("call", "block"), start_id_ms=start)
    return summarize(stream, month, enforcer.config.pricing, complete)
