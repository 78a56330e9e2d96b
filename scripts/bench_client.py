"""Benchmark the client's own Python per model call: ``BudgetedClient.complete`` without the network or Redis.

    python scripts/bench_client.py [--calls 3000] [--runs 5] [--before REF]

What ``scripts/bench_call.py`` cannot separate from the machine's load: the CPU work of one call in this
process (routing, counting, pricing, the scripts' keys and arguments, reading their replies, the alert
check, the result), with the SDK replaced by an in-process stand-in returning a fixed reply and the
ledger's script runner by the replies a real reserve and settle gave once (recorded on a private
redis-server first). So no round trip and no server time is in the figure, only Python. Each side runs
in a fresh process ("before": the package as of ``--before``, default ``main``, via ``git archive``),
alternating; each run prints the fastest of five passes of ``--calls`` calls (the least disturbed by
other load), the summary their medians.
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
WORKFLOW = "dev_assistant"
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]


def worker(calls: int) -> float:
    import redis
    from anthropic.types import Message

    import acme_ci_budget.ledger.enforcer as enforcer_module
    from acme_ci_budget.alerts import AlertManager
    from acme_ci_budget.client import BudgetedClient
    from acme_ci_budget.config import load_config
    from acme_ci_budget.ledger import BudgetEnforcer
    from tests.redis_harness import RedisServer

    config = load_config()
    model = config.workflows[WORKFLOW].routing.default_model
    reply = Message.model_validate(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "foo"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 5},
        }
    )

    class Messages:
        def create(self, **_params):
            return reply

    class Sdk:
        messages = Messages()

    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-client-"))).start()
    try:
        enforcer = BudgetEnforcer(config, redis=redis.Redis.from_url(server.url))
        client = BudgetedClient(config, enforcer=enforcer, anthropic_client=Sdk(), alerts=AlertManager)
        run, recorded = enforcer_module._run, {}

        def record(script, keys, args):
            recorded[script.sha] = run(script, keys, args)
            return recorded[script.sha]

        enforcer_module._run = record
        for _ in range(20):
            client.complete(WORKFLOW, ASK)
        enforcer_module._run = lambda script, keys, args: recorded[script.sha]  # no round trip from here on
        best = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                client.complete(WORKFLOW, ASK)
            best.append((time.perf_counter() - started) / calls * 1e6)
        return min(best)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", default="main", help="git ref of the 'before' code ('none': skip)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_call import extract

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sides = [("this checkout", REPO)]
        if args.before.lower() != "none":
            sha = extract(args.before, Path(tmp))
            (Path(tmp) / "src" / "tests").mkdir(exist_ok=True)
            for name in ("__init__.py", "redis_harness.py"):  # the private redis-server, as this checkout has it
                (Path(tmp) / "src" / "tests" / name).write_text((REPO / "tests" / name).read_text())
            sides.insert(0, (f"before ({sha})", Path(tmp) / "src"))
        load = os.getloadavg()[0]
        print(f"cpus: {os.cpu_count()}  load: {load:.2f}  calls: {args.calls} x 5 passes, {args.runs} runs")
        for run in range(1, args.runs + 1):
            for label, code in sides:
                env = {**os.environ, "PYTHONPATH": str(code)}
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", str(args.calls)],
                    cwd=code,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"the run with {code} failed:\n{done.stderr[-2000:]}")
                us = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault(label, []).append(us)
                print(f"{run:>3}  {label:<18} {us:8.1f} us of Python per call", flush=True)
    print(f"\nmedians of {args.runs} runs")
    for label, values in results.items():
        print(f"{label:<18} {statistics.median(values):8.1f} us of Python per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
