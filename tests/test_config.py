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
    # a configured model is a known id or a dated snapshot of one (issue 11, item 9)
    ("model misspelled by a suffix", "workflows.ci_cd_review.routing.default_model", "claude-3-5-haiku-20241022-typo", "workflows.ci_cd_review.routing.default_model: model 'claude-3-5-haiku-20241022-typo' has no price: not a known model id or a dated snapshot of one (did you mean 'claude-3-5-haiku-20241022'? add it under pricing: or fix the name)"),
    ("model misspelled inside", "workflows.dev_assistant.inventory.model", "claude-3-5-sonet-20241022", "workflows.dev_assistant.inventory.model: model 'claude-3-5-sonet-20241022' has no price: not a known model id or a dated snapshot of one (did you mean 'claude-3-5-sonnet-20241022'?"),
    ("two dated overrides, no alias", "pricing", {"claude-sonnet-4-5-20250929": {"input": 3, "output": 15}, "claude-sonnet-4-5-20260101": {"input": 2, "output": 10}}, "pricing.claude-sonnet-4-5-20260101: claude-sonnet-4-5-20250929 and claude-sonnet-4-5-20260101 both price the claude-sonnet-4-5 family; add pricing.claude-sonnet-4-5 for replies that name the alias"),
    # every number is bounded at load (issue 11, item 14)
    ("org money above $10M", "org.monthly_usd", 10_000_001, "org.monthly_usd: must be <= 10,000,000, got 10000001"),
    ("workflow money above $10M", "workflows.ci_cd_review.monthly_usd", 2e7, "workflows.ci_cd_review.monthly_usd: must be <= 10,000,000, got 20000000.0"),
    ("tokens above 10M", "workflows.qa_test_gen.per_task_tokens", {"soft": 1, "hard": 10_000_001}, "workflows.qa_test_gen.per_task_tokens.hard: must be <= 10,000,000, got 10000001"),
    ("max_tokens above 10M", "workflows.ci_cd_review.routing.max_tokens", {"default": 10**12}, "workflows.ci_cd_review.routing.max_tokens.default: must be <= 10,000,000"),
    ("loop steps above 10k", "workflows.ci_cd_review.max_loop_steps", 10_001, "workflows.ci_cd_review.max_loop_steps: must be <= 10,000, got 10001"),
    ("hold TTL below 1 s", "ledger.hold_ttl_seconds", 0, "ledger.hold_ttl_seconds: must be >= 1, got 0"),
    ("hold TTL of 1 s", "ledger.hold_ttl_seconds", 1, "ledger.hold_ttl_seconds: 1 s leaves no time for a model call; use >= 2"),
    ("hold TTL above a day", "ledger.hold_ttl_seconds", 86_401, "ledger.hold_ttl_seconds: must be <= 86,400, got 86401"),
    ("retention above 10 years", "ledger.retention_days", 3_651, "ledger.retention_days: must be <= 3,650, got 3651"),
    ("warn_pct above 1", "alerts.warn_pct", 1.5, "alerts.warn_pct: must be <= 1, got 1.5"),
    ("critical_pct above 1", "alerts.critical_pct", 2, "alerts.critical_pct: must be <= 1, got 2"),
    ("price above $10k/MTok", "pricing", {"claude-3-5-haiku-20241022": {"input": 1, "output": 100_000}}, "pricing.claude-3-5-haiku-20241022.output: must be <= 10,000, got 100000"),
    ("review file cap above 20 MiB", "review", {"max_file_bytes": 10**9}, "review.max_file_bytes: must be <= 20,971,520"),
    ("inventory tasks above 10M", "workflows.ci_cd_review.inventory.monthly_tasks", 10**8, "workflows.ci_cd_review.inventory.monthly_tasks: must be <= 10,000,000"),
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


# --- the numbers the issue found passing validation and failing inside the Lua scripts ----------


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        ("retention_days: 400", "retention_days: 1000000000", "ledger.retention_days: must be <= 3,650, got 1000000000"),
        ("hold_ttl_seconds: 600", "hold_ttl_seconds: 1e15", "ledger.hold_ttl_seconds: must be <= 86,400, got '1e15'"),
        ("hold_ttl_seconds: 600", "hold_ttl_seconds: 1.0e+15", "ledger.hold_ttl_seconds: must be <= 86,400, got 1000000000000000.0"),
    ],
)
def test_out_of_range_ledger_numbers_are_config_errors(tmp_path, line, replacement, message):
    assert line in DEFAULT_CONFIG_TEXT
    bad = tmp_path / "acme-budget.yml"
    bad.write_text(DEFAULT_CONFIG_TEXT.replace(line, replacement))
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "config", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr == f"Error: {bad}: {message}\n"


# --- strict YAML: duplicate keys and base-60 numbers ---------------------------------------------


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_a_second_org_block_is_a_duplicate_key_error(tmp_path):
    text = DEFAULT_CONFIG_TEXT.rstrip("\n") + "\norg:\n  monthly_usd: 100000\n"
    bad = tmp_path / "acme-budget.yml"
    bad.write_text(text)
    first = _line_of(text, "org:")
    second = len(text.splitlines()) - 1
    expected = f"{bad}: YAML error at line {second}, column 1: duplicate key 'org' (first at line {first})"
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(err.value) == expected
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "config", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr == f"Error: {expected}\n"


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, "c"),  # nested
        ("a:\n  - x: 1\n    x: 2\n", 3, "x"),  # inside a list
        ("a: 1\n'a': 2\n", 2, "a"),  # quoting does not make a different key
        ("a: {b: 1, b: 2}\n", 1, "b"),  # flow style
    ],
)
def test_duplicate_keys_at_any_level(text, line, key):
    with pytest.raises(ConfigError, match=rf"^f.yml: YAML error at line {line}, column \d+: duplicate key '{key}'"):
        parse_config(text, "f.yml")


def test_merge_keys_still_override_what_they_merge():
    from acme_ci_budget.strict_yaml import load_yaml

    assert load_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")["use"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("value", ["1:30", "10:00", "1:30.5", "-1:00"])
def test_sexagesimal_numbers_are_rejected_with_the_line(tmp_path, value):
    line = "  monthly_usd: 800"
    assert line in DEFAULT_CONFIG_TEXT
    text = DEFAULT_CONFIG_TEXT.replace(line, f"  monthly_usd: {value}", 1)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "f.yml")
    assert str(err.value).startswith(f"f.yml: YAML error at line {_line_of(DEFAULT_CONFIG_TEXT, line)}, column 16: ")
    assert f"{value!r} is a YAML 1.1 base-60 number" in str(err.value)
    # quoted, it is text, and then the type check names the field
    quoted = DEFAULT_CONFIG_TEXT.replace(line, f"  monthly_usd: '{value}'", 1)
    with pytest.raises(ConfigError, match=rf"org.monthly_usd: expected a number, got '{value}'"):
        parse_config(quoted, "f.yml")
