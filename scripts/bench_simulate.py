"""Benchmark the month simulator: the wall time of a month and simulated calls per second, per scale.

    python scripts/bench_simulate.py [--scales 1 10] [--month 2026-06] [--days N] [--runs 1] [--before REF]
                                     [--redis-url URL | --private-server]

Without --redis-url each scale runs where ``acme-ci-budget simulate`` runs by default: ``--keep default``
keeps the month in the local embedded ledger (code that has ``keep``; its data folder is a temporary one
here, never the user's), ``--keep no`` uses a scratch embedded Redis (what code before issue 15 item 4
always did without a URL). Every call goes through the real client and the real reserve and settle scripts;
the calls of one simulated minute share one reserve pipeline and one settle pipeline
(``acme_ci_budget/simulate/ticks.py``); alerts are evaluated hourly. Each run is a fresh process.
Prints, per scale and run: calls sent (settled + blocked), the run's wall time, calls/s, the total
with the report rendering, and the process's CPU time; then the median per scale. ``--before REF``
runs the same scales with the package as of a git ref (e.g. ``bcac76e``, main before issue 16: three
round trips a call, one call at a time), alternating with this checkout, so both sides of the ratio
come from one run under the same load. The goal: ``--scales 100`` in at most 30 s on 2 cores.

With ``--redis-url`` or ``--private-server`` (a redis-server of its own, no persistence: what ``--keep no``
measures, on a server whose counters it can read) it also prints the server's own time in the ledger's
scripts (``redis s``, the EVALSHA microseconds of ``INFO commandstats``): a run can be no faster than
the larger of the process's CPU and that, on one core each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = {10: 60.0, 100: 30.0}


def worker(scale: float, month: str, days: int | None, seed: int, redis_url: str | None, keep: str) -> dict:
    import inspect

    from acme_ci_budget.config import load_config
    from acme_ci_budget.simulate import simulate

    config = load_config()
    options = {}
    if "keep" in inspect.signature(simulate).parameters and keep != "default":
        options["keep"] = keep == "yes"
    scripts_usec = _scripts_usec(redis_url)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["ACME_BUDGET_DATA_DIR"] = str(Path(folder) / "data")  # an embedded ledger: never the user's
        started, cpu = time.perf_counter(), time.process_time()
        result, _ = simulate(
            config, month=month, scale=scale, seed=seed, days=days, redis_url=redis_url, report_dir=folder, **options
        )
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        if result.ledger != "scratch" and not redis_url:  # the embedded server stops before its folder goes
            from acme_ci_budget.ledger import embedded

            embedded.release_all()
    return {
        "sent": result.calls + result.blocked,
        "settled": result.calls,
        "blocked": result.blocked,
        "run_s": result.elapsed_seconds,
        "total_s": total,
        "cpu_s": cpu,
        "ledger": result.ledger,
        # the server's own time in the scripts (INFO commandstats), when the run's Redis is known
        "redis_s": (_scripts_usec(redis_url) - scripts_usec) / 1e6 if redis_url else None,
    }


def _scripts_usec(redis_url: str | None) -> int:
    """Microseconds the Redis server has spent in EVALSHA so far (0 without a URL)."""
    if not redis_url:
        return 0
    import redis

    stats = redis.Redis.from_url(redis_url).info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("usec", 0))


def run(code: Path, scale: float, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}  # ahead of the editable install's path
    command = [sys.executable, __file__, "--worker", str(scale), "--month", args.month, "--seed", str(args.seed)]
    command += ["--keep", args.keep]
    if args.days:
        command += ["--days", str(args.days)]
    if args.redis_url:
        command += ["--redis-url", args.redis_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run with {code} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--month", default="2026-06")
    parser.add_argument("--days", type=int, default=None, help="only the first N days (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1, help="runs per scale and side (medians are reported)")
    parser.add_argument("--before", default="none", help="git ref of the code to compare with ('none': skip)")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--private-server",
        action="store_true",
        help="run on a private redis-server (no persistence, as --keep no) so the server's own time prints too",
    )
    parser.add_argument(
        "--keep", choices=("default", "yes", "no"), default="default", help="keep the month (code that can)"
    )
    parser.add_argument("--worker", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.month, args.days, args.seed, args.redis_url, args.keep)))
        return 0

    if args.private_server:
        sys.path.insert(0, str(REPO))
        from tests.redis_harness import RedisServer

        server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-sim-redis-"))).start()
        args.redis_url, args.keep = server.url, "no"
        try:
            return compare(args)
        finally:
            server.stop()
    return compare(args)


def compare(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_call import extract


    load = os.getloadavg()[0]
    print(
        f"cpus: {os.cpu_count()}  load: {load:.2f}  month: {args.month}  days: {args.days or 'all'}  "
        f"ledger: {args.redis_url or 'embedded'} (--keep {args.keep})  runs: {args.runs}"
    )
    print(
        f"{'side':<16} {'scale':>6} {'calls':>9} {'settled':>9} {'blocked':>8} {'run s':>8} {'calls/s':>9} "
        f"{'total s':>8} {'cpu s':>7} {'redis s':>8}  ledger"
    )
    medians: dict[tuple[str, float], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sides = [("this checkout", REPO)]
        if args.before.lower() != "none":
            sides.insert(0, (f"before ({extract(args.before, Path(tmp))})", Path(tmp) / "src"))
        for scale in args.scales:
            for _ in range(args.runs):
                for label, code in sides:
                    r = run(code, scale, args)
                    medians.setdefault((label, scale), []).append(r["run_s"])
                    print(
                        f"{label:<16} {scale:>6g} {r['sent']:>9,} {r['settled']:>9,} {r['blocked']:>8,} "
                        f"{r['run_s']:>8.2f} {r['sent'] / r['run_s']:>9,.0f} {r['total_s']:>8.2f} {r['cpu_s']:>7.2f} "
                        f"{_seconds(r.get('redis_s')):>8}  {r.get('ledger', '')}",
                        flush=True,
                    )
    summary = (f"{label} x{s:g}: {statistics.median(v):.1f}" for (label, s), v in medians.items())
    print("\nmedian run s:", "  ".join(summary))
    slow = [
        f"x{scale:g} {statistics.median(v):.1f} s > {GOAL_SECONDS[scale]:.0f} s"
        for (label, scale), v in medians.items()
        if label == "this checkout"
        and scale in GOAL_SECONDS
        and args.days is None
        and statistics.median(v) > GOAL_SECONDS[scale]
    ]
    if slow:
        print("SLOW:", "; ".join(slow))
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
