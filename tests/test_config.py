"""Config loading: the default file, the search order and every invalid case (message and exit code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from acme_ci_budget.cli import cli, main
from acme_ci_budget.config import ConfigError, load_config, parse_config
from tests.conftest import DEFAULT_CONFIG_TEXT


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_TEXT)


def test_default_config_has_the_labs_numbers(default_config):
    cfg = default_config
    assert cfg.org_monthly_nano == 800 * 10**9
    assert cfg.reserve_pct == 0.2
    assert list(cfg.workflows) == ["ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant"]
    review = cfg.workflows["ci_cd_review"]
    assert review.routing.default_model == "claude-3-5-haiku-20241022"
    assert review.routing.complex_model == "claude-3-5-sonnet-20241022"
    assert review.inventory.monthly_tasks == 240
    assert cfg.workflows["dev_assistant"].inventory.avg_turns == 8
    assert sum(wf.monthly_nano for wf in cfg.workflows.values()) <= cfg.org_monthly_nano


def test_search_order_env_then_local_then_packaged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACME_BUDGET_CONFIG", raising=False)
    assert load_config().org_monthly_nano == 800 * 10**9  # packaged default
    raw = _raw()
    raw["org"]["monthly_usd"] = 900
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "acme-budget.yml").write_text(yaml.safe_dump(raw))
    assert load_config().org_monthly_nano == 900 * 10**9
    raw["org"]["monthly_usd"] = 1000
    other = tmp_path / "other.yml"
    other.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("ACME_BUDGET_CONFIG", str(other))
    assert load_config().org_monthly_nano == 1000 * 10**9
    assert load_config(tmp_path / ".github" / "acme-budget.yml").org_monthly_nano == 900 * 10**9


def test_secret_fields_expand_env_and_others_do_not(monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.test/T/B/secret")
    monkeypatch.setenv("SOME_LABEL", "expanded")
    raw = _raw()
    raw["workflows"]["ci_cd_review"]["label"] = "${SOME_LABEL}"
    cfg = parse_config(yaml.safe_dump(raw), "x.yml")
    assert cfg.alerts.slack_webhook_url == "https://hooks.slack.test/T/B/secret"
    assert cfg.workflows["ci_cd_review"].label == "${SOME_LABEL}"
    assert "secret" not in repr(cfg.alerts)


def test_unset_secret_reference_means_not_configured(monkeypatch):
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY", raising=False)
    assert parse_config(DEFAULT_CONFIG_TEXT).alerts.pagerduty_routing_key is None


def _mutate(path: str, value):
    raw = _raw()
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return yaml.safe_dump(raw)


_DELETE = object()

INVALID = [
    ("unknown key (typo)", "workflows.ci_cd_review.daily_usdd", 5, "workflows.ci_cd_review.daily_usdd: unknown key (did you mean 'daily_usd'?)"),
    ("unknown top-level key", "orgg", {}, "orgg: unknown key (did you mean 'org'?)"),
    ("missing field", "workflows.ci_cd_review.monthly_usd", _DELETE, "workflows.ci_cd_review.monthly_usd: missing required field"),
    ("negative money", "workflows.dev_assistant.daily_usd", -1, "workflows.dev_assistant.daily_usd: must be >= 0, got -1"),
    ("non-numeric money", "org.monthly_usd", "lots", "org.monthly_usd: expected a number, got 'lots'"),
    ("soft above hard", "workflows.qa_test_gen.per_task_tokens", {"soft": 30000, "hard": 24000}, "workflows.qa_test_gen.per_task_tokens.soft: soft limit 30000 is above the hard limit 24000"),
    ("daily above monthly", "workflows.pm_assistant.daily_usd", 95, "workflows.pm_assistant.daily_usd: daily $95.00 is above monthly_usd $90.00"),
    ("sum above org", "org.monthly_usd", 600, "workflows: monthly budgets add up to $640.00, above org.monthly_usd $600.00"),
    ("model with no price", "workflows.dev_assistant.routing.complex_model", "claude-imaginary-9", "workflows.dev_assistant.routing.complex_model: model 'claude-imaginary-9' has no price"),
    ("reserve_pct = 1", "org.reserve_pct", 1, "org.reserve_pct: must be in [0, 1), got 1"),
    ("reserve_pct negative", "org.reserve_pct", -0.1, "org.reserve_pct: must be >= 0, got -0.1"),
    ("unknown timezone", "timezone", "Mars/Olympus", "timezone: unknown timezone 'Mars/Olympus'"),
    ("boolean as money", "workflows.ci_cd_review.monthly_usd", True, "workflows.ci_cd_review.monthly_usd: expected a number, got True"),
    ("fractional tokens", "workflows.ci_cd_review.max_loop_steps", 2.5, "workflows.ci_cd_review.max_loop_steps: expected a whole number, got 2.5"),
    ("bad alert level", "alerts.min_level", "LOUD", "alerts.min_level: expected one of INFO, WARNING, CRITICAL, got 'LOUD'"),
]


@pytest.mark.parametrize(("case", "path", "value", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_names_file_and_field(tmp_path, case, path, value, message):
    bad = tmp_path / "bad.yml"
    bad.write_text(_mutate(path, value))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(err.value).startswith(f"{bad}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    # the CLI: one line, exit 2, no traceback
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "config", "validate", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"Error: {err.value}"
    assert "Traceback" not in result.stderr


def test_yaml_syntax_error_gives_line_number(tmp_path):
    bad = tmp_path / "broken.yml"
    bad.write_text("org:\n  monthly_usd: 800\nworkflows: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yml: YAML syntax error at line \d+, column \d+"):
        load_config(bad)
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "config", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {bad}: YAML syntax error at line 4, column 1:") and result.stderr.count("\n") == 1


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(empty)


def test_validate_ok_and_estimate_refuses_bad_config(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["config", "validate"], env={"ACME_BUDGET_CONFIG": ""})
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK ")
    bad = tmp_path / "bad.yml"
    bad.write_text(_mutate("org.reserve_pct", 2))
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", "--config", str(bad)])
    assert exit_info.value.code == 2


def test_error_does_not_write_anything(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(_mutate("org.reserve_pct", 2))
    before = sorted(Path(tmp_path).rglob("*"))
    subprocess.run([sys.executable, "-m", "acme_ci_budget", "estimate", "--config", str(bad)], capture_output=True)
    assert sorted(Path(tmp_path).rglob("*")) == before
