"""The proof (issue 11): a seeded, randomized fault run over a real redis-server.

Interleaved reserves, settles (within the hold, above it, without usage, late, twice), releases
(known and unknown ids), worker crashes (a hold never settled), status reads, and clock jumps
past hold TTLs, local midnights and month ends. After every step:

- every spent counter (org/month, workflow/month, workflow/day) equals the sum of the call events
  stamped with that counter's day and month, and the month stats agree;
- the org's counters equal the sum of its workflows' (spent and held);
- every repository's month spent equals the sum of that repository's call events (calls come from
  three handles: a capped repository, an uncapped one and none known);
- every held counter equals the sum of the open holds on it, and every open hold is one a worker
  still has or lost (a crash), never a phantom;
- spent + held past a limit is covered by the overruns flagged on that counter's calls, never more;
- when idle (everything settled or released, the TTL past, one status read), held is 0 everywhere
  and no hold is open.

Six seeds x 220 steps run in a few seconds; a failure names the seed, the step and the operation.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.core.money import nano_to_usd
from acme_ci_budget.ledger.enforcer import ALREADY_FINAL, UNKNOWN_RESERVATION, BudgetEnforcer, Reservation
from tests.roles import CHEAP

WORKFLOWS = ("ci_cd_review", "pm_assistant")
REPOS = ("acme/app", "acme/web", "")  # acme/app is capped in tight_config; '' : no repository known
TZ = "America/New_York"
TTL = 60
STEPS = 220


@pytest.fixture
def tight_config(make_config):
    # Limits counted in a middling reserve's worst case at the cheap role's prices (reserves draw 50-4,000
    # tokens in and 1-2,000 out), so they bind a few calls in whatever that model costs.
    call = cost_nano(CHEAP, 2000, 1000)

    def calls(n: float) -> float:
        return nano_to_usd(round(n * call))

    return make_config(
        {
            "org": {"monthly_usd": calls(29)},  # the sum of the workflows': it binds only past an overrun
            "ledger": {"hold_ttl_seconds": TTL},
            "workflows": {
                "ci_cd_review": {"daily_usd": calls(5), "monthly_usd": calls(16)},
                "pm_assistant": {"daily_usd": calls(3.5), "monthly_usd": calls(9), "max_loop_steps": 6},
                "dev_assistant": {"daily_usd": calls(2), "monthly_usd": calls(2)},
                "qa_test_gen": {"daily_usd": calls(2), "monthly_usd": calls(2)},
            },
            "repos": {"acme/app": {"monthly_usd": calls(2)}},
        },
        timezone=TZ,
    )


class FaultRun:
    """One seeded run: the workers' view (open and crashed reservations) and the operations."""

    def __init__(self, enforcer: BudgetEnforcer, clock: dict, seed: int) -> None:
        self.e = enforcer
        self.clock = clock
        self.rng = random.Random(seed)
        self.open: list[Reservation] = []
        self.crashed: list[Reservation] = []
        self.settled: list[Reservation] = []
        self.released: list[Reservation] = []
        self.expires: dict[str, datetime] = {}
        self.tz = ZoneInfo(TZ)
        # one ledger handle per repository, on the same Redis and clock (``self.e`` is the no-repository one)
        self.handles = {repo: BudgetEnforcer(enforcer.config, redis=enforcer.redis, clock=enforcer.clock, repo=repo)
                        for repo in REPOS}

    # --- operations ---------------------------------------------------------------------------

    def reserve(self) -> str:
        rng = self.rng
        inp = rng.randint(50, 4000)
        cw_1h = rng.choice([0, 0, rng.randint(0, inp // 2)])
        cw_5m = rng.choice([0, rng.randint(0, inp - cw_1h)])
        res = self.handles[rng.choice(REPOS)].reserve(
            rng.choice(WORKFLOWS),
            CHEAP,
            inp,
            rng.randint(1, 2000),
            session_id=rng.choice([None, None, "s1", "s2"]),
            task_id=rng.choice([None, None, "t1", "t2"]),
            cache_write_tokens=cw_5m,
            cache_write_1h_tokens=cw_1h,
        )
        if res.allowed:
            self.open.append(res)
            self.expires[res.id] = self.clock["now"] + timedelta(seconds=TTL)
        return f"reserve {res.workflow_id} {res.repo or '-'} {res.held_nano} -> {res.reason or 'held'}"

    def _take(self, pool: list[Reservation]) -> Reservation:
        return pool.pop(self.rng.randrange(len(pool)))

    def settle(self, kind: str) -> str:
        pool = {"late": self.crashed, "after_release": self.released}.get(kind, self.open)
        if not pool:
            return "settle: nothing open"
        res, rng = self._take(pool), self.rng
        if kind == "missing":
            s = self.e.settle(res, usage_missing=True)
            assert s.cost_nano == res.held_nano
        else:
            base = res.input_tokens - res.cache_write_tokens - res.cache_write_1h_tokens
            inp = rng.randint(0, base)
            read = rng.randint(0, base - inp)
            cw_5m, cw_1h = rng.randint(0, res.cache_write_tokens), rng.randint(0, res.cache_write_1h_tokens)
            out = rng.randint(0, res.max_output_tokens)
            if kind == "over":  # the API counted more than the worst case: count_tokens was wrong
                inp += res.input_tokens * rng.randint(1, 4)
            s = self.e.settle(res, inp, out, cw_5m + cw_1h, read, cache_creation_1h_input_tokens=cw_1h)
            if kind == "within" and s.hold_found:
                assert s.over_hold_nano == 0, "a call within its worst case is never flagged"
        self.settled.append(res)
        return f"settle {kind} {res.workflow_id} cost {s.cost_nano} over {s.over_hold_nano} found {s.hold_found}"

    def duplicate(self) -> str:
        if not self.settled:
            return "duplicate: nothing settled"
        res = self.rng.choice(self.settled)
        before = self.e.redis.get(self.e.keys.org_spent(res.month))
        assert self.e.release(res).status == ALREADY_FINAL
        assert self.e.settle(res, 10, 10).duplicate
        assert self.e.redis.get(self.e.keys.org_spent(res.month)) == before
        return f"duplicate {res.id[:6]}"

    def release(self) -> str:
        if not self.open:
            return "release: nothing open"
        res = self._take(self.open)
        outcome = self.e.release(res, error="APIStatusError 529")
        assert outcome.status == "released"
        assert self.e.release(res).status == ALREADY_FINAL
        self.released.append(res)
        return f"release {res.workflow_id} -> {outcome.status}"

    def release_unknown(self) -> str:
        ghost = Reservation("ghost-" + str(self.rng.randrange(10**6)), "ci_cd_review", CHEAP, True, "", 1, 1, 1, 1,
                            *self.e.periods())
        assert self.e.release(ghost).status == UNKNOWN_RESERVATION
        return "release unknown"

    def crash(self) -> str:
        if not self.open:
            return "crash: nothing open"
        self.crashed.append(self._take(self.open))
        return "crash"

    def status(self) -> str:
        self.e.status_snapshot()
        return "status"

    def jump(self, kind: str) -> str:
        now = self.clock["now"]
        local = now.astimezone(self.tz)
        if kind == "seconds":
            now += timedelta(seconds=self.rng.randint(1, 30))
        elif kind == "ttl":
            now += timedelta(seconds=self.rng.randint(TTL + 1, 15 * TTL))
        elif kind == "midnight":
            nxt = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            now = (nxt - timedelta(seconds=self.rng.randint(1, 20))).astimezone(UTC)  # just before: calls straddle it
        else:  # month end
            first = (local.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
            now = (first - timedelta(seconds=self.rng.randint(1, 20))).astimezone(UTC)
        self.clock["now"] = now
        # A worker whose hold's TTL passed is a slow one now: its settle comes late (its hold may be gone).
        late = [res for res in self.open if self.expires[res.id] <= now]
        self.open = [res for res in self.open if self.expires[res.id] > now]
        self.crashed += late
        return f"jump {kind} to {now.astimezone(self.tz).isoformat()}"

    def drain(self) -> str:
        """Finish every call a worker still has, let the TTL pass, read status: the ledger must be idle."""
        while self.open:
            self.settle("within")
        self.clock["now"] += timedelta(seconds=TTL + 1)
        self.e.status_snapshot()
        self.crashed.clear()  # their holds are gone: a late settle now is all overrun
        assert self.e.open_holds() == 0, "idle: no hold is open"
        for key in self.e.redis.scan_iter(match=f"{self.e.keys.p}held:*"):
            assert int(self.e.redis.get(key)) == 0, f"idle: {key!r} still holds money"
        return "drain"

    OPERATIONS = (
        ("reserve", 34), ("within", 14), ("over", 4), ("missing", 3), ("late", 3), ("after_release", 1), ("release", 7),
        ("release_unknown", 2), ("duplicate", 3), ("crash", 6), ("status", 4), ("seconds", 8), ("ttl", 4),
        ("midnight", 3), ("month", 1), ("drain", 1),
    )

    def step(self) -> str:
        names, weights = zip(*self.OPERATIONS, strict=True)
        op = self.rng.choices(names, weights)[0]
        if op in ("within", "over", "missing", "late", "after_release"):
            return self.settle(op)
        if op in ("seconds", "ttl", "midnight", "month"):
            return self.jump(op)
        return getattr(self, op)()

    # --- invariants -----------------------------------------------------------------------------

    def check(self) -> None:
        e, r, k, cfg = self.e, self.e.redis, self.e.keys, self.e.config
        calls = [
            {a.decode(): b.decode() for a, b in f.items()}
            for _i, f in r.xrange(k.events())
            if f[b"type"] == b"call"
        ]
        months = {c["month"] for c in calls} | {e.periods()[1]}
        days = {(c["workflow"], c["day"]) for c in calls}
        spent_by: dict[str, int] = defaultdict(int)
        over_by: dict[str, int] = defaultdict(int)
        for c in calls:
            cost, over = int(c["cost_nano"]), int(c.get("over_hold_nano", 0))
            for key in (k.org_spent(c["month"]), k.wf_spent_month(c["workflow"], c["month"]),
                        k.wf_spent_day(c["workflow"], c["day"])):
                spent_by[key] += cost
                over_by[key] += over
        # counters == sum of events (and the month stats agree)
        for month in months:
            stats = {a.decode(): int(b) for a, b in r.hgetall(k.stats(month)).items()}
            for key in [k.org_spent(month)] + [k.wf_spent_month(w, month) for w in WORKFLOWS]:
                assert int(r.get(key) or 0) == spent_by[key], key
            for w in WORKFLOWS:
                assert stats.get(f"cost|{w}", 0) == spent_by[k.wf_spent_month(w, month)]
        for w, day in days:
            assert int(r.get(k.wf_spent_day(w, day)) or 0) == spent_by[k.wf_spent_day(w, day)]
        # each repository's spent == the sum of its call events (and the month stats agree)
        for month in months:
            stats = {a.decode(): int(b) for a, b in r.hgetall(k.stats(month)).items()}
            for repo in REPOS[:2]:
                mine = sum(int(c["cost_nano"]) for c in calls if c["repo"] == repo and c["month"] == month)
                assert int(r.get(k.repo_spent(repo, month)) or 0) == mine, (repo, month)
                assert stats.get(f"repo_cost|{repo}", 0) == mine, (repo, month)
        # org == sum of workflows, spent and held
        for month in months:
            for kind in ("spent", "held"):
                org_key = k.org_spent(month) if kind == "spent" else k.org_held(month)
                wf_keys = [(k.wf_spent_month if kind == "spent" else k.wf_held_month)(w, month) for w in WORKFLOWS]
                assert int(r.get(org_key) or 0) == sum(int(r.get(x) or 0) for x in wf_keys), (kind, month)
        # held == sum of the open holds on each counter; no phantom holds
        held_by: dict[str, int] = defaultdict(int)
        known = {res.id for res in (*self.open, *self.crashed)}
        for rid in r.zrange(k.holds(), 0, -1):
            rid = rid.decode()
            assert rid in known, f"phantom hold {rid}"
            hold = {a.decode(): b.decode() for a, b in r.hgetall(k.hold(rid)).items()}
            for field in ("org_held", "month_held", "day_held", "repo_held"):
                if hold.get(field):
                    held_by[hold[field]] += int(hold["amount"])
        for res in self.open:
            assert r.zscore(k.holds(), res.id) is not None, "a worker's live hold vanished"
        for key in r.scan_iter(match=f"{k.p}held:*"):
            assert int(r.get(key)) == held_by[key.decode()], key
        # spent + held past a limit == covered by flagged overruns, never more
        limits = {k.org_spent(m): (k.org_held(m), cfg.org_monthly_nano) for m in months}
        for w in WORKFLOWS:
            wf = cfg.workflows[w]
            limits.update({k.wf_spent_month(w, m): (k.wf_held_month(w, m), wf.monthly_nano) for m in months})
            limits.update({k.wf_spent_day(w, d): (k.wf_held_day(w, d), wf.daily_nano) for ww, d in days if ww == w})
        for repo, cap in cfg.repos.items():
            limits.update({k.repo_spent(repo, m): (k.repo_held(repo, m), cap.monthly_nano) for m in months})
        for c in calls:
            if c["repo"]:
                over_by[k.repo_spent(c["repo"], c["month"])] += int(c.get("over_hold_nano", 0))
        for spent_key, (held_key, limit) in limits.items():
            spent, held = int(r.get(spent_key) or 0), int(r.get(held_key) or 0)
            assert spent + held - limit <= over_by[spent_key], (spent_key, spent, held, limit, over_by[spent_key])


@pytest.mark.parametrize("seed", range(6))
def test_the_ledger_keeps_its_promises_under_random_faults(tight_config, redis_url, seed):
    clock = {"now": datetime(2026, 11, 28, 14, 0, tzinfo=UTC)}
    e = BudgetEnforcer(tight_config, redis_url=redis_url, clock=lambda: clock["now"])
    run = FaultRun(e, clock, seed)
    log: list[str] = []
    for i in range(STEPS):
        log.append(run.step())
        try:
            run.check()
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, step {i}: {log[-1]}\n  last steps: {log[-8:]}\n  {exc}") from exc
    run.drain()
    run.check()


def test_the_run_reaches_every_fault(tight_config, redis_url):
    """Over the seeds, every kind of fault and a limit actually binding happen (else the proof proves little)."""
    seen: set[str] = set()
    refused = overruns = repo_refused = 0
    for seed in range(6):
        clock = {"now": datetime(2026, 11, 28, 14, 0, tzinfo=UTC)}
        e = BudgetEnforcer(tight_config, redis_url=redis_url, clock=lambda c=clock: c["now"])
        e.redis.flushdb()
        run = FaultRun(e, clock, seed)
        for _ in range(STEPS):
            line = run.step()
            seen.add(" ".join(line.split()[:2]))
            refused += "exceeded" in line
            repo_refused += "repo_limit_exceeded" in line
            overruns += " over " in line and " over 0 " not in line
    assert refused > 0 and overruns > 0 and repo_refused > 0
    assert {"settle over", "settle missing", "settle late", "settle after_release", "jump midnight", "jump month",
            "jump ttl", "release unknown", "crash", "drain"} <= seen
    assert any(s.startswith("release ") and s != "release unknown" for s in seen)
