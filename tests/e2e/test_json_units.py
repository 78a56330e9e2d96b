"""Every JSON the CLI prints uses one unit for ``*_pct``: a percent (issue 15 item 6). Each output is
parsed back and each percent recomputed from the amounts it is a percent of; fractions are ``*_ratio``;
every unit key is documented in README's "JSON outputs: units" table. Real Redis, the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from acme_ci_budget.cli import cli
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.conftest import DEFAULT_CONFIG_TEXT

README = Path(__file__).resolve().parents[2] / "README.md"
HAIKU = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]["default_model"]
PRICES = {HAIKU: {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1}}
UNIT_KEY = re.compile(r"(_pct|_ratio)$|^(pct|percent)$")


def _unit_keys(data, path=""):
    """(path, key, value) of every unit key in ``data``, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if UNIT_KEY.search(key):
                yield f"{path}.{key}", key, value
            yield from _unit_keys(value, f"{path}.{key}")
    elif isinstance(data, list):
        for item in data:
            yield from _unit_keys(item, f"{path}[]")


def _documented() -> dict[str, set[str]]:
    """README's units table: output -> the key names (last dotted part) its rows name."""
    text = README.read_text()
    section = text[text.index("### JSON outputs: units") :]
    section = section[: section.index("\n## ")]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith(("`", "action")):
            continue
        output = cells[0].strip("`")
        names = {k.split(".")[-1] for k in re.findall(r"`([^`]+)`", cells[1])}
        table.setdefault(output, set()).update(names)
    return table


@pytest.fixture
def env(tmp_path, redis_url):
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw.update(namespace="units", pricing=PRICES)
    raw["workflows"]["pm_assistant"]["daily_usd"] = 0.01
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    from acme_ci_budget.config import load_config

    config = load_config(path)
    e = BudgetEnforcer(config, redis_url=redis_url)
    # pm: $0.009 of its $0.01 day (90%: a WARN alert) and of its $100 month; 1,000 of 3,000 prompt tokens cached
    e.settle(e.reserve("pm_assistant", HAIKU, 3000, 500), 1000, 1390, 1000, 1000)
    return {
        "ACME_BUDGET_CONFIG": str(path),
        "REDIS_URL": redis_url,
        "SLACK_WEBHOOK_URL": "",
        "PAGERDUTY_ROUTING_KEY": "",
        "GITHUB_ACTIONS": "",
        "ACME_BUDGET_DATA_DIR": str(tmp_path / "data"),
    }, config, e


def _json(env, *args):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check_documented(output: str, data) -> list[str]:
    documented = _documented()[output]
    keys = sorted({key for _path, key, _value in _unit_keys(data)})
    missing = [k for k in keys if k not in documented]
    assert not missing, f"{output}: undocumented unit keys {missing}"
    return keys


def test_status_percents_and_the_reserve_ratio(env):
    env, config, _e = env
    data = _json(env, "status", "--format", "json")
    pm = data["workflows"]["pm_assistant"]
    spent = 1000 * 1 + 1390 * 5 + 1000 * 1.25 + 1000 * 0.1  # per-MTok prices x tokens = nano-USD / 1000
    assert spent == 9300 and pm["daily_spend"] == 0.0093
    assert pm["daily_pct"] == pytest.approx(0.0093 * 100 / 0.01)  # 93.0, not 0.93
    assert pm["monthly_pct"] == pytest.approx(0.0093 * 100 / 100)
    assert data["org"]["pct"] == pytest.approx(0.0093 * 100 / 800)
    assert data["org"]["reserve_ratio"] == config.reserve_pct == 0.2  # a fraction, and named so
    assert "reserve_pct" not in data["org"]
    assert _check_documented("status", data) == ["daily_pct", "monthly_pct", "pct", "reserve_ratio"]


def test_report_percents(env):
    env, _config, _e = env
    data = _json(env, "report", "--format", "json")
    pm = data["workflows"]["pm_assistant"]
    assert pm["monthly_pct"] == pytest.approx(pm["monthly_spend"] * 100 / pm["monthly_limit"])
    assert pm["daily_pct"] == pytest.approx(93.0)
    assert pm["cache_hit_pct"] == pytest.approx(1000 * 100 / 3000)  # reads / (input + writes + reads)
    assert pm["models"][HAIKU]["share_pct"] == 100.0 and data["models"][HAIKU]["share_pct"] == 100.0
    est = pm["estimate_to_date_usd"]
    assert pm["vs_estimate_pct"] == pytest.approx((pm["monthly_spend"] - est) * 100 / est, rel=1e-3)
    assert data["org"]["pct"] == pytest.approx(0.0093 * 100 / 800)
    roi = data["roi"]
    assert roi["net_roi_pct"] == pytest.approx((roi["value_usd"] - roi["spend_usd"]) * 100 / roi["spend_usd"])
    for _path, _key, value in _unit_keys(data):
        assert value is None or isinstance(value, int | float)
    _check_documented("report", data)


def test_estimate_percents(env):
    env, _config, _e = env
    data = _json(env, "estimate", "--format", "json", "--growth", "10")
    assert data["utilization_pct"] == pytest.approx(data["total_monthly_usd"] * 100 / data["budget_usd"])
    [ten] = data["scenarios"]
    assert ten["utilization_pct"] == pytest.approx(ten["total_monthly_usd"] * 100 / data["budget_usd"])
    _check_documented("estimate", data)
    what_if = _json(env, "estimate", "--format", "json", "--models", HAIKU)
    assert what_if["utilization_pct"][HAIKU] == pytest.approx(
        what_if["total_monthly_usd"][HAIKU] * 100 / what_if["budget_usd"]
    )
    _check_documented("estimate", what_if)


def test_alerts_check_percent(env):
    env, _config, _e = env
    fired = _json(env, "alerts", "check", "--format", "json")
    daily = [a for a in fired if a["workflow_id"] == "pm_assistant" and a["period"].count("-") == 2]
    assert daily, fired
    assert daily[0]["percent"] == pytest.approx(daily[0]["spent_nano"] * 100 / daily[0]["limit_nano"])
    assert daily[0]["percent"] > 90  # a percent: 93.0, not 0.93
    _check_documented("alerts check", fired)


def test_simulate_percents(env, tmp_path):
    env, _config, _e = env
    data = _json(env, "simulate", "--month", "2026-10", "--scale", "0.2", "--report-dir", str(tmp_path / "sim"),
                 "--format", "json")
    for wf in data["workflows"].values():
        assert wf["budget_pct"] == pytest.approx(wf["spend_usd"] * 100 / wf["monthly_budget_usd"], rel=1e-6)
        shares = [m["share_pct"] for m in wf["models"].values()]
        assert not shares or sum(shares) == pytest.approx(100.0)
    _check_documented("simulate", data)


def test_the_readme_names_the_action_output():
    assert "budget-pct" in _documented()["action"]
