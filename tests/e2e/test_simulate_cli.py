"""``simulate`` ends where the next commands start (issue 15 item 4): the kept month, read back by the exact
commands it prints (``report``, ``events``, ``status`` with ``--namespace``), through the CLI."""

from __future__ import annotations

import csv
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from acme_ci_budget.cli import cli
from acme_ci_budget.config import load_config
from acme_ci_budget.ledger import embedded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "data"
    embedded.release_all()


def _printed_commands(output: str) -> list[list[str]]:
    return [shlex.split(line)[1:] for line in output.splitlines() if line.startswith("  acme-ci-budget ")]


def test_simulate_prints_the_commands_that_show_the_kept_month(data_dir, tmp_path):
    month = datetime.now(UTC).astimezone(load_config().tz).strftime("%Y-%m")  # this month: status shows it too
    runner = CliRunner()
    run = runner.invoke(cli, ["simulate", "--days", "1", "--format", "json", "--report-dir", str(tmp_path / "r")])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    namespace = data["namespace"]
    assert data["kept"] is True and namespace == f"acme-sim-{month}-x1-s0"
    text = runner.invoke(cli, ["simulate", "--days", "1", "--report-dir", str(tmp_path / "r")])
    assert text.exit_code == 0, text.output
    assert f"The simulated month stays in namespace {namespace} of the local embedded ledger" in text.stdout
    commands = _printed_commands(text.stdout)
    assert [c[0] for c in commands] == ["report", "report", "events", "status"]
    assert commands == [shlex.split(c)[1:] for c in data["next_commands"]]
    for command in commands:
        assert command[command.index("--namespace") + 1] == namespace
        done = runner.invoke(cli, command)
        assert done.exit_code == 0, (command, done.output)
        if command[0] == "report" and "-o" not in command:
            assert f"Namespace {namespace}" in done.stdout
            assert f"Calls:      {data['calls']:,}" in done.stdout
        if command[0] == "status":
            assert f"${data['org_spend_usd']:,.2f} of $" in done.stdout
    with open(tmp_path / f"{namespace}.csv", newline="") as rows:
        events = list(csv.DictReader(rows))
    assert sum(1 for e in events if e["type"] == "call") == data["calls"]
    assert sum(int(e["cost_nano"]) for e in events) == data["org_spend_nano"]  # the ledger equals its events
    assert (tmp_path / f"{namespace}.html").read_text().lower().count("<html") == 1
    # the real namespace saw nothing
    real = json.loads(runner.invoke(cli, ["status", "--format", "json"]).stdout)
    assert real["org"]["spend"] == 0


def test_no_keep_leaves_nothing_and_prints_no_dead_commands(data_dir, tmp_path):
    run = CliRunner().invoke(cli, ["simulate", "--days", "1", "--no-keep", "--report-dir", str(tmp_path / "r")])
    assert run.exit_code == 0, run.output
    assert "a scratch embedded Redis (discarded)" in run.stdout
    assert "--namespace" not in run.stdout and not data_dir.exists()


def test_a_bad_namespace_is_one_line_and_exit_2(data_dir):
    for command in ("status", "report", "events"):
        done = CliRunner().invoke(cli, [command, "--namespace", "acme}{x"])
        assert done.exit_code == 2 and "--namespace" in done.output and "Traceback" not in done.output


def test_the_simulation_report_folder_is_ignored_by_git():
    assert "acme-sim-report/" in (REPO / ".gitignore").read_text().splitlines()
