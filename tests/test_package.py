"""The package's public names: the lab's imports work, lazily, and `python -m acme_ci_budget` is the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import acme_ci_budget

ROOT = Path(__file__).resolve().parent.parent


def test_the_labs_names_are_importable_from_the_package():
    from acme_ci_budget import (
        AcmeBudgetedClient,
        AlertManager,
        BudgetedClient,
        BudgetEnforcer,
        TaskRouter,
        calculate_cost,
        load_config,
    )

    assert AcmeBudgetedClient is BudgetedClient
    # the classes live in their layer's package (ledger/, alerts/), which re-exports them
    assert BudgetEnforcer.__module__.startswith("acme_ci_budget.ledger.")
    assert AlertManager.__module__.startswith("acme_ci_budget.alerts.")
    config = load_config()
    assert TaskRouter().select_model("dev_assistant", "extract the function name from this code") == \
        config.workflows["dev_assistant"].routing.default_model  # the Haiku role
    sonnet = config.workflows["qa_test_gen"].routing.default_model  # the Sonnet role: $2 per million input tokens
    assert calculate_cost(sonnet, 1_000_000, 0) == 2.0
    assert config.org_monthly_usd == 800.0
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        acme_ci_budget.Nope  # noqa: B018


def test_the_public_module_paths_keep_working_after_the_move_to_layers():
    import acme_ci_budget.alerts
    import acme_ci_budget.client
    import acme_ci_budget.ledger
    import acme_ci_budget.router
    from acme_ci_budget.alerts.manager import AlertManager
    from acme_ci_budget.client.budgeted import BudgetedClient
    from acme_ci_budget.client.router import TaskRouter
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer

    assert acme_ci_budget.client.BudgetedClient is BudgetedClient
    assert acme_ci_budget.client.AcmeBudgetedClient is BudgetedClient
    assert acme_ci_budget.ledger.BudgetEnforcer is BudgetEnforcer
    assert acme_ci_budget.alerts.AlertManager is AlertManager
    assert acme_ci_budget.router.TaskRouter is TaskRouter
    assert acme_ci_budget.TaskRouter is TaskRouter and acme_ci_budget.BudgetEnforcer is BudgetEnforcer
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        acme_ci_budget.ledger.Nope  # noqa: B018


def test_the_layer_contract_holds():
    """pyproject's [tool.importlinter] contract: each layer imports only the layers below it."""
    import shutil

    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    out = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


def test_importing_the_package_loads_no_heavy_dependency():
    probe = "import sys, acme_ci_budget; print(sorted(m for m in ('anthropic', 'github', 'redis', 'jinja2', 'genai_prices') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_runs_the_cli_and_propagates_exit_codes(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "acme_ci_budget", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and acme_ci_budget.__version__ in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "acme_ci_budget", "estimate", "--format", "pdf"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Invalid value for '--format'" in bad.stderr
