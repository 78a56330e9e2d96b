"""cli.py: a mistyped command gets "did you mean" (issue 15 item 5); errors in Actions are annotations."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from acme_ci_budget.cli import COMMANDS, cli, did_you_mean


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("stauts", "Did you mean 'status'?"),
        ("reveiw", "Did you mean 'review'?"),
        ("simualte", "Did you mean 'simulate'?"),
        ("rep", "Did you mean 'report'?"),
        ("qa-testgne", "Did you mean 'qa-testgen'?"),
    ],
)
def test_a_mistyped_command_gets_the_closest_name(typed: str, hint: str) -> None:
    result = CliRunner().invoke(cli, [typed])
    assert result.exit_code == 2
    assert f"Error: No such command '{typed}'. {hint}" in result.output


def test_nothing_close_gets_no_guess_and_help_still_works() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2 and "Error: No such command 'frobnicate'.\n" in result.output
    assert CliRunner().invoke(cli, ["--help"]).exit_code == 0
    assert did_you_mean("s", sorted(COMMANDS)) == ""  # one letter is no basis for a guess


def test_several_close_names_are_all_offered() -> None:
    assert did_you_mean("e", ["estimate", "events"]) == ""
    assert did_you_mean("ev", ["estimate", "events"]) == " Did you mean 'events'?"
    assert did_you_mean("es", ["estimate", "events"]) == " Did you mean 'estimate'?"
    assert did_you_mean("estimats", ["estimate", "estimates"]) == " Did you mean one of 'estimates', 'estimate'?"


def test_an_error_in_actions_is_also_an_error_annotation(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "config", "validate", "--config", str(tmp_path / "missing.yml")],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: ") and "missing.yml" in line
    assert done.stdout.startswith("::error title=acme-ci-budget::") and "missing.yml" in done.stdout
