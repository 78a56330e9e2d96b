"""OpenTelemetry GenAI metrics per call: the real client, SDK and OTLP/HTTP exporter against a loopback collector.

Calls go through ``BudgetedClient`` (real Redis ledger, the loopback Messages API, the real anthropic SDK)
with ``telemetry=otel_hook``; the SDK exports to ``tests/fakes/otlp_collector.py``, which decodes the
protobuf. Names, units, attributes and values are checked against the ledger's own events.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
import redis

from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.result import ModelCallError, ModelResponseError
from acme_ci_budget.integrations import otel
from acme_ci_budget.telemetry.genai_metrics import (
    BLOCKED,
    COST,
    DURATION,
    DURATION_BUCKETS,
    SCHEMA_URL,
    TOKEN_BUCKETS,
    TOKEN_USAGE,
    TOKENS,
    otel_hook,
    otlp_settings,
)
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, error, handler, truncated
from tests.fakes.otlp_collector import FakeOtlpCollector

ASK = [{"role": "user", "content": "name the function: def foo(): pass"}]
NANO = 1_000_000_000


@pytest.fixture
def collector() -> Iterator[FakeOtlpCollector]:
    with FakeOtlpCollector() as fake:
        yield fake
        otel.shutdown_all()  # the last export reaches it before it stops


@pytest.fixture
def api() -> Iterator[FakeAnthropicServer]:
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        return build_message(
            request, "foo", input_tokens=120, output_tokens=7, cache_creation_input_tokens=300,
            cache_read_input_tokens=900,
        )

    with FakeAnthropicServer(default=handler(reply)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _meters_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_SDK_DISABLED",
                 "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_METRIC_EXPORT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    yield
    otel.shutdown_all()


def _client(make_config, redis_url: str, api: FakeAnthropicServer, **changes: Any) -> BudgetedClient:
    sdk = anthropic.Anthropic(base_url=api.url, api_key="sk-test", max_retries=0)
    return BudgetedClient(make_config(changes), redis_url=redis_url, anthropic_client=sdk, alerts=False,
                          telemetry=otel_hook)


def _events(redis_url: str, kind: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [f for _id, f in client.xrange("acb:{acme}:events") if f["type"] == kind]


def _one(points: list[dict[str, Any]], **attributes: Any) -> dict[str, Any]:
    found = [p for p in points if all(p["attributes"].get(k) == v for k, v in attributes.items())]
    assert len(found) == 1, (attributes, points)
    return found[0]


def test_every_settled_call_and_block_is_exported_as_the_ledger_recorded_it(
    collector, api, make_config, redis_url, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "reviews-ci")
    client = _client(make_config, redis_url, api, workflows={"pm_assistant": {"daily_usd": 0.000001}})
    for _ in range(3):
        assert not client.complete("dev_assistant", ASK).budget_blocked
    assert client.complete("ci_cd_review", ASK).content
    assert client.complete("pm_assistant", ASK).budget_blocked
    assert client.telemetry.flush()

    calls, blocks = _events(redis_url, "call"), _events(redis_url, "block")
    assert len(calls) == 4 and len(blocks) == 1
    for workflow in ("dev_assistant", "ci_cd_review"):
        mine = [e for e in calls if e["workflow"] == workflow]
        (model,) = {e["model"] for e in mine}
        common = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                  "gen_ai.request.model": model, "gen_ai.response.model": model, "acme_budget.workflow": workflow}
        usage = collector.points(TOKEN_USAGE)
        whole_input = _one(usage, **common, **{"gen_ai.token.type": "input"})
        assert whole_input["unit"] == "{token}" and whole_input["kind"] == "histogram"
        assert whole_input["count"] == len(mine)
        # Anthropic's input excludes the cache; the convention's input is all three (anthropic.md)
        assert whole_input["sum"] == sum(
            int(e["input_tokens"]) + int(e["cache_creation_input_tokens"]) + int(e["cache_read_input_tokens"])
            for e in mine
        )
        assert whole_input["explicit_bounds"] == list(TOKEN_BUCKETS)
        output = _one(usage, **common, **{"gen_ai.token.type": "output"})
        assert output["sum"] == sum(int(e["output_tokens"]) for e in mine)
        assert set(p["attributes"]["gen_ai.token.type"] for p in usage) == {"input", "output"}

        duration = _one(collector.points(DURATION), **common)
        assert duration["unit"] == "s" and duration["explicit_bounds"] == list(DURATION_BUCKETS)
        assert duration["count"] == len(mine)
        assert duration["sum"] == pytest.approx(sum(int(e["latency_ms"]) for e in mine) / 1000)

        cost = _one(collector.points(COST), **common)
        assert cost["unit"] == "USD" and cost["kind"] == "sum" and cost["monotonic"]
        assert cost["value"] == pytest.approx(sum(int(e["cost_nano"]) for e in mine) / NANO, rel=1e-12)

        tokens = collector.points(TOKENS)
        for kind, field in (("input", "input_tokens"), ("output", "output_tokens"),
                            ("cache_read", "cache_read_input_tokens"), ("cache_write", "cache_creation_input_tokens")):
            point = _one(tokens, **common, **{"acme_budget.token.type": kind})
            assert point["value"] == sum(int(e[field]) for e in mine), kind

    (block,) = blocks
    blocked = _one(collector.points(BLOCKED), **{"acme_budget.workflow": "pm_assistant"})
    assert blocked["value"] == 1 and blocked["unit"] == "{call}"
    assert blocked["attributes"]["acme_budget.reason"] == block["reason"]
    assert blocked["attributes"]["gen_ai.request.model"] == block["model"]
    assert not [p for p in collector.points(TOKEN_USAGE) if p["attributes"]["acme_budget.workflow"] == "pm_assistant"]

    point = collector.points(COST)[0]
    assert point["schema_url"] == SCHEMA_URL and point["scope"] == "acme_ci_budget"
    assert point["resource"]["service.name"] == "reviews-ci"
    assert collector.headers[-1]["content-type"] == "application/x-protobuf"


def test_a_failed_call_records_its_duration_with_the_error_class_and_no_cost(
    collector, make_config, redis_url, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", collector.url + "/v1/metrics")
    with FakeAnthropicServer(default=error(400, "invalid_request_error", "bad request")) as api:
        client = _client(make_config, redis_url, api)
        with pytest.raises(ModelCallError):
            client.complete("dev_assistant", ASK)
        assert client.telemetry.flush()
    (failed,) = collector.points(DURATION)
    assert failed["count"] == 1 and failed["attributes"]["error.type"]
    assert "gen_ai.response.model" not in failed["attributes"]
    assert collector.points(COST) == [] and collector.points(TOKEN_USAGE) == []


def test_a_billed_reply_that_cannot_be_read_is_costed_as_the_ledger_charged_it(
    collector, make_config, redis_url, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    with FakeAnthropicServer(default=truncated()) as api:
        client = _client(make_config, redis_url, api)
        with pytest.raises(ModelResponseError):
            client.complete("dev_assistant", ASK)
        assert client.telemetry.flush()
    (event,) = _events(redis_url, "call")
    (cost,) = collector.points(COST)
    assert cost["value"] == pytest.approx(int(event["cost_nano"]) / NANO) and int(event["cost_nano"]) > 0
    assert cost["attributes"]["error.type"] == collector.points(DURATION)[0]["attributes"]["error.type"]
    assert collector.points(TOKEN_USAGE) == []  # the usage is unknown: no token point is guessed


def test_metrics_are_off_without_an_endpoint_and_nothing_imports_opentelemetry(make_config, tmp_path) -> None:
    assert otlp_settings(make_config()) is None
    assert otlp_settings(make_config(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}) is None
    configured = make_config({"telemetry": {"otlp_endpoint": "http://collector:4318/"}})
    assert otlp_settings(configured, {}).endpoint == "http://collector:4318/v1/metrics"
    # the environment wins over the file, and the signal-specific variable is used as given
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:1/x"}
    assert otlp_settings(configured, env).endpoint == "http://m:1/x"
    assert otlp_settings(configured, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"}).endpoint == (
        "http://env:4318/v1/metrics"
    )
    script = textwrap.dedent("""
        import sys
        from acme_ci_budget.config import load_config
        from acme_ci_budget.runs import calls  # the run's client wiring, with its telemetry hook
        from acme_ci_budget.telemetry.genai_metrics import otel_hook
        assert otel_hook(load_config()) is None
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.stdout.strip() == "[]", out.stderr


def test_a_collector_that_is_down_costs_one_warning_and_no_failed_call(
    api, make_config, redis_url, monkeypatch, caplog
) -> None:
    with FakeOtlpCollector() as gone:
        url = gone.url
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)  # nothing listens there any more
    client = _client(make_config, redis_url, api, telemetry={"timeout_seconds": 0.5})
    caplog.set_level(logging.DEBUG)
    for _ in range(2):
        assert client.complete("dev_assistant", ASK).content == "foo"
        started = time.monotonic()
        assert client.telemetry.flush() in (True, False)  # never raises
        assert time.monotonic() - started < 3
    otel.shutdown_all()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["acme_ci_budget.telemetry"], [r.getMessage() for r in warnings]
    assert "could not export metrics" in warnings[0].getMessage() and url not in warnings[0].getMessage()
    assert len(_events(redis_url, "call")) == 2


def test_a_collector_that_refuses_once_gets_the_points_on_the_next_export(
    collector, api, make_config, redis_url, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    client = _client(make_config, redis_url, api, telemetry={"timeout_seconds": 0.5})
    collector.fail_next(1, retry_after=5)  # past the timeout: this export is given up, not waited for
    client.complete("dev_assistant", ASK)
    client.telemetry.flush()
    client.complete("dev_assistant", ASK)
    assert client.telemetry.flush()
    (cost,) = collector.points(COST)
    assert cost["value"] == pytest.approx(sum(int(e["cost_nano"]) for e in _events(redis_url, "call")) / NANO)
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["acme_ci_budget.telemetry"]


def test_a_cli_process_flushes_its_metrics_before_it_exits(collector, api, redis_url, tmp_path: Path) -> None:
    """The export interval is an hour: only the exit flush can deliver the point."""
    script = textwrap.dedent(f"""
        import anthropic
        from acme_ci_budget.client.budgeted import BudgetedClient
        from acme_ci_budget.config import load_config
        from acme_ci_budget.telemetry.genai_metrics import otel_hook
        sdk = anthropic.Anthropic(base_url={api.url!r}, api_key="sk-test", max_retries=0)
        client = BudgetedClient(load_config(), redis_url={redis_url!r}, anthropic_client=sdk, alerts=False,
                                telemetry=otel_hook)
        print(client.complete("dev_assistant", [{{"role": "user", "content": "hi"}}]).content)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
           "OTEL_METRIC_EXPORT_INTERVAL": "3600000", "ACME_BUDGET_JOURNAL": str(tmp_path / "j.jsonl")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "foo", out.stderr
    (cost,) = collector.points(COST)
    (event,) = _events(redis_url, "call")
    assert cost["value"] == pytest.approx(int(event["cost_nano"]) / NANO)
    assert out.stderr == ""


def test_a_call_attributed_to_a_repository_carries_it(collector, make_config, monkeypatch) -> None:
    """The hook for issue 17 item 3: ``CallRecord.repo`` (the reservation's) becomes ``acme_budget.repo``."""
    from acme_ci_budget.client.hooks import CallRecord

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    hook = otel_hook(make_config())
    hook.record_call(CallRecord("dev_assistant", "m", "m", 0.5, 2_000_000, 10, 2, repo="acme/api"))
    hook.record_call(CallRecord("dev_assistant", "m", "m", 0.5, 1_000_000, 10, 2))
    assert hook.flush()
    by_repo = {p["attributes"].get("acme_budget.repo"): p["value"] for p in collector.points(COST)}
    assert by_repo == {"acme/api": pytest.approx(0.002), None: pytest.approx(0.001)}


def test_a_repositorys_calls_and_its_cap_block_carry_the_repository(
    collector, api, make_config, redis_url, monkeypatch
) -> None:
    """End to end: the client's ledger attributes calls to acme/app; the cost point and the cap's block carry it."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    sdk = anthropic.Anthropic(base_url=api.url, api_key="sk-test", max_retries=0)
    config = make_config({"repos": {"acme/app": {"monthly_usd": 0.02}}})
    client = BudgetedClient(config, redis_url=redis_url, anthropic_client=sdk, alerts=False, telemetry=otel_hook,
                            repo="acme/app")
    while not (result := client.complete("dev_assistant", ASK)).budget_blocked:
        pass
    assert result.budget_reason == "repo_limit_exceeded"
    assert client.telemetry.flush()
    calls = _events(redis_url, "call")
    cost = _one(collector.points(COST), **{"acme_budget.repo": "acme/app"})
    assert cost["value"] == pytest.approx(sum(int(e["cost_nano"]) for e in calls) / NANO, rel=1e-12)
    blocked = _one(collector.points(BLOCKED), **{"acme_budget.repo": "acme/app"})
    assert blocked["attributes"]["acme_budget.reason"] == "repo_limit_exceeded" and blocked["value"] == 1
