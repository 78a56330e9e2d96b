"""Config loading: the default file, the search order and every invalid case (message and exit code)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from acme_ci_budget.cli import cli, main
from acme_ci_budget.config import ConfigError, load_config, parse_config
from tests.conftest import DEFAULT_CONFIG_TEXT

ROOT = Path(__file__).resolve().parents[2]


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_TEXT)


# The lab's Phase 2 WORKFLOW_BUDGETS: monthly, daily, per-task soft/hard, per-session soft/hard, loop steps.
LAB_BUDGETS = {
    "ci_cd_review": (200, 7, 6_000, 12_000, 6_000, 12_000, 5),
    "dev_assistant": (350, 12, 5_000, 10_000, 60_000, 120_000, 30),
    "qa_test_gen": (150, 8, 8_000, 16_000, 8_000, 16_000, 10),
    "pm_assistant": (100, 4, 4_000, 8_000, 40_000, 80_000, 15),
}
# Phase 1: tasks (sessions), turns, input and output tokens per task (per turn).
LAB_INVENTORY = {
    "ci_cd_review": (160, None, 4_700, 650),
    "dev_assistant": (288, 8, 750, 450),
    "qa_test_gen": (16, None, 2_000, 3_500),
    "pm_assistant": (48, 6, 550, 250),
}


def test_default_config_has_the_labs_numbers(default_config):
    cfg = default_config
    assert cfg.org_monthly_nano == 800 * 10**9
    assert cfg.reserve_pct == 0.2
    assert list(cfg.workflows) == ["ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant"]
    for wid, (monthly, daily, t_soft, t_hard, s_soft, s_hard, steps) in LAB_BUDGETS.items():
        wf = cfg.workflows[wid]
        assert (wf.monthly_nano, wf.daily_nano) == (monthly * 10**9, daily * 10**9), wid
        assert (wf.per_task_tokens.soft, wf.per_task_tokens.hard) == (t_soft, t_hard), wid
        assert (wf.per_session_tokens.soft, wf.per_session_tokens.hard) == (s_soft, s_hard), wid
        assert wf.max_loop_steps == steps, wid
        tasks, turns, tin, tout = LAB_INVENTORY[wid]
        inv = wf.inventory
        assert (inv.monthly_tasks, inv.avg_turns, inv.avg_input_tokens, inv.avg_output_tokens) == (tasks, turns, tin, tout)
        assert inv.model == wf.routing.default_model, wid
    assert sum(wf.monthly_nano for wf in cfg.workflows.values()) == cfg.org_monthly_nano
    # MODEL_ROUTING: the review escalates on size, the assistants on the lab's keywords
    routing = {wid: wf.routing for wid, wf in cfg.workflows.items()}
    assert routing["ci_cd_review"].threshold_tokens == 6000 and routing["ci_cd_review"].complexity_keywords == ()
    assert routing["dev_assistant"].complexity_keywords == ("architect", "design", "system", "performance", "security")
    assert routing["pm_assistant"].complexity_keywords == ("strategy", "architecture", "roadmap", "competitive")
    assert routing["qa_test_gen"].complexity_keywords == ()
    # the roles on today's models: Haiku role -> claude-haiku-5-5, Sonnet role -> claude-sonnet-5-5
    haiku, sonnet = "claude-haiku-5-5", "claude-sonnet-5-5"
    for wid, r in routing.items():
        default = sonnet if wid == "qa_test_gen" else haiku
        assert (r.default_model, r.complex_model, r.simple_model) == (default, sonnet, haiku), wid
    # Phase 5's ROI block
    roi = cfg.roi
    assert roi.basis == "monthly_hours"
    assert {role: (r.hours_saved_per_month, r.hourly_rate_usd) for role, r in roi.roles.items()} == {
        "engineer": (180, 90),
        "qa": (90, 70),
        "pm": (40, 100),
    }


def test_lab_2024_example_is_the_same_lab_on_its_retired_models(default_config):
    lab = load_config(ROOT / "examples" / "acme-lab-2024.yml")
    assert lab.org_monthly_nano == default_config.org_monthly_nano and lab.reserve_pct == default_config.reserve_pct
    old = {"claude-haiku-5-5": "claude-3-5-haiku-20241022", "claude-sonnet-5-5": "claude-3-5-sonnet-20241022"}
    for wid, wf in default_config.workflows.items():
        was = lab.workflows[wid]
        for field in ("monthly_nano", "daily_nano", "per_task_tokens", "per_session_tokens", "max_loop_steps"):
            assert getattr(was, field) == getattr(wf, field), (wid, field)
        for field in ("threshold_tokens", "complexity_keywords", "max_tokens"):
            assert getattr(was.routing, field) == getattr(wf.routing, field), (wid, field)
        for tier in ("default_model", "complex_model", "simple_model"):
            assert getattr(was.routing, tier) == old[getattr(wf.routing, tier)], (wid, tier)
        assert was.inventory.model == old[wf.inventory.model]
        for field in ("monthly_tasks", "avg_turns", "avg_input_tokens", "avg_output_tokens"):
            assert getattr(was.inventory, field) == getattr(wf.inventory, field), (wid, field)
    assert lab.roi.roles == default_config.roi.roles
    text = (ROOT / "examples" / "acme-lab-2024.yml").read_text()
    assert "RETIRED MODELS" in text.split("\norg:")[0]


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
    ("daily above monthly", "workflows.pm_assistant.daily_usd", 105, "workflows.pm_assistant.daily_usd: daily $105.00 is above monthly_usd $100.00"),
    ("sum above org", "org.monthly_usd", 600, "workflows: monthly budgets add up to $800.00, above org.monthly_usd $600.00"),
    ("roi basis unknown", "roi.basis", "vibes", "roi.basis: expected one of monthly_hours, per_task, got 'vibes'"),
    ("roi monthly hours missing", "roi.roles.qa", {"hourly_rate_usd": 70}, "roi.roles.qa.hours_saved_per_month: missing required field (roi.basis is monthly_hours)"),
    ("roi negative hours", "roi.roles.pm", {"hourly_rate_usd": 100, "hours_saved_per_month": -40}, "roi.roles.pm.hours_saved_per_month: must be >= 0, got -40"),
    ("roi rate not a number", "roi.roles.engineer", {"hourly_rate_usd": "ninety", "hours_saved_per_month": 180}, "roi.roles.engineer.hourly_rate_usd: expected a number, got 'ninety'"),
    ("roi rate missing", "roi.roles.engineer", {"hours_saved_per_month": 180}, "roi.roles.engineer.hourly_rate_usd: missing required field"),
    ("roi role typo", "roi.roles.engineer", {"hourly_rate_usd": 90, "hours_saved_per_mnth": 180}, "roi.roles.engineer.hours_saved_per_mnth: unknown key (did you mean 'hours_saved_per_month'?)"),
    ("roi no roles", "roi.roles", {}, "roi.roles: expected at least one role"),
    ("roi unknown role", "roi.workflows", {"qa_test_gen": {"role": "tester"}}, "roi.workflows.qa_test_gen.role: unknown role 'tester' (defined: engineer, pm, qa)"),
    ("roi unknown workflow", "roi.workflows", {"ci_cd_reviews": {"role": "engineer"}}, "roi.workflows.ci_cd_reviews: unknown key (did you mean 'ci_cd_review'?)"),
    ("roi per task hours missing", "roi.basis", "per_task", "roi.workflows.ci_cd_review.hours_saved_per_task: missing required field (roi.basis is per_task)"),
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
    # telemetry: (issue 17)
    ("otlp endpoint not a URL", "telemetry", {"otlp_endpoint": "collector:4318"}, "telemetry.otlp_endpoint: expected an http:// or https:// URL"),
    ("telemetry typo", "telemetry", {"otlp_endpiont": "http://c:4318"}, "telemetry.otlp_endpiont: unknown key (did you mean 'otlp_endpoint'?)"),
    ("export timeout zero", "telemetry", {"timeout_seconds": 0}, "telemetry.timeout_seconds: must be >= 0.1, got 0"),
    # an agent run's cap and timeout (issue 14)
    ("per-run cap below a cent", "workflows.dev_assistant.per_run_usd", 0, "workflows.dev_assistant.per_run_usd: must be >= 0.01, got 0"),
    ("per-run cap above $1M", "workflows.dev_assistant.per_run_usd", 2_000_000, "workflows.dev_assistant.per_run_usd: must be <= 1,000,000, got 2000000"),
    ("run timeout above 86,000 s", "workflows.dev_assistant.run_timeout_seconds", 86_401, "workflows.dev_assistant.run_timeout_seconds: must be <= 86,000, got 86401"),
    ("run timeout of 0", "workflows.dev_assistant.run_timeout_seconds", 0, "workflows.dev_assistant.run_timeout_seconds: must be >= 1, got 0"),
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


def test_agent_run_settings(make_config):
    wf = make_config({"workflows": {"pm_assistant": {"per_run_usd": 0.5, "run_timeout_seconds": 600}}})
    assert (wf.workflow("pm_assistant").per_run_nano, wf.workflow("pm_assistant").run_timeout_seconds) == (
        500_000_000,
        600,
    )
    assert wf.workflow("ci_cd_review").per_run_nano is None  # absent: a run must give --max-usd
    assert wf.workflow("ci_cd_review").run_timeout_seconds == 1800
    assert wf.workflow("dev_assistant").per_run_nano == 2_000_000_000  # the shipped config's


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
    from acme_ci_budget.core.strict_yaml import load_yaml

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


def test_roi_basis_is_inferred_only_when_the_file_gives_one_kind_of_hours():
    def roi_of(roi: dict):
        raw = _raw()
        raw["roi"] = roi
        return parse_config(yaml.safe_dump(raw), "roi.yml").roi

    # the schema before roi.basis existed still loads, as the per-task basis
    old = roi_of({"roles": {"engineer": {"hourly_rate_usd": 95}},
                  "workflows": {"ci_cd_review": {"role": "engineer", "hours_saved_per_task": 0.25}}})
    assert old.basis == "per_task" and old.workflows["ci_cd_review"].hours_saved_per_task == Decimal("0.25")
    monthly = roi_of({"roles": {"engineer": {"hourly_rate_usd": 90, "hours_saved_per_month": 180}}})
    assert monthly.basis == "monthly_hours" and monthly.workflows == {}
    both = {"roles": {"engineer": {"hourly_rate_usd": 90, "hours_saved_per_month": 180}},
            "workflows": {"ci_cd_review": {"role": "engineer", "hours_saved_per_task": 0.25}}}
    with pytest.raises(ConfigError, match=r"roi\.basis: missing: the file gives both hours_saved_per_month and "
                                          r"hours_saved_per_task; set monthly_hours or per_task"):
        roi_of(both)
    assert roi_of({**both, "basis": "per_task"}).basis == "per_task"  # a team switches basis with one key
    with pytest.raises(ConfigError, match=r"roi\.basis: missing: the file gives no hours saved"):
        roi_of({"roles": {"engineer": {"hourly_rate_usd": 90}}})
    with pytest.raises(ConfigError, match=r"roi\.workflows: missing required field \(roi\.basis is per_task\)"):
        roi_of({"basis": "per_task", "roles": {"engineer": {"hourly_rate_usd": 90}}})


# --- repos: a monthly cap per repository (issue 17, item 3) ---------------------------------------------

BAD_REPOS = [
    ({"acme": {"monthly_usd": 5}}, "repos.acme: repository names are OWNER/NAME (a GitHub repository)"),
    ({"acme/app/x": {"monthly_usd": 5}}, "repos.acme/app/x: repository names are OWNER/NAME"),
    ({"acme/app": {"monthly_usd": -1}}, "repos.acme/app.monthly_usd: must be >= 0, got -1"),
    ({"acme/app": {"monthly_usd": 2e7}}, "repos.acme/app.monthly_usd: must be <= 10,000,000"),
    ({"acme/app": {}}, "repos.acme/app.monthly_usd: missing required field"),
    ({"acme/app": {"monthly": 5}}, "repos.acme/app.monthly: unknown key"),
    (["acme/app"], "repos: expected a mapping, got list"),
]


@pytest.mark.parametrize(("repos", "message"), BAD_REPOS)
def test_bad_repos_block_names_the_repository(repos, message):
    with pytest.raises(ConfigError) as err:
        parse_config(_mutate("repos", repos), "f.yml")
    assert message in str(err.value) and str(err.value).startswith("f.yml: ")
    assert "\n" not in str(err.value)


def test_repos_block_sets_a_cap_per_repository():
    config = parse_config(_mutate("repos", {"acme/app": {"monthly_usd": 50}, "Acme-2/web.site_x": {"monthly_usd": 0}}))
    assert config.repos["acme/app"].monthly_nano == 50 * 10**9
    assert config.repos["Acme-2/web.site_x"].monthly_nano == 0
    assert parse_config(DEFAULT_CONFIG_TEXT).repos == {}
