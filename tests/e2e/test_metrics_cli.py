"""``acme-ci-budget metrics``: the exposition parsed back and compared with ``status --format json``,
``report --format json`` and the ledger's events; the Pushgateway (loopback fake) and its failures.

Calls go through the real client, SDK and loopback Messages API onto a real Redis ledger first.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
import redis
import yaml
from click.testing import CliRunner
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from acme_ci_budget.cli import cli, main
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.config import load_config
from acme_ci_budget.core.resources import default_config_path
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, handler
from tests.fakes.pushgateway import FakePushgateway

OPUS = "claude-opus-5-5"
ASK = [{"role": "user", "content": "name the function: def foo(): pass"}]
TYPES = {"input": "input_tokens", "output": "output_tokens", "cache_write": "cache_creation_input_tokens",
         "cache_read": "cache_read_input_tokens"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    raw = yaml.safe_load(default_config_path().read_text())
    raw["workflows"]["pm_assistant"]["daily_usd"] = 0.000001  # every pm_assistant call is refused
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def ledger(config_path: Path, redis_url: str) -> str:
    """A month with calls on two workflows (one answered by another model), cache tokens and blocks."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        opus = "opus" in json.dumps(request["messages"])
        return build_message(request, "foo", input_tokens=150, output_tokens=9, cache_creation_input_tokens=40,
                             cache_read_input_tokens=500, model=OPUS if opus else None)

    with FakeAnthropicServer(default=handler(reply)) as api:
        sdk = anthropic.Anthropic(base_url=api.url, api_key="sk-test", max_retries=0)
        client = BudgetedClient(load_config(config_path), redis_url=redis_url, anthropic_client=sdk, alerts=False)
        for _ in range(3):
            client.complete("dev_assistant", ASK)
        client.complete("dev_assistant", [{"role": "user", "content": "answer as opus"}])
        client.complete("ci_cd_review", ASK)
        for _ in range(2):
            assert client.complete("pm_assistant", ASK).budget_blocked
        client.enforcer.redis.close()
    return redis_url


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _samples(text: str) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def _events(redis_url: str, kind: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [f for _id, f in client.xrange("acb:{acme}:events") if f["type"] == kind]


def test_the_exposition_matches_status_report_and_the_events(ledger, config_path) -> None:
    env = {"ACME_BUDGET_CONFIG": str(config_path), "REDIS_URL": ledger}
    result = _run("metrics", env=env)
    assert result.exit_code == 0, result.output
    got = _samples(result.output)
    status = json.loads(_run("status", "--format", "json", env=env).output)
    report = json.loads(_run("report", "--format", "json", env=env).output)

    def one(name: str, **labels: str) -> float:
        return got[name][tuple(sorted(labels.items()))]

    org = status["org"]
    assert one("acme_budget_spent_usd", workflow="*", period="month") == org["spend"]
    assert one("acme_budget_limit_usd", workflow="*", period="month") == org["budget"]
    assert one("acme_budget_held_usd", workflow="*", period="month") == org["held_usd"]
    for wid, wf in status["workflows"].items():
        assert one("acme_budget_spent_usd", workflow=wid, period="day") == wf["daily_spend"]
        assert one("acme_budget_spent_usd", workflow=wid, period="month") == wf["monthly_spend"]
        assert one("acme_budget_limit_usd", workflow=wid, period="day") == wf["daily_limit"]
        assert one("acme_budget_limit_usd", workflow=wid, period="month") == wf["monthly_limit"]
        assert one("acme_budget_held_usd", workflow=wid, period="day") == wf["held_usd"]
    assert org["spend"] > 0

    calls = _events(ledger, "call")
    assert dict(Counter((e["workflow"], e["model"]) for e in calls)) == {
        (dict(k)["workflow"], dict(k)["model"]): v for k, v in got["acme_budget_calls_total"].items()
    }
    assert {dict(k)["model"] for k in got["acme_budget_calls_total"]} >= {OPUS}
    tokens: Counter = Counter()
    for e in calls:
        for kind, field in TYPES.items():
            tokens[(e["workflow"], e["model"], kind)] += int(e[field])
    assert dict(tokens) == {
        (dict(k)["workflow"], dict(k)["model"], dict(k)["type"]): v for k, v in got["acme_budget_tokens_total"].items()
    }
    blocks = Counter((e["workflow"], e["reason"]) for e in _events(ledger, "block"))
    assert dict(blocks) == {(dict(k)["workflow"], dict(k)["reason"]): v for k, v in got["acme_budget_blocked_total"].items()}
    assert sum(blocks.values()) == 2

    assert one("acme_budget_forecast_usd", workflow="*") == pytest.approx(report["org"]["forecast_usd"])
    for wid, wf in report["workflows"].items():
        assert one("acme_budget_forecast_usd", workflow=wid) == pytest.approx(wf["forecast_usd"])


def test_openmetrics_and_an_atomic_output_file(ledger, config_path, tmp_path) -> None:
    env = {"ACME_BUDGET_CONFIG": str(config_path), "REDIS_URL": ledger}
    result = _run("metrics", "--format", "openmetrics", env=env)
    assert result.exit_code == 0 and result.output.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(result.output)}
    assert families["acme_budget_spent_usd"].unit == "usd" and families["acme_budget_calls"].type == "counter"
    target = tmp_path / "textfile" / "acme_budget.prom"
    target.parent.mkdir()
    assert _run("metrics", "--output", str(target), env=env).output == ""
    assert _samples(target.read_text()) == _samples(_run("metrics", env=env).output)
    assert [p.name for p in target.parent.iterdir()] == ["acme_budget.prom"]  # no temporary file left


@pytest.fixture
def gateway() -> Iterator[FakePushgateway]:
    with FakePushgateway() as fake:
        yield fake


def test_push_replaces_the_namespace_group_on_the_pushgateway(ledger, config_path, gateway) -> None:
    env = {"ACME_BUDGET_CONFIG": str(config_path), "REDIS_URL": ledger}
    for _ in range(2):
        result = _run("metrics", "--push", gateway.url, env=env)
        assert result.exit_code == 0, result.output
    assert [(method, key) for method, key, _ in gateway.pushes] == [
        ("PUT", (("job", "acme_ci_budget"), ("namespace", "acme")))
    ] * 2
    pushed = _samples(gateway.pushes[-1][2])
    assert pushed == _samples(_run("metrics", env=env).output)
    scraped = _samples(gateway.exposition())
    spent = scraped["acme_budget_spent_usd"]
    assert (("job", "acme_ci_budget"), ("namespace", "acme"), ("period", "month"), ("workflow", "*")) in spent

    result = _run("metrics", "--push", gateway.url, "--job", "ci", "--grouping", "repo=acme/api", env=env)
    assert result.exit_code == 0
    assert gateway.pushes[-1][1] == (("job", "ci"), ("repo", "acme/api"))


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The console script's entry point (errors become one line and exit 2 there): (code, stdout+stderr)."""
    capsys.readouterr()
    try:
        code = int(main(args) or 0)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_refused_or_missing_pushgateway_is_one_line_and_exit_2(ledger, config_path, gateway, monkeypatch, capsys):
    monkeypatch.setenv("ACME_BUDGET_CONFIG", str(config_path))
    monkeypatch.setenv("REDIS_URL", ledger)
    # another group already has acme_budget_spent_usd as a counter: the gateway refuses the inconsistency
    other = "# TYPE acme_budget_spent_usd counter\nacme_budget_spent_usd 1\n"
    request = urllib.request.Request(gateway.url + "/metrics/job/other", data=other.encode(), method="PUT")
    urllib.request.urlopen(request, timeout=5).close()
    secret_url = gateway.url.replace("http://", "http://ops:s3cr3t-pw@")
    code, output = _main(["metrics", "--push", secret_url], capsys)
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Pushgateway http://ops:***@127.0.0.1:"), output
    assert "HTTP 400: pushed metrics are invalid or inconsistent" in lines[0]
    assert "s3cr3t-pw" not in output and "Traceback" not in output

    gateway.down()
    code, output = _main(["metrics", "--push", gateway.url], capsys)
    assert code == 2 and output.count("\n") == 1 and "unreachable" in output, output

    code, output = _main(["metrics", "--grouping", "job=x"], capsys)
    assert code == 2 and "expected LABEL=VALUE" in output
