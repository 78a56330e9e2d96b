"""Benchmark CLI start-up: wall time of light commands, and which heavy SDKs they import.

    python scripts/bench_startup.py [--runs 15]

Runs each command as a fresh process (as CI pays it) and prints min / median wall time, plus
the bare interpreter for reference. A light command must not import anthropic or github.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (interpreter only)": [sys.executable, "-c", "pass"],
    "acme-ci-budget --help": [sys.executable, "-m", "acme_ci_budget", "--help"],
    "acme-ci-budget estimate": [sys.executable, "-m", "acme_ci_budget", "estimate"],
    "acme-ci-budget estimate --format json": [sys.executable, "-m", "acme_ci_budget", "estimate", "--format", "json"],
    "acme-ci-budget config validate": [sys.executable, "-m", "acme_ci_budget", "config", "validate"],
}

PROBE = (
    "import sys, runpy; sys.argv = ['acme-ci-budget', *sys.argv[1:]]\n"
    "from acme_ci_budget.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print('HEAVY:', sorted(m for m in ('anthropic', 'github', 'jinja2', 'redis', 'httpx') if m in sys.modules),"
    " file=sys.stderr)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "ACME_BUDGET_CONFIG": ""}
    print(f"start-up, {args.runs} runs each, Python {sys.version.split()[0]}")
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
            times.append(time.perf_counter() - t0)
        heavy = ""
        if name.startswith("acme"):
            probe = subprocess.run([sys.executable, "-c", PROBE, *cmd[3:]], capture_output=True, text=True, env=env)
            heavy = next((line for line in probe.stderr.splitlines() if line.startswith("HEAVY:")), "")
        print(f"{name:<42} min {min(times) * 1000:6.0f} ms  median {statistics.median(times) * 1000:6.0f} ms  {heavy}")


if __name__ == "__main__":
    main()
