"""action.yml's run step with no shared ledger (issue 15, item 1): red with the fix, or a trial on purpose.

The step's script runs under bash with the env action.yml gives it, each ``${{ inputs.X }}`` taken from
the workflow's ``with:`` or the input's default, and the REAL ``acme-ci-budget`` console script on PATH,
as the runner runs it: against the fake GitHub server (PyGithub, GITHUB_API_URL), the fake Messages API
(the anthropic SDK, ANTHROPIC_BASE_URL) and, for a trial, the embedded Redis on the "runner".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_action import ACTION, EXPRESSION_RE, load, step_by_id
from tests.e2e.test_review import REPO, config_models, config_text, parse_outputs, review_json
from tests.fakes.anthropic_server import FakeAnthropicServer, catalogue_serving, ok
from tests.fakes.github_server import FakeGitHubServer, pr_file

API_KEY = "sk-ant-step-secret-0123456789"
GH_TOKEN = "ghs_stepSecretToken0123456789"
PATCH = "@@ -1,2 +1,3 @@\n a = 1\n-b = 2\n+b = 3\n+c = 4"
FIX = (
    "add the repository secret ACME_REDIS_URL (the rediss:// URL of a shared Redis) and pass it to the action "
    "as `redis-url: ${{ secrets.ACME_REDIS_URL }}`; or, for a trial only, set the action input "
    '`ephemeral-ledger: "true"`'
)


def step_env(with_: dict[str, str]) -> dict[str, str]:
    """The run step's ``env:`` as the runner computes it: each input from ``with_`` or its default."""
    inputs = load(ACTION)["inputs"]
    unknown = set(with_) - set(inputs)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    values = {name: str(spec.get("default", "")) for name, spec in inputs.items()} | with_
    env = {}
    for key, raw in step_by_id("run")["env"].items():
        match = EXPRESSION_RE.fullmatch(str(raw).strip())
        assert match and match.group(1).startswith("inputs."), raw
        env[key] = values[match.group(1).removeprefix("inputs.")]
    return env


class Runner:
    """A hosted runner's job: the event, the step's files, the action's step run by bash."""

    def __init__(self, tmp: Path, gh: FakeGitHubServer, model: FakeAnthropicServer) -> None:
        self.tmp, self.gh, self.model = tmp, gh, model
        self.ws = tmp / "workspace"
        self.ws.mkdir()
        self.output = tmp / "github_output"
        self.summary = tmp / "step_summary"
        self.base = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp / "home"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": gh.url,
            "GITHUB_GRAPHQL_URL": gh.graphql_url,
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_WORKSPACE": str(self.ws),
            "ANTHROPIC_BASE_URL": model.url,
            "ACME_BUDGET_DATA_DIR": str(tmp / "runner-data"),  # the embedded ledger's files, on the "runner"
            "ACME_BUDGET_JOURNAL": str(tmp / "journal.jsonl"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
        }
        self.config = config_text()
        (self.ws / ".github").mkdir()
        (self.ws / ".github" / "acme-budget.yml").write_text(self.config)  # the config input's default path
        model.set_models(catalogue_serving(*config_models(self.config)))

    def pull_request(self, number: int = 7, head_repo: str = REPO) -> None:
        self.gh.add_repo(REPO)
        self.gh.set_file(REPO, "main", ".github/acme-budget.yml", self.config)
        self.gh.add_pull(
            REPO, number, files=[pr_file("src/app.py", PATCH)], head_sha="h1", base_sha="b1",
            head_repo=None if head_repo == REPO else head_repo,
        )
        event = {
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "draft": False,
                "labels": [],
                "head": {"sha": "h1", "ref": "feature", "repo": {"full_name": head_repo}},
                "base": {"sha": "b1", "ref": "main", "repo": {"full_name": REPO}},
            },
            "repository": {"full_name": REPO},
        }
        (self.tmp / "event.json").write_text(json.dumps(event))
        self.base |= {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(self.tmp / "event.json")}

    def step(self, **with_: str) -> tuple[int, str, dict[str, str]]:
        """Run the action's "Run acme-ci-budget" step; (exit code, its log, its outputs)."""
        self.output.write_text("")
        self.summary.write_text("")
        script = self.tmp / "step.sh"
        script.write_text(step_by_id("run")["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=self.base | step_env(with_),
            cwd=self.ws,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout + done.stderr, parse_outputs(self.output.read_text())


@pytest.fixture
def runner(tmp_path: Path, fake_github: FakeGitHubServer, fake_anthropic: FakeAnthropicServer) -> Runner:
    return Runner(tmp_path, fake_github, fake_anthropic)


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("::error")]


def test_review_without_redis_url_fails_red_with_the_fix(runner: Runner) -> None:
    # Before: exit 0, skipped-reason=ledger_unavailable: a green check on a PR nobody reviewed.
    runner.pull_request()
    code, log, outputs = runner.step(**{"command": "review", "anthropic-api-key": API_KEY, "github-token": GH_TOKEN})
    assert code == 2, log
    assert "Traceback" not in log
    [error] = error_lines(log)
    assert error.startswith("::error title=acme-ci-budget review::no REDIS_URL in GitHub Actions")
    assert FIX in error
    assert outputs["skipped-reason"] == "ledger_not_configured"
    assert "**Skipped (ledger_not_configured)**" in runner.summary.read_text()
    assert runner.model.message_requests == [] and runner.gh.issue_comments(REPO, 7) == []


def test_review_without_redis_url_is_red_whatever_fail_on_block_says(runner: Runner) -> None:
    runner.pull_request()
    code, log, outputs = runner.step(
        **{"command": "review", "anthropic-api-key": API_KEY, "github-token": GH_TOKEN, "fail-on-block": "true"}
    )
    assert code == 2 and outputs["skipped-reason"] == "ledger_not_configured", log


def test_a_fork_pr_without_secrets_is_still_skipped_not_failed(runner: Runner) -> None:
    # A fork's PR gets no secrets: no key and no ACME_REDIS_URL. That is the skip policy's case, not a setup error.
    runner.pull_request(head_repo="stranger/app")
    code, log, outputs = runner.step(**{"command": "review", "github-token": GH_TOKEN})
    assert code == 0, log
    assert outputs["skipped-reason"] == "fork_pr_without_secrets" and error_lines(log) == []


def test_ephemeral_ledger_input_runs_a_trial_on_the_runners_embedded_redis(runner: Runner) -> None:
    runner.pull_request()
    runner.model.enqueue(ok(review_json("Trial review: fine.")))
    code, log, outputs = runner.step(
        **{"command": "review", "anthropic-api-key": API_KEY, "github-token": GH_TOKEN, "ephemeral-ledger": "true"}
    )
    assert code == 0, log
    assert error_lines(log) == []
    assert outputs["skipped-reason"] == "" and float(outputs["cost-usd"]) > 0
    [comment] = runner.gh.issue_comments(REPO, 7)
    assert "Trial review: fine." in comment["body"]
    assert (runner.tmp / "runner-data").is_dir()  # the spend went to the runner's embedded ledger


def test_qa_testgen_without_redis_url_fails_red_the_same_way(runner: Runner) -> None:
    # qa-testgen used to end like the review did (exit 0, ledger_unavailable): now the same red step.
    ticket = runner.tmp / "ticket.md"
    ticket.write_text("CSV export\nAs an admin I want to export orders as CSV.\n")
    runner.base["GITHUB_EVENT_NAME"] = "workflow_dispatch"
    with_: dict[str, Any] = {"command": "qa-testgen", "anthropic-api-key": API_KEY, "ticket-file": str(ticket)}
    code, log, outputs = runner.step(**with_)
    assert code == 2, log
    [error] = error_lines(log)
    assert error.startswith("::error title=acme-ci-budget qa-testgen::no REDIS_URL in GitHub Actions")
    assert FIX in error
    assert outputs["skipped-reason"] == "ledger_not_configured"
    assert runner.model.message_requests == [] and not (runner.ws / "qa-test-plan.md").exists()


def test_status_without_redis_url_fails_and_the_input_allows_a_trial(runner: Runner) -> None:
    code, log, _ = runner.step(command="status")
    assert code == 2, log
    [error] = error_lines(log)  # the one-line error is also the step's annotation
    assert error.startswith("::error title=acme-ci-budget::no REDIS_URL in GitHub Actions") and FIX in error
    code, log, _ = runner.step(**{"command": "status", "ephemeral-ledger": "true"})
    assert code == 0 and "BUDGET STATUS" in log, log
