"""Agent runs on the ledger: a USD hold for a run whose cost is known only at its end, and its settle.

Owns the money path of an agent run (a Claude Code run, ``acme-ci-budget run`` and the action's
``reserve`` / ``settle``): ``reserve_run`` holds the least of the amount asked for and the room left
under every money limit (org month, workflow month, workflow day, the repository's ``repos:`` cap:
spent + held), atomically in
``lua/reserve_run.lua``, refusing when that room is below a minimum useful amount; ``load_run`` finds a
run's reservation again from its id (the run record the script keeps beside the hold, so another
process can settle it); ``settle_run`` prices each model's tokens at our prices (``catalog.pricing``, at
the base tier: the usage is summed over the run's requests, whose prompt sizes are unknown), records
the agent's own cost estimate beside them, and settles every line in one round trip
(``lua/settle_run.lua``): a cost above the hold is recorded and flagged ``over_hold_nano``, a run
without usage is charged its full hold, flagged ``usage_missing``. Releasing a run that never started
is ``BudgetEnforcer.release``. Functions taking a ``BudgetEnforcer``, which re-exposes them as methods.
It must not start or watch a process, read an agent's output format, or print: ``runs`` and
``integrations.claude_code`` do.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from acme_ci_budget.catalog.pricing import UnknownModelError, cost_nano
from acme_ci_budget.ledger.args import event_dict, event_fields, identity, period_keys, repo_cap
from acme_ci_budget.ledger.draft import check_counts
from acme_ci_budget.ledger.errors import SettleError, is_connection_error
from acme_ci_budget.ledger.results import Reservation, Settlement, settlement_from_reply, text
from acme_ci_budget.ledger.scripts import load_script, run_script

if TYPE_CHECKING:
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

log = logging.getLogger("acme_ci_budget.ledger")

# The least a capped hold may be: a Claude Code run's first turn alone (its system prompt and tools,
# ~15-20k tokens written to the cache) costs a few cents on the strong model, so a hold squeezed
# below $0.10 by the room left would stop the run before it did anything useful. A request below it
# is held whole when it fits (the caller asked for a small run on purpose).
MIN_RUN_HOLD_NANO = 100_000_000
# The model line of a run settled without usage: no model is known, the hold is charged as itself.
USAGE_MISSING_MODEL = "agent-usage-missing"
MAX_LINES = 32  # settle_run.lua's limit; a run that used more models folds the rest into its last line
_RUN_ID = re.compile(r"run-[0-9a-f]{32}")


class RunUsage(NamedTuple):
    """One model's usage in an agent run, as the agent reported it (plain numbers, no agent's format)."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    agent_cost_nano: int | None = None  # the agent's own estimate for this model (None: it gave none)


@dataclass(frozen=True)
class RunLine:
    """What a settle charged for one model: the tokens, our cost, the agent's estimate, and how it was priced."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_nano: int
    agent_cost_nano: int | None
    priced_by: str  # "pricing" (our prices) | "agent" (a model we hold no price for) | "hold" (no usage)


@dataclass(frozen=True)
class RunSettlement:
    """A settled run: the ledger's ``Settlement`` (cost, spend after, over-hold), and its lines."""

    settlement: Settlement
    lines: tuple[RunLine, ...]
    agent_cost_nano: int | None  # the agent's own estimate of the whole run (None: it gave none)

    @property
    def cost_nano(self) -> int:
        return self.settlement.cost_nano

    def tokens(self, field: str) -> int:
        """The run's total of one token field of its lines (``input_tokens``, ``cache_read_tokens`` ...)."""
        return sum(getattr(line, field) for line in self.lines)

    @property
    def models(self) -> tuple[str, ...]:
        """The models the run used, the costliest first."""
        return tuple(line.model for line in sorted(self.lines, key=lambda line: -line.cost_nano))


def reserve_run(
    enforcer: BudgetEnforcer,
    workflow_id: str,
    requested_nano: int,
    ttl_seconds: float,
    *,
    minimum_nano: int | None = None,
    task_id: str | None = None,
    user_id: str | None = None,
) -> Reservation:
    """Hold ``min(requested_nano, the room under every money limit)`` for an agent run, or refuse it.

    Refused (``allowed`` False, ``reason`` the tightest limit) when the room is below ``minimum_nano``
    (default: ``MIN_RUN_HOLD_NANO``, or the request when it is smaller). ``held_nano`` is the amount
    held; the hold expires ``ttl_seconds`` from now (it must cover the run and its settle).
    """
    wf = enforcer.config.workflow(workflow_id)
    if isinstance(requested_nano, bool) or not isinstance(requested_nano, int) or requested_nano < 1:
        raise SettleError(f"an agent run needs a positive amount to hold (got {requested_nano!r})")
    minimum = min(MIN_RUN_HOLD_NANO, requested_nano) if minimum_nano is None else minimum_nano
    if not 1 <= minimum <= requested_nano:
        raise SettleError(f"the minimum hold ({minimum} nano-USD) must be between 1 and the request")
    now = enforcer.now()
    day, month = enforcer.periods(now)
    draft = run_reservation("run-" + os.urandom(16).hex(), workflow_id, 0, day, month, False, task_id, user_id,
                            repo=enforcer.repo)
    k, retention = enforcer.keys, enforcer._retention_ms
    *counters, stats, events, _incidents = period_keys(k, workflow_id, month, day)  # holds .. wf held day
    keys = [
        *counters,
        k.hold(draft.id),
        run_key(enforcer, draft.id),
        stats,
        events,
        k.repo_spent(draft.repo, month),
        k.repo_held(draft.repo, month),
    ]
    fields = event_fields(**identity(draft), agent="claude-code")
    ttl_ms = max(1, int(ttl_seconds * 1000))
    args = [int(now.timestamp() * 1000), ttl_ms, draft.id, requested_nano, minimum, enforcer.config.org_monthly_nano,
            wf.monthly_nano, wf.daily_nano, workflow_id, k.p, retention, retention, fields, day, month, retention,
            draft.repo, repo_cap(enforcer.config, draft.repo)]
    raw = _run(enforcer, "reserve_run.lua", keys, args)
    allowed, held = bool(int(raw[0])), int(text(raw[2]))
    org_s, org_h, m_s, m_h, d_s, d_h = (int(text(x)) for x in raw[3:9])
    headroom = {
        "org_remaining_nano": enforcer.config.org_monthly_nano - org_s - org_h - held,
        "monthly_remaining_nano": wf.monthly_nano - m_s - m_h - held,
        "daily_remaining_nano": wf.daily_nano - d_s - d_h - held,
        "org_spent_nano": org_s,
        "monthly_spent_nano": m_s,
        "daily_spent_nano": d_s,
    }
    return Reservation(**{**draft.__dict__, "allowed": allowed, "reason": text(raw[1]), "held_nano": held,
                          "headroom": headroom})


def _run(enforcer: BudgetEnforcer, script: str, keys: list[str], args: list) -> Any:
    """One agent-run script; Redis out of reach is ``LedgerUnavailable`` naming the redacted URL (an agent
    run never fails open: nothing would cap what it spends)."""
    try:
        return run_script(load_script(enforcer.redis, script), keys, args)
    except Exception as exc:
        raise _unreachable(enforcer, exc) from None


def _unreachable(enforcer: BudgetEnforcer, exc: Exception) -> Exception:
    return enforcer._unreachable(exc) if is_connection_error(exc) else exc


def run_key(enforcer: BudgetEnforcer, res_id: str) -> str:
    """The run record of reservation ``res_id`` (kept beside its hold for the retention)."""
    return f"{enforcer.keys.p}run:{res_id}"


def load_run(enforcer: BudgetEnforcer, res_id: str) -> Reservation | None:
    """The run reservation ``res_id`` as ``reserve_run`` made it (None: the ledger knows no such run).

    An id that is not a run reservation's shape is refused (``SettleError``) before any read.
    """
    if not isinstance(res_id, str) or not _RUN_ID.fullmatch(res_id):
        raise SettleError(f"not a run reservation id: {res_id[:80]!r} (expected run-<32 hex digits>)")
    try:
        raw = enforcer.redis.hgetall(run_key(enforcer, res_id))
    except Exception as exc:
        raise _unreachable(enforcer, exc) from None
    record = {text(a): text(b) for a, b in raw.items()}
    if not record:
        return None
    fields = _json_object(record.get("fields", ""))
    held = int(record["held_nano"])
    return run_reservation(res_id, record["workflow"], held, record["day"], record["month"], True,
                           fields.get("task"), fields.get("user"), repo=record.get("repo", ""))


def run_reservation(
    res_id: str, workflow_id: str, held_nano: int, day: str, month: str, allowed: bool,
    task_id: str | None, user_id: str | None, *, repo: str = "",
) -> Reservation:
    """An agent run's reservation: money only (no model, no tokens: the run's are known at its end);
    ``repo``: the repository it is attributed to ('' : none known)."""
    return Reservation(
        id=res_id,
        workflow_id=workflow_id,
        model="",
        allowed=allowed,
        reason="",
        input_tokens=0,
        max_output_tokens=0,
        requested_max_output_tokens=0,
        held_nano=held_nano,
        day=day,
        month=month,
        task_id=task_id,
        user_id=user_id,
        repo=repo,
    )


def _json_object(raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def price_lines(enforcer: BudgetEnforcer, usage: Sequence[RunUsage]) -> tuple[RunLine, ...] | None:
    """Each model's tokens at our prices; a model we hold no price for is charged the agent's estimate
    (``priced_by`` "agent", logged). None when such a model has no estimate either: nothing prices it."""
    lines = []
    for u in usage:
        check_counts("settle_run", (u.input_tokens, u.output_tokens, u.cache_write_tokens, u.cache_read_tokens))
        counts = (u.input_tokens, u.output_tokens, u.cache_write_tokens, u.cache_read_tokens)
        try:
            # Summed over the run's requests: no request's prompt size is known, so the base tier (a run's
            # total prompt would always look long-context, charging every token at that tier's rates).
            cost = cost_nano(u.model, *counts, overrides=enforcer.config.pricing, tier_prompt_tokens=0)
            priced_by = "pricing"
        except UnknownModelError:
            if u.agent_cost_nano is None:
                log.warning("agent run used %s, which has no price and no estimate: charged at its hold", u.model)
                return None
            log.warning("agent run used %s, which has no price here: charged the agent's own estimate", u.model)
            cost, priced_by = u.agent_cost_nano, "agent"
        lines.append(RunLine(u.model, *counts, cost, u.agent_cost_nano, priced_by))
    return tuple(lines)


def settle_run(
    enforcer: BudgetEnforcer,
    reservation: Reservation,
    usage: Sequence[RunUsage] | None,
    *,
    agent_cost_nano: int | None = None,
    outcome: str = "",
) -> RunSettlement:
    """Settle an agent run: per model at our prices (``usage``), or at its full hold flagged
    ``usage_missing`` when ``usage`` is None (or empty, or unpriceable). Idempotent by reservation id.

    ``agent_cost_nano``: the agent's own estimate of the whole run, recorded on its events;
    ``outcome``: how the run ended (the agent's result subtype, ``timeout``, ``crashed`` ...), recorded too.
    """
    if not reservation.allowed:
        raise SettleError(f"reservation {reservation.id} was refused ({reservation.reason}); nothing to settle")
    lines = price_lines(enforcer, usage) if usage else None
    usage_missing = lines is None
    if lines is None:
        lines = (RunLine(USAGE_MISSING_MODEL, 0, 0, 0, 0, reservation.held_nano, None, "hold"),)
    elif len(lines) > MAX_LINES:
        lines = (*lines[: MAX_LINES - 1], _fold(lines[MAX_LINES - 1 :]))
    now_ms = int(enforcer.now().timestamp() * 1000)
    k, retention = enforcer.keys, enforcer._retention_ms
    wf = reservation.workflow_id
    keys = [
        k.holds(),
        k.hold(reservation.id),
        k.result(reservation.id),
        k.org_spent(reservation.month),
        k.wf_spent_month(wf, reservation.month),
        k.wf_spent_day(wf, reservation.day),
        k.stats(reservation.month),
        k.events(),
        k.repo_spent(reservation.repo, reservation.month),
    ]
    run_fields = event_fields(
        **{**identity(reservation), "model": None},
        agent="claude-code",
        held_nano=reservation.held_nano,
        agent_total_cost_nano=agent_cost_nano,
        agent_outcome=outcome,
    )
    args: list[Any] = [reservation.id, now_ms, retention, wf, reservation.day[-2:], retention,
                       1 if usage_missing else 0, run_fields, len(lines)]
    for line in lines:
        extra = event_dict(
            input_tokens=line.input_tokens,
            output_tokens=line.output_tokens,
            cache_creation_input_tokens=line.cache_write_tokens,
            cache_read_input_tokens=line.cache_read_tokens,
            agent_cost_nano=line.agent_cost_nano,
            priced_by=line.priced_by,
        )
        args += [line.model, line.cost_nano, line.input_tokens, line.output_tokens, line.cache_write_tokens,
                 line.cache_read_tokens, event_fields(**extra)]
    args.append(reservation.repo)  # after the lines (settle_run.lua's last argument)
    raw = _run(enforcer, "settle_run.lua", keys, args)
    settlement = settlement_from_reply(reservation, raw, usage_missing)
    if settlement.over_hold_nano and not settlement.duplicate:
        log.warning("%s: agent run %s cost %s nano-USD, %s above its hold", wf, reservation.id,
                    settlement.cost_nano, settlement.over_hold_nano)
    return RunSettlement(settlement, lines, agent_cost_nano)


def _fold(lines: Sequence[RunLine]) -> RunLine:
    """Several lines as one (the script takes at most ``MAX_LINES``): tokens and costs added."""
    agent = [line.agent_cost_nano for line in lines if line.agent_cost_nano is not None]
    return RunLine(
        "+".join(line.model for line in lines)[:256],
        *(sum(getattr(line, f) for line in lines) for f in
          ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_nano")),
        sum(agent) if agent else None,
        "pricing" if all(line.priced_by == "pricing" for line in lines) else "agent",
    )
