"""``status`` and ``ledger reset`` through the CLI against a real Redis."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from acme_ci_budget.cli import cli
from acme_ci_budget.config import parse_config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.conftest import DEFAULT_CONFIG_TEXT


def _seed(redis_url, config):
    sonnet = config.workflows["dev_assistant"].routing.complex_model  # the Sonnet role: $2 / $10 per MTok
    e = BudgetEnforcer(config, redis_url=redis_url)
    # a 9,000-token request (under the per-turn hard limit of 10,000) that used far more: actual $0.084, over
    # the hold, still recorded
    e.settle(e.reserve("dev_assistant", sonnet, 9_000, 1000), 40_000, 400)
    e.reserve("ci_cd_review", sonnet, 1000, 1000)  # an open hold of $0.012
    return e


def test_status_text_and_json(redis_url, default_config):
    _seed(redis_url, default_config)
    runner = CliRunner()
    text = runner.invoke(cli, ["status", "--redis-url", redis_url])
    assert text.exit_code == 0, text.output
    assert "Developer coding assistant" in text.output
    assert "$0.08" in text.output and "[OK]" in text.output
    data = json.loads(runner.invoke(cli, ["status", "--redis-url", redis_url, "--format", "json"]).output)
    assert data["workflows"]["dev_assistant"]["daily_spend"] == 0.084
    assert data["workflows"]["ci_cd_review"]["held_usd"] == 0.012
    assert data["org"]["reserve_state"] == "normal"
    assert data["ledger"] == redis_url


def test_status_watch_refreshes(redis_url, default_config):
    _seed(redis_url, default_config)
    result = CliRunner().invoke(cli, ["status", "--redis-url", redis_url, "--watch", "--interval", "0.2",
                                      "--iterations", "2"])
    assert result.exit_code == 0
    assert result.output.count("BUDGET STATUS") == 2


def test_status_watch_shows_its_last_refresh_and_ctrl_c_exits_0(redis_url, default_config, tmp_path):
    # issue 15 item 5: before, the watch showed no time and Ctrl-C ended it with "Aborted." and exit 130.
    import re
    import signal
    import subprocess
    import sys
    import time

    _seed(redis_url, default_config)
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "acme_ci_budget", "status", "--watch", "--interval", "0.2", "--redis-url", redis_url],
            stdout=sink, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while out.read_text().count("Last refresh") < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "Aborted" not in err and "Traceback" not in err
    refreshes = re.findall(r"^Last refresh (\d\d:\d\d:\d\d) .*\(every 0.2s; Ctrl-C to stop\)$", out.read_text(), re.M)
    assert len(refreshes) >= 2


def test_status_never_prints_the_redis_password(fresh_redis, default_config):
    server = fresh_redis(password="hunter2-secret")
    result = CliRunner().invoke(cli, ["status", "--redis-url", server.url])
    assert result.exit_code == 0
    assert "hunter2-secret" not in result.output and "***" in result.output


def test_status_in_actions_without_redis_refuses(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["status"], standalone_mode=False)
    assert "no REDIS_URL in GitHub Actions" in str(result.exception)
    ok = CliRunner().invoke(cli, ["status", "--ephemeral-ledger"])
    assert ok.exit_code == 0, ok.output


def test_ledger_reset_needs_yes_and_keeps_history(redis_url, default_config):
    e = _seed(redis_url, default_config)
    runner = CliRunner()
    refused = runner.invoke(cli, ["ledger", "reset", "--workflow", "dev_assistant", "--period", "day",
                                  "--redis-url", redis_url])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert e.get_all_status()["dev_assistant"]["daily_spend"] == 0.084
    done = runner.invoke(cli, ["ledger", "reset", "--workflow", "dev_assistant", "--period", "day", "--yes",
                               "--redis-url", redis_url])
    assert done.exit_code == 0, done.output
    status = e.get_all_status()["dev_assistant"]
    assert status["daily_spend"] == 0 and status["monthly_spend"] == 0.084
    kinds = [f[b"type"] for _i, f in e.redis.xrange(e.keys.events())]
    assert kinds == [b"call", b"admin_reset"]
    unknown = runner.invoke(cli, ["ledger", "reset", "--workflow", "nope", "--period", "day", "--yes",
                                  "--redis-url", redis_url])
    assert unknown.exit_code != 0 and "unknown workflow 'nope'" in (unknown.output + str(unknown.exception))


def test_ledger_reset_month_of_one_workflow_prints_what_it_zeroed_and_keeps_the_org_the_sum(
    redis_url, default_config
):
    # issue 15 item 5: before, it printed "(1 counters)" and left the workflow's spend in the org total.
    e = _seed(redis_url, default_config)
    review = default_config.workflows["ci_cd_review"].routing.default_model
    e.settle(e.reserve("ci_cd_review", review, 4_700, 650), 4_700, 650)
    before = e.get_org_status()["spend_nano"]
    dev = e.get_all_status()["dev_assistant"]["monthly_spend_nano"]
    done = CliRunner().invoke(cli, ["ledger", "reset", "--workflow", "dev_assistant", "--period", "month", "--yes",
                                    "--redis-url", redis_url])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    month = e.periods()[1]
    assert lines[0] == f"Reset the current month's spend ({month}) of dev_assistant: $0.0840 zeroed."
    assert lines[1].split() == ["dev_assistant", "$0.0840"]
    assert lines[2].split() == ["org", "month", "total", fmt_usd(before, 4), "->", fmt_usd(before - dev, 4)]
    after = e.get_all_status()
    assert e.get_org_status()["spend_nano"] == sum(w["monthly_spend_nano"] for w in after.values()) > 0


def test_every_ledger_command_says_redis_is_down_in_one_line(fresh_redis):
    import subprocess
    import sys

    server = fresh_redis(password="pw-never-shown")
    url = server.url
    server.stop()
    for argv in (["status"], ["report"], ["events"], ["alerts", "check"], ["ledger", "reset", "--period", "day", "--yes"]):
        out = subprocess.run([sys.executable, "-m", "acme_ci_budget", *argv, "--redis-url", url],
                             capture_output=True, text=True)
        assert out.returncode == 2, (argv, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (argv, out.stderr)
        assert "Traceback" not in out.stderr and "pw-never-shown" not in out.stderr + out.stdout


def test_status_shows_the_capped_repositories(redis_url, tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["repos"] = {"acme/app": {"monthly_usd": 0.02}, "acme/web": {"monthly_usd": 5}}
    cfg_path = tmp_path / "budget.yml"
    cfg_path.write_text(yaml.safe_dump(raw))
    config = parse_config(cfg_path.read_text())
    haiku = config.workflows["dev_assistant"].routing.default_model
    app = BudgetEnforcer(config, redis_url=redis_url, repo="acme/app")
    while app.reserve("ci_cd_review", haiku, 2000, 1000).allowed:  # holds until the cap refuses one
        pass
    runner = CliRunner()
    data = json.loads(
        runner.invoke(cli, ["status", "--redis-url", redis_url, "--config", str(cfg_path), "--format", "json"]).output
    )
    assert set(data["repos"]) == {"acme/app", "acme/web"}
    mine = data["repos"]["acme/app"]
    assert mine["monthly_limit"] == 0.02 and mine["blocked"] == 1
    assert mine["held_nano"] == int(app.redis.get(app.keys.repo_held("acme/app", app.periods()[1])))
    assert data["repos"]["acme/web"]["held_nano"] == 0
    text = runner.invoke(cli, ["status", "--redis-url", redis_url, "--config", str(cfg_path)]).output
    assert "Repository (monthly cap)" in text and "acme/app" in text
    plain = runner.invoke(cli, ["status", "--redis-url", redis_url, "--format", "json"]).output
    assert "repos" not in json.loads(plain)  # none configured: nothing shown


def test_status_names_a_ledger_that_may_evict_spend_without_its_password(fresh_redis, default_config):
    server = fresh_redis("--maxmemory", "100mb", "--maxmemory-policy", "volatile-lru", password="s3cr3t-pw")
    url = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
    _seed(url, default_config)
    runner = CliRunner()
    text = runner.invoke(cli, ["status", "--redis-url", url])
    assert text.exit_code == 0, text.output
    first = text.output.splitlines()[0]
    assert first.startswith("WARNING: the ledger's Redis evicts keys with a TTL (day counters, sessions) when its")
    assert "set maxmemory-policy noeviction" in first and "BUDGET STATUS" in text.output
    data = json.loads(runner.invoke(cli, ["status", "--redis-url", url, "--format", "json"]).output)
    assert data["ledger_warnings"] == [first.removeprefix("WARNING: ")]
    assert "s3cr3t-pw" not in text.output + json.dumps(data)


def test_status_on_a_safe_ledger_has_no_warning(redis_url, default_config):
    data = json.loads(CliRunner().invoke(cli, ["status", "--redis-url", redis_url, "--format", "json"]).output)
    assert data["ledger_warnings"] == []
