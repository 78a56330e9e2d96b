"""``acme-ci-budget run -- claude ...`` end to end: the CLI as a real process, the fake ``claude`` on PATH
(tests/fakes/claude), a real Redis.

Each run reserves a USD hold, starts the fake with ``--max-budget-usd <hold>``, tees its stdout and
settles from its result: per model at our prices. Blocked runs never start it; a crash, a kill or a
timeout is charged the full hold; a given ``--max-budget-usd`` above the hold is refused before start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import parse_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.ledger.enforcer import BudgetEnforcer

FAKES = Path(__file__).resolve().parents[1] / "fakes"
USD = 1_000_000_000
WF = "dev_assistant"


def config_text(**wf: Any) -> str:
    raw = yaml.safe_load(default_config_path().read_text())
    raw["namespace"] = "agentrun"
    raw["timezone"] = "UTC"
    raw["workflows"][WF].update({"per_run_usd": 2, **wf})
    return yaml.safe_dump(raw)


class Runs:
    """A workspace: the config file, the fake's log, and the CLI run as a process."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp, self.redis_url = tmp, redis_url
        self.config_path = tmp / "acme-budget.yml"
        self.log = tmp / "claude.log"
        self.configure()

    def configure(self, **wf: Any) -> None:
        self.config_path.write_text(config_text(**wf))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACB_", "GITHUB_", "FAKE_CLAUDE_"))}
        env.update(
            PATH=f"{FAKES}{os.pathsep}{env.get('PATH', '')}",
            REDIS_URL=self.redis_url,
            ACME_BUDGET_CONFIG=str(self.config_path),
            FAKE_CLAUDE_LOG=str(self.log),
        )
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "acme_ci_budget", "run", *args]

    def run(self, *args: str, stdin: str = "", timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True, env=self.env(**env),
                              timeout=timeout)

    def fake_runs(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def ledger(self) -> BudgetEnforcer:
        return BudgetEnforcer(parse_config(self.config_path.read_text(), "t"), redis_url=self.redis_url)


@pytest.fixture
def runs(tmp_path, redis_url) -> Runs:
    return Runs(tmp_path, redis_url)


def today() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")


def calls(e: BudgetEnforcer) -> list[dict]:
    return [ev for ev in e.events() if ev["type"] == "call"]


def priced(e: BudgetEnforcer, result: dict) -> int:
    """Our price of a result's modelUsage: what the ledger must have charged."""
    return sum(
        cost_nano(model, u["inputTokens"], u["outputTokens"], u["cacheCreationInputTokens"], u["cacheReadInputTokens"],
                  overrides=e.config.pricing, tier_prompt_tokens=0)  # summed over its requests: the base tier
        for model, u in result["modelUsage"].items()
    )


def assert_ledger_equals_events(e: BudgetEnforcer) -> None:
    day, month = today()
    spent = int(e.redis.get(e.keys.wf_spent_day(WF, day)) or 0)
    assert spent == sum(ev["cost_nano"] for ev in calls(e) if ev["workflow"] == WF)
    assert int(e.redis.get(e.keys.org_spent(month)) or 0) == sum(ev["cost_nano"] for ev in calls(e))
    assert int(e.redis.get(e.keys.wf_held_day(WF, day)) or 0) == 0 and e.open_holds() == 0


def test_a_json_run_is_settled_at_our_price_of_its_model_usage(runs: Runs) -> None:
    two = {"claude-sonnet-5-5": {"in": 900, "out": 700, "cache_write": 5000, "cache_read": 30000},
           "claude-haiku-5-5": {"in": 3000, "out": 400, "cache_write": 0, "cache_read": 8000}}
    done = runs.run("--workflow", WF, "--task-id", "issue-7", "--", "claude", "-p", "fix it", "--output-format", "json",
                    FAKE_CLAUDE_TURN=json.dumps(two))
    assert done.returncode == 0, done.stderr
    [argv] = runs.fake_runs()
    assert argv[:2] == ["--max-budget-usd", "2"]  # the hold: per_run_usd, added since none was given
    result = json.loads(done.stdout)  # stdout is the command's, untouched
    assert result["type"] == "result" and result["num_turns"] == 3
    e = runs.ledger()
    cost = priced(e, result)
    assert sum(ev["cost_nano"] for ev in calls(e)) == cost
    by_model = {ev["model"]: ev for ev in calls(e)}
    assert set(by_model) == {"claude-sonnet-5-5", "claude-haiku-5-5"}
    assert by_model["claude-haiku-5-5"]["task"] == "issue-7" and by_model["claude-haiku-5-5"]["input_tokens"] == 9000
    # Claude Code's own estimate is on the events beside ours
    assert int(by_model["claude-sonnet-5-5"]["agent_total_cost_nano"]) == round(result["total_cost_usd"] * USD)
    assert "charged $" in done.stderr and "Claude Code's own estimate" in done.stderr
    assert_ledger_equals_events(e)


def test_a_stream_json_run_reads_the_result_from_the_last_line_and_passes_stdin_through(runs: Runs) -> None:
    done = runs.run("--workflow", WF, "--max-usd", "0.5", "--", "claude", "-p", "--output-format", "stream-json",
                    stdin="the prompt on stdin")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["subtype"] == "init" and len(lines) == 5  # init, 3 turns, result
    [argv] = runs.fake_runs()
    assert argv[:2] == ["--max-budget-usd", "0.5"]  # --max-usd below per_run_usd
    e = runs.ledger()
    assert sum(ev["cost_nano"] for ev in calls(e)) == priced(e, json.loads(lines[-1]))
    piped = runs.run("--workflow", WF, "--max-usd", "0.2", "--", "sh", "-c", 'cat; echo "[$REDIS_URL]"',
                     stdin="hello through\n")
    # not claude: no flag added; stdin and stdout passed through; the ledger's Redis URL hidden from it
    assert piped.stdout == "hello through\n[]\n"
    assert "no result object" in piped.stderr and "usage_missing" in piped.stderr
    assert calls(runs.ledger())[-1]["cost_nano"] == 200_000_000
    assert_ledger_equals_events(runs.ledger())


def test_blocked_before_start_when_the_day_is_spent(runs: Runs) -> None:
    e = runs.ledger()
    day, _month = today()
    e.redis.set(e.keys.wf_spent_day(WF, day), 12 * USD - 50_000_000)  # $0.05 of the day's $12 left
    done = runs.run("--workflow", WF, "--", "claude", "-p", "hi", "--output-format", "json")
    assert done.returncode == 0  # as a blocked review: a notice
    assert "blocked" in done.stderr and "daily_limit_exceeded" in done.stderr and "not started" in done.stderr
    assert done.stdout == "" and runs.fake_runs() == []  # the fake never ran
    failing = runs.run("--workflow", WF, "--fail-on-block", "--", "claude", "-p", "hi")
    assert failing.returncode == 1 and runs.fake_runs() == []
    assert [ev["reason"] for ev in e.events() if ev["type"] == "block"] == ["daily_limit_exceeded"] * 2
    assert e.open_holds() == 0


def test_a_crash_is_settled_at_the_full_hold(runs: Runs) -> None:
    done = runs.run("--workflow", WF, "--max-usd", "1.25", "--", "claude", "-p", "x", "--output-format", "json",
                    FAKE_CLAUDE_MODE="crash")
    assert done.returncode == 3  # the command's own exit code
    e = runs.ledger()
    [call] = calls(e)
    assert call["cost_nano"] == 1_250_000_000 and call["usage_missing"] == 1 and call["agent_outcome"] == "exit_3"
    killed = runs.run("--workflow", WF, "--max-usd", "0.3", "--", "claude", "-p", "x", "--output-format", "json",
                      FAKE_CLAUDE_MODE="kill")
    assert killed.returncode == 128 + signal.SIGKILL
    assert calls(e)[-1]["cost_nano"] == 300_000_000 and calls(e)[-1]["agent_outcome"] == f"signal_{signal.SIGKILL}"
    assert_ledger_equals_events(e)


def test_a_given_max_budget_above_the_hold_is_refused_before_start(runs: Runs) -> None:
    done = runs.run("--workflow", WF, "--max-usd", "1", "--", "claude", "-p", "x", "--max-budget-usd", "5")
    assert done.returncode == 2
    assert "--max-budget-usd 5 is above the most this dev_assistant run may hold ($1.0000" in done.stderr
    assert "Traceback" not in done.stderr and runs.fake_runs() == [] and runs.ledger().open_holds() == 0
    # one within the cap is kept as given, and is what is held
    ok = runs.run("--workflow", WF, "--", "claude", "-p", "x", "--max-budget-usd=0.75", "--output-format", "json",
                  FAKE_CLAUDE_TURNS="1")
    assert ok.returncode == 0, ok.stderr
    [argv] = runs.fake_runs()
    assert argv == ["-p", "x", "--max-budget-usd=0.75", "--output-format", "json"]
    assert calls(runs.ledger())[0]["held_nano"] == 750_000_000
    # and refused (blocked) when the room left cannot cover it
    e = runs.ledger()
    day, _month = today()
    e.redis.set(e.keys.wf_spent_day(WF, day), 12 * USD - 500_000_000)
    blocked = runs.run("--workflow", WF, "--", "claude", "-p", "x", "--max-budget-usd", "0.75")
    assert blocked.returncode == 0 and "daily_limit_exceeded" in blocked.stderr and len(runs.fake_runs()) == 1


def test_a_run_above_its_budget_is_recorded_over_its_hold(runs: Runs) -> None:
    # Claude Code checks its budget between turns: a turn dearer than the budget ends above it
    dear = {"claude-sonnet-5-5": {"in": 1000, "out": 20000, "cache_write": 0, "cache_read": 0}}  # ~$0.20 a turn
    done = runs.run("--workflow", WF, "--max-usd", "0.1", "--", "claude", "-p", "x", "--output-format", "json",
                    FAKE_CLAUDE_TURN=json.dumps(dear))
    assert done.returncode == 1  # error_max_budget_usd is an error result
    result = json.loads(done.stdout)
    assert result["subtype"] == "error_max_budget_usd" and result["num_turns"] == 1
    e = runs.ledger()
    [call] = calls(e)
    cost = priced(e, result)
    assert call["cost_nano"] == cost > 100_000_000 and call["over_hold_nano"] == cost - 100_000_000
    assert call["agent_outcome"] == "error_max_budget_usd"
    assert_ledger_equals_events(e)


def test_a_timeout_stops_the_command_and_is_charged_the_hold(runs: Runs) -> None:
    started = time.monotonic()
    done = runs.run("--workflow", WF, "--max-usd", "0.4", "--timeout", "1", "--", "claude", "-p", "x",
                    "--output-format", "stream-json", FAKE_CLAUDE_MODE="hang")
    assert done.returncode == 124 and time.monotonic() - started < 30
    assert "timeout" in done.stderr
    [call] = calls(runs.ledger())
    assert call["cost_nano"] == 400_000_000 and call["usage_missing"] == 1 and call["agent_outcome"] == "timeout"


def test_sigterm_is_forwarded_to_the_command(runs: Runs) -> None:
    proc = subprocess.Popen(runs.argv("--workflow", WF, "--max-usd", "0.2", "--", "claude", "-p", "x"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=runs.env(FAKE_CLAUDE_MODE="hang"))
    deadline = time.monotonic() + 30
    while not runs.fake_runs() and time.monotonic() < deadline:
        time.sleep(0.05)
    [_argv] = runs.fake_runs()
    fake_pid = json.loads(runs.log.read_text())["pid"]
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    with pytest.raises(ProcessLookupError):
        os.kill(fake_pid, 0)
    assert calls(runs.ledger())[0]["agent_outcome"] == f"signal_{signal.SIGTERM}"


def test_bad_input_is_one_line_exit_2(runs: Runs) -> None:
    for args, message in [
        (("--", "claude", "-p", "x"), "give --workflow"),
        (("--workflow", "nope", "--", "claude"), "unknown workflow 'nope'"),
        (("--workflow", WF, "--", "claude", "--max-budget-usd", "lots"), "is not a number"),
    ]:
        done = runs.run(*args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    runs.configure(per_run_usd=None)
    done = runs.run("--workflow", WF, "--", "claude")
    assert done.returncode == 2 and "has no per_run_usd: give --max-usd" in done.stderr
    assert runs.fake_runs() == []


def test_eight_racing_runs_on_a_small_budget_never_overspend(runs: Runs) -> None:
    runs.configure(daily_usd=0.5, per_run_usd=0.3)
    turn = {"claude-haiku-5-5": {"in": 50000, "out": 10000, "cache_write": 0, "cache_read": 0}}  # $0.10 a turn

    def one(i: int) -> subprocess.CompletedProcess[str]:
        return runs.run("--workflow", WF, "--task-id", f"race-{i}", "--", "claude", "-p", "x", "--output-format",
                        "json", FAKE_CLAUDE_TURN=json.dumps(turn), FAKE_CLAUDE_TURNS="2", FAKE_CLAUDE_SLEEP="3")

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(one, range(8)))
    blocked = [d for d in done if "blocked" in d.stderr]
    assert all(d.returncode == 0 for d in blocked)
    # a run held less than $0.30 reaches its --max-budget-usd: Claude Code's error_max_budget_usd, exit 1
    assert all(d.returncode in (0, 1) and "Traceback" not in d.stderr for d in done), [d.stderr for d in done]
    ran = runs.fake_runs()
    assert len(ran) + len(blocked) == 8 and blocked and ran  # the room ran out, and blocked runs never started
    e = runs.ledger()
    day, _month = today()
    assert int(e.redis.get(e.keys.wf_spent_day(WF, day)) or 0) <= USD // 2
    held = [ev["held_nano"] for ev in calls(e)]
    assert len(held) == len(ran) and all(h <= 300_000_000 for h in held)
    assert_ledger_equals_events(e)


def test_a_ledger_out_of_reach_never_starts_the_command(runs: Runs) -> None:
    done = runs.run("--workflow", WF, "--", "claude", "-p", "x", REDIS_URL="redis://:s3cret-pw@127.0.0.1:1/0")
    assert done.returncode == 2 and "budget ledger unreachable at redis://:***@127.0.0.1:1/0" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert runs.fake_runs() == []


def test_a_command_that_cannot_start_releases_its_hold(runs: Runs) -> None:
    done = runs.run("--workflow", WF, "--max-usd", "0.2", "--", "no-such-agent-here", "-p", "x")
    assert done.returncode == 127 and "cannot start no-such-agent-here" in done.stderr
    e = runs.ledger()
    assert calls(e) == [] and e.open_holds() == 0
    [failure] = [ev for ev in e.events() if ev["type"] == "failure"]
    assert "could not start no-such-agent-here" in failure["reason"]


def test_a_run_is_attributed_to_its_repository_and_held_within_its_cap(runs: Runs) -> None:
    raw = yaml.safe_load(config_text())
    raw["repos"] = {"acme/app": {"monthly_usd": 0.5}}
    runs.config_path.write_text(yaml.safe_dump(raw))
    done = runs.run("--workflow", WF, "--", "claude", "-p", "fix it", "--output-format", "json",
                    GITHUB_REPOSITORY="acme/app")
    assert done.returncode == 0, done.stderr
    [argv] = runs.fake_runs()
    assert argv[:2] == ["--max-budget-usd", "0.5"]  # the repository's cap is the tightest room
    e = runs.ledger()
    assert {ev["repo"] for ev in calls(e)} == {"acme/app"}
    _, month = today()
    assert int(e.redis.get(e.keys.repo_spent("acme/app", month))) == sum(ev["cost_nano"] for ev in calls(e))
    bad = runs.run("--workflow", WF, "--repo", "acme", "--", "claude", "-p", "x")
    assert bad.returncode == 2 and "OWNER/NAME" in bad.stderr and "Traceback" not in bad.stderr
