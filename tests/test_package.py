"""The package's public names: the lab's imports work, lazily, and `python -m acme_ci_budget` is the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

import acme_ci_budget


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
    assert BudgetEnforcer.__module__ == "acme_ci_budget.ledger.enforcer"
    assert AlertManager.__module__ == "acme_ci_budget.alerts.manager"
    config = load_config()
    assert TaskRouter().select_model("dev_assistant", "extract the function name from this code") == \
        config.workflows["dev_assistant"].routing.default_model  # the Haiku role
    sonnet = config.workflows["qa_test_gen"].routing.default_model  # the Sonnet role: $2 per million input tokens
    assert calculate_cost(sonnet, 1_000_000, 0) == 2.0
    assert config.org_monthly_usd == 800.0
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        acme_ci_budget.Nope  # noqa: B018


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
