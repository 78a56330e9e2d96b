"""The action's ``reserve`` and ``settle`` around an agent step, run the way the runner runs them.

Each step is action.yml's own "Run acme-ci-budget" script, run with bash, with the environment its
``env:`` block builds from the step's inputs (the inputs' defaults, then the step's ``with:``), fresh
GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, the REAL ``acme-ci-budget`` of this interpreter and a real
Redis. The agent step between them is the fake ``claude`` (tests/fakes/claude) writing an execution
file as claude-code-action does: a JSON array of the run's messages, the result last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import parse_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.runs.summary import usd_text
from tests.e2e.test_action import ACTION, EXPRESSION_RE, step_by_id
from tests.e2e.test_review import parse_outputs

FAKES = Path(__file__).resolve().parents[1] / "fakes"
BIN = Path(sys.executable).parent  # the acme-ci-budget console script of this environment
WF = "dev_assistant"
USD = 1_000_000_000


@dataclass
class Step:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


class Job:
    """One job's runner: the workspace, its config, and the action's run step."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.tmp, self.redis_url = tmp, redis_url
        raw = yaml.safe_load(default_config_path().read_text())
        raw["namespace"] = "agentaction"
        raw["workflows"][WF]["per_run_usd"] = 2
        self.config = tmp / "acme-budget.yml"
        self.config.write_text(yaml.safe_dump(raw))
        self.script = step_by_id("run")["run"]
        self.step_env = step_by_id("run")["env"]
        self.defaults = {name: str(spec.get("default", "")) for name, spec in yaml.safe_load(ACTION.read_text())[
            "inputs"].items()}

    def uses(self, **with_: str) -> Step:
        """``uses: ./`` with these inputs (``max_usd`` for ``max-usd``): the run step, as the runner runs it."""
        inputs = {**self.defaults, "config": str(self.config), "redis-url": self.redis_url, "github-token": "",
                  **{k.replace("_", "-"): v for k, v in with_.items()}}
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "GITHUB_ACTIONS": "true",
               "HOME": str(self.tmp), "ACME_BUDGET_DATA_DIR": str(self.tmp / "data")}
        for var, value in self.step_env.items():
            name = EXPRESSION_RE.fullmatch(value).group(1).removeprefix("inputs.")
            env[var] = inputs[name]
        out, summary = self.tmp / "github_output", self.tmp / "step_summary"
        out.write_text("")  # the runner gives every step fresh files
        summary.write_text("")
        env.update(GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary))
        script = self.tmp / "step.sh"
        script.write_text(self.script)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env,
                              capture_output=True, text=True, timeout=120, cwd=self.tmp)
        return Step(done.returncode, done.stdout, done.stderr, parse_outputs(out.read_text()))

    def agent(self, max_budget_usd: str, execution_file: Path | None, **fake: str) -> subprocess.CompletedProcess:
        """The agent step: Claude Code run as claude-code-action runs it (claude_args: --max-budget-usd ...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_CLAUDE_")}
        env.update({f"FAKE_CLAUDE_{k.upper()}": v for k, v in fake.items()})
        if execution_file is not None:
            env["FAKE_CLAUDE_EXECUTION_FILE"] = str(execution_file)
        return subprocess.run([str(FAKES / "claude"), "-p", "fix the issue", "--output-format", "stream-json",
                               "--max-budget-usd", max_budget_usd], env=env, capture_output=True, text=True,
                              timeout=60)

    def ledger(self) -> BudgetEnforcer:
        return BudgetEnforcer(parse_config(self.config.read_text(), "t"), redis_url=self.redis_url)


@pytest.fixture
def job(tmp_path, redis_url) -> Job:
    return Job(tmp_path, redis_url)


def priced(e: BudgetEnforcer, result: dict[str, Any]) -> int:
    return sum(
        cost_nano(m, u["inputTokens"], u["outputTokens"], u["cacheCreationInputTokens"], u["cacheReadInputTokens"],
                  overrides=e.config.pricing, tier_prompt_tokens=0)
        for m, u in result["modelUsage"].items()
    )


def spent(e: BudgetEnforcer) -> int:
    return int(e.get_org_status()["spend_nano"])


def assert_ledger_equals_events(e: BudgetEnforcer) -> None:
    assert spent(e) == sum(ev["cost_nano"] for ev in e.events() if ev["type"] == "call")
    assert e.open_holds() == 0


def test_reserve_then_claude_then_settle_outputs_the_cost(job: Job) -> None:
    reserved = job.uses(command="reserve", workflow=WF, max_usd="1.5")  # the input name
    assert reserved.code == 0, reserved.stderr
    out = reserved.outputs
    assert out["blocked"] == "false" and out["max-budget-usd"] == "1.5" and out["reservation-id"].startswith("run-")
    two = {"claude-sonnet-5-5": {"in": 900, "out": 700, "cache_write": 5000, "cache_read": 30000},
           "claude-haiku-5-5": {"in": 3000, "out": 400, "cache_write": 100, "cache_read": 8000}}
    execution = job.tmp / "claude-execution-output.json"
    agent = job.agent(out["max-budget-usd"], execution, turn=json.dumps(two))
    assert agent.returncode == 0, agent.stderr
    settled = job.uses(command="settle", reservation_id=out["reservation-id"], execution_file=str(execution),
                       agent_outcome="success")
    assert settled.code == 0, settled.stderr
    result = json.loads(execution.read_text())[-1]
    e = job.ledger()
    s = settled.outputs
    assert s["cost-usd"] == usd_text(priced(e, result)) and spent(e) == priced(e, result)
    assert s["model"] == "claude-sonnet-5-5,claude-haiku-5-5"  # the costliest first
    assert s["input-tokens"] == str(3 * 900 + 3 * 3000) and s["output-tokens"] == str(3 * 700 + 3 * 400)
    assert s["cache-read-tokens"] == str(3 * 38000) and s["cache-write-tokens"] == str(3 * 5100)
    wf = e.config.workflow(WF)
    assert float(s["budget-pct"]) == pytest.approx(priced(e, result) * 100 / wf.daily_nano, abs=0.01)
    assert s["budget-remaining-usd"] == usd_text(wf.daily_nano - priced(e, result))
    assert s["blocked"] == "false" and s["reservation-id"] == out["reservation-id"]
    assert_ledger_equals_events(e)
    # a re-run of the settle step (a re-run job) charges nothing twice
    again = job.uses(command="settle", reservation_id=out["reservation-id"], execution_file=str(execution))
    assert again.code == 0 and again.outputs["cost-usd"] == s["cost-usd"] and spent(e) == priced(e, result)


@pytest.mark.parametrize("execution_file", ["", "missing.json"], ids=["no-output", "no-file"])
def test_an_agent_step_that_wrote_no_execution_file_is_charged_its_hold(job: Job, execution_file: str) -> None:
    reserved = job.uses(command="reserve", workflow_id=WF)  # per_run_usd: $2
    rid = reserved.outputs["reservation-id"]
    crashed = job.agent(reserved.outputs["max-budget-usd"], None, mode="crash")
    assert crashed.returncode == 3
    path = str(job.tmp / execution_file) if execution_file else ""
    settled = job.uses(command="settle", reservation_id=rid, execution_file=path, agent_outcome="failure")
    assert settled.code == 0, settled.stderr
    assert settled.outputs["cost-usd"] == "2" and settled.outputs["model"] == "agent-usage-missing"
    assert "usage_missing" in settled.stdout and "::warning" in settled.stdout
    e = job.ledger()
    [call] = [ev for ev in e.events() if ev["type"] == "call"]
    assert call["usage_missing"] == 1 and call["cost_nano"] == 2 * USD and call["agent_outcome"] == "failure"
    assert_ledger_equals_events(e)


def test_an_execution_file_without_a_result_is_charged_its_hold(job: Job) -> None:
    rid = job.uses(command="reserve", workflow_id=WF, max_usd="0.5").outputs["reservation-id"]
    execution = job.tmp / "cut.json"
    execution.write_text(json.dumps([{"type": "system", "subtype": "init"}, {"type": "assistant", "message": {}}]))
    settled = job.uses(command="settle", reservation_id=rid, execution_file=str(execution))
    assert settled.outputs["cost-usd"] == "0.5" and "holds no result object" in settled.stdout


def test_a_skipped_agent_step_releases_the_hold(job: Job) -> None:
    rid = job.uses(command="reserve", workflow_id=WF).outputs["reservation-id"]
    settled = job.uses(command="settle", reservation_id=rid, execution_file="", agent_outcome="skipped")
    assert settled.code == 0 and settled.outputs["cost-usd"] == "0" and "released" in settled.stdout
    e = job.ledger()
    assert spent(e) == 0 and e.open_holds() == 0


def test_blocked_reserve_never_lets_the_agent_spend_and_settle_has_nothing_to_do(job: Job) -> None:
    e = job.ledger()
    day, _month = e.periods()
    e.redis.set(e.keys.wf_spent_day(WF, day), 12 * USD)  # the day is spent
    reserved = job.uses(command="reserve", workflow_id=WF)
    assert reserved.code == 0  # a notice, as a blocked review
    assert reserved.outputs["blocked"] == "true" and reserved.outputs["block-reason"] == "daily_limit_exceeded"
    assert reserved.outputs["reservation-id"] == "" and reserved.outputs["max-budget-usd"] == ""
    assert "::notice" in reserved.stdout
    settled = job.uses(command="settle", reservation_id="", execution_file="")
    assert settled.code == 0 and "nothing to settle" in settled.stdout
    failing = job.uses(command="reserve", workflow_id=WF, fail_on_block="true")
    assert failing.code == 1


def test_bad_step_inputs_are_one_line_exit_2(job: Job) -> None:
    for with_, message in [
        ({"command": "reserve"}, "reserve needs the workflow"),
        ({"command": "reserve", "workflow_id": "nope"}, "unknown workflow 'nope'"),
        ({"command": "settle", "reservation_id": "run-$(touch pwned)"}, "not a run reservation id"),
        ({"command": "settle", "reservation_id": "run-" + "a" * 32}, "holds no run reservation"),
    ]:
        step = job.uses(**with_)
        assert step.code == 2 and message in step.stderr and "Traceback" not in step.stderr, step.stderr
    assert not (job.tmp / "pwned").exists()
