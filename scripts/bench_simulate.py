"""Benchmark the month simulator: simulated calls per second, and the wall time of a month, per scale.

    python scripts/bench_simulate.py [--scales 1 10] [--month 2026-06] [--days N] [--redis-url URL]

Without --redis-url each scale runs on a scratch embedded Redis (what ``acme-ci-budget simulate``
uses by default). Every call is a real budget pressure read, reserve and settle; alerts are
evaluated hourly. Prints, per scale: calls sent (settled + blocked), wall time of the run, calls/s,
and the split between the run loop and the report rendering. The goal: a month at scale 10 well
under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--month", default="2026-06")
    parser.add_argument("--days", type=int, default=None, help="only the first N days (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    import tempfile

    from acme_ci_budget.config import load_config
    from acme_ci_budget.simulate.replay import simulate

    config = load_config()
    print(
        f"cpus: {os.cpu_count()}  month: {args.month}  days: {args.days or 'all'}  "
        f"ledger: {args.redis_url or 'scratch'}"
    )
    print(f"{'scale':>6} {'calls':>9} {'settled':>9} {'blocked':>8} {'run s':>8} {'calls/s':>9} {'total s':>8}")
    slow = False
    for scale in args.scales:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result, _ = simulate(
                config,
                month=args.month,
                scale=scale,
                seed=args.seed,
                days=args.days,
                redis_url=args.redis_url,
                report_dir=folder,
            )
            total = time.perf_counter() - started
        sent = result.calls + result.blocked
        print(
            f"{scale:>6g} {sent:>9,} {result.calls:>9,} {result.blocked:>8,} {result.elapsed_seconds:>8.2f} "
            f"{result.calls_per_second:>9,.0f} {total:>8.2f}"
        )
        if scale == 10 and args.days is None and total > GOAL_SECONDS:
            slow = True
    if slow:
        print(f"SLOW: a month at scale 10 took more than {GOAL_SECONDS:.0f} s")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
