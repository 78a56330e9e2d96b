"""The monthly-report workflow reconciles the month before the report, and skips it (with a notice) without a key.

The workflow's reconcile steps are run here as the runner runs them: bash with the step's env, and for the
reconcile step a stand-in ``acme-ci-budget`` and ``python`` on PATH, so exit codes 0 / 1 / 2 are checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.e2e.test_action import WORKFLOWS, expression, load, run_bash, workflow_steps

STEPS = workflow_steps(load(WORKFLOWS / "monthly-report.yml"))


def step(name_part: str) -> dict:
    return next(s for s in STEPS if name_part in s.get("name", ""))


def test_reconcile_runs_before_the_report_only_with_the_admin_key():
    names = [s.get("name", "") for s in STEPS]
    check, reconcile = step("admin key"), step("Reconcile the ledger")
    assert names.index(check["name"]) < names.index(reconcile["name"]) < names.index("Build the budget and ROI report")
    assert expression(check["env"]["ANTHROPIC_ADMIN_KEY"]) == "secrets.ANTHROPIC_ADMIN_KEY"
    assert reconcile["if"] == "steps.admin.outputs.present == 'true'"
    assert expression(reconcile["env"]["REDIS_URL"]) == "secrets.ACME_REDIS_URL"
    assert "'previous'" in reconcile["env"]["MONTH"]
    assert 'acme-ci-budget reconcile --month "$MONTH"' in reconcile["run"]


@pytest.mark.parametrize("key, present", [("", "false"), ("sk-ant-admin01-x", "true")])
def test_the_check_skips_with_a_notice_without_the_secret(tmp_path, key, present):
    out = tmp_path / "out"
    result = run_bash(
        step("admin key")["run"],
        {"PATH": os.environ["PATH"], "ANTHROPIC_ADMIN_KEY": key, "GITHUB_OUTPUT": str(out)},
        tmp_path,
    )
    assert result.returncode == 0
    assert out.read_text() == f"present={present}\n"
    assert ("::notice title=reconcile skipped::" in result.stdout) == (present == "false")
    assert "sk-ant" not in result.stdout


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("code, outcome", [(0, "ok"), (1, "warning"), (2, "fail")])
def test_past_tolerance_warns_and_bad_input_fails(tmp_path, code, outcome):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "python", "exit 0\n")
    _stub(bin_dir, "acme-ci-budget", f'echo "| row | $3 |"\nexit {code}\n')
    summary = tmp_path / "summary.md"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MONTH": "previous",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = run_bash(step("Reconcile the ledger")["run"], env, tmp_path)
    assert (result.returncode == 0) == (outcome != "fail")
    assert ("::warning title=reconcile::" in result.stdout) == (outcome == "warning")
    assert "| row | previous |" in summary.read_text()
