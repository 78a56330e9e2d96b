"""BudgetedClient against the REAL anthropic SDK talking to the loopback fake Messages API, on a real Redis.

Every API scenario ends with the ledger check: the org spent counter equals the sum of the call
events' cost_nano, equals the server's usage priced by ``pricing.cost_nano``; no hold stays open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client.budgeted import AcmeBudgetedClient, AsyncBudgetedClient, BudgetedClient, api_error
from acme_ci_budget.client.result import (
    CompletionResult,
    ModelAPIError,
    ModelCallError,
    ModelNotFoundError,
    ModelTimeoutError,
)
from acme_ci_budget.config import load_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens
from tests.fakes.anthropic_server import (
    FakeAnthropicServer,
    error,
    estimate_request_tokens,
    not_found,
    ok,
    overloaded,
    rate_limited,
    server_error,
    slow,
    spend_limit_reached,
)

API_KEY = "sk-ant-client-test-key-must-not-leak"
# The lab's two roles as the shipped config names them (qa_test_gen: Sonnet by default, Haiku for simple work).
_QA_ROUTING = load_config(default_config_path()).workflows["qa_test_gen"].routing
HAIKU = _QA_ROUTING.simple_model  # the Haiku role: the default of dev_assistant, pm_assistant and the review
SONNET = _QA_ROUTING.default_model  # the Sonnet role
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]
RESULT_KEYS = {
    "content",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cost_usd",
    "latency_ms",
    "stop_reason",
    "budget_blocked",
    "budget_reason",
    "route_reason",
    "warnings",
    "budget",
}


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def make_client(redis_url: str, server: FakeAnthropicServer, make_config):
    def build(config=None, *, max_retries: int = 0, timeout: float | None = None, **kwargs: Any) -> BudgetedClient:
        options: dict[str, Any] = {"base_url": server.url, "api_key": API_KEY, "max_retries": max_retries}
        if timeout is not None:
            options["timeout"] = timeout
        kwargs.setdefault("alerts", False)
        return BudgetedClient(
            config or make_config(), redis_url=redis_url, anthropic_client=anthropic.Anthropic(**options), **kwargs
        )

    return build


def _events(client: BudgetedClient) -> list[dict[str, str]]:
    raw = client.enforcer.redis.xrange(client.enforcer.keys.events())
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]


def assert_ledger(client: BudgetedClient, expected_nano: int) -> list[dict[str, str]]:
    """Spent == sum of call events == the expected priced usage; nothing held."""
    enforcer = client.enforcer
    _day, month = enforcer.periods()
    redis = enforcer.redis
    events = _events(client)
    spent = int(redis.get(enforcer.keys.org_spent(month)) or 0)
    held = int(redis.get(enforcer.keys.org_held(month)) or 0)
    call_sum = sum(int(e["cost_nano"]) for e in events if e["type"] == "call")
    stats = {k.decode(): int(v) for k, v in redis.hgetall(enforcer.keys.stats(month)).items()}
    stats_sum = sum(v for k, v in stats.items() if k.startswith("cost|") and k.count("|") == 1)
    assert spent == call_sum == stats_sum == expected_nano
    assert held == 0
    assert enforcer.open_holds() == 0
    for wf in client.config.workflows:
        assert int(redis.get(enforcer.keys.wf_held_month(wf, month)) or 0) == 0
    return events


# --- successful calls -----------------------------------------------------------------------------


def test_usage_without_cache_tokens(make_client, server: FakeAnthropicServer) -> None:
    client = make_client()
    server.enqueue(ok("foo", input_tokens=1200, output_tokens=45))
    result = client.complete("dev_assistant", ASK, system="You are a helpful assistant.", user_id="ana")
    assert isinstance(result, CompletionResult)
    assert result.content == "foo"
    assert (result.model, result.input_tokens, result.output_tokens) == (HAIKU, 1200, 45)
    assert (result.cache_creation_input_tokens, result.cache_read_input_tokens) == (0, 0)
    expected = cost_nano(HAIKU, 1200, 45)
    assert result.cost_nano == expected
    assert result.cost_usd == pytest.approx(expected / 1e9)
    assert result.budget_blocked is False and result.budget_reason == ""
    assert result.route_reason == "default"
    assert result.stop_reason == "end_turn"
    assert result.latency_ms >= 0
    assert result.message == ""
    # attribute and item access agree, for every documented key
    for key in RESULT_KEYS:
        assert result[key] == getattr(result, key)
    assert set(result.keys()) >= RESULT_KEYS
    with pytest.raises(KeyError):
        result["nope"]
    budget = result["budget"]
    assert budget["daily"]["spent_nano"] == expected
    assert budget["monthly"]["spent_nano"] == expected
    assert budget["org"]["spent_nano"] == expected
    assert budget["daily"]["limit_usd"] == 12.0
    [request] = server.message_requests
    assert request.json["model"] == HAIKU
    assert request.json["max_tokens"] == 2048
    assert request.json["messages"] == ASK
    events = assert_ledger(client, expected)
    [call] = [e for e in events if e["type"] == "call"]
    assert call["workflow"] == "dev_assistant" and call["user"] == "ana"
    assert (call["input_tokens"], call["output_tokens"]) == ("1200", "45")
    assert call["route_reason"] == "default"
    assert call["reservation"] == result.reservation_id


def test_cache_tokens_are_priced_as_cache_and_the_system_prompt_is_marked(
    make_client, server: FakeAnthropicServer
) -> None:
    client = make_client()
    system = "You review code for Acme. " * 40
    server.enqueue(
        ok("first", input_tokens=50, output_tokens=10, cache_creation_input_tokens=300),
        ok("second", input_tokens=50, output_tokens=12, cache_read_input_tokens=300),
    )
    first = client.complete("dev_assistant", ASK, system=system)
    second = client.complete("dev_assistant", ASK, system=system)
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (300, 0)
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, 300)
    write = cost_nano(HAIKU, 50, 10, 300, 0)
    read = cost_nano(HAIKU, 50, 12, 0, 300)
    assert (first.cost_nano, second.cost_nano) == (write, read)
    # priced as cache, not as plain input: a write costs more, a read much less
    assert write > cost_nano(HAIKU, 350, 10) and read < cost_nano(HAIKU, 350, 12)
    for request in server.message_requests:
        assert request.json["system"] == [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    events = assert_ledger(client, write + read)
    calls = [e for e in events if e["type"] == "call"]
    assert [c["cache_creation_input_tokens"] for c in calls] == ["300", "0"]
    assert [c["cache_read_input_tokens"] for c in calls] == ["0", "300"]


def test_no_cache_control_when_the_workflow_does_not_cache(make_client, make_config, server) -> None:
    client = make_client(make_config({"workflows": {"dev_assistant": {"cache_system_prompt": False}}}))
    client.complete("dev_assistant", ASK, system="Be brief.")
    assert server.message_requests[0].json["system"] == "Be brief."


def test_system_blocks_get_one_cache_marker(make_client, server) -> None:
    client = make_client()
    blocks = [{"type": "text", "text": "Rules."}, {"type": "text", "text": "More rules."}]
    client.complete("dev_assistant", ASK, system=blocks)
    sent = server.message_requests[0].json["system"]
    assert sent[0] == {"type": "text", "text": "Rules."}
    assert sent[1]["cache_control"] == {"type": "ephemeral"}
    assert blocks[1] == {"type": "text", "text": "More rules."}  # the caller's list is not modified


def test_multiple_content_blocks_are_joined(make_client, server) -> None:
    client = make_client()
    server.enqueue(
        ok(
            [
                "First part. ",
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}},
                "Second part.",
            ],
            input_tokens=20,
            output_tokens=9,
            stop_reason="end_turn",
        )
    )
    result = client.complete("dev_assistant", ASK)
    assert result.content == "First part. Second part."
    assert_ledger(client, cost_nano(HAIKU, 20, 9))


def test_lab_phase6_review_integration(make_client, server) -> None:
    client = make_client()
    server.enqueue(ok("LGTM. One nit: rename `x`.", input_tokens=2345, output_tokens=21))
    result = client.complete(
        "ci_cd_review",
        [{"role": "user", "content": "Review this diff:\n+def add(a, b): return a + b"}],
        system="You are a code reviewer.",
    )
    assert result["content"] == "LGTM. One nit: rename `x`."
    assert result["budget_blocked"] is False
    assert result["input_tokens"] == 2345
    assert_ledger(client, cost_nano(HAIKU, 2345, 21))


def test_lab_phase6_full_workflow_integration(make_client, server) -> None:
    # the lab's test_full_workflow_integration, exactly, with the loopback API instead of its MagicMock
    client = make_client()
    server.enqueue(ok("Test output", input_tokens=500, output_tokens=200, stop_reason="end_turn"))
    result = client.complete(
        workflow_id="ci_cd_review",
        messages=[{"role": "user", "content": "Review this code: def foo(): pass"}],
        system="You are a code reviewer.",
        user_id="engineer_001",
    )
    assert result["budget_blocked"] is False
    assert result["content"] == "Test output"
    assert result["input_tokens"] == 500
    assert result["model"] == HAIKU and "haiku" in result["model"]  # the review's default: the Haiku role
    assert server.message_requests[0].json["model"] == HAIKU
    assert_ledger(client, cost_nano(HAIKU, 500, 200))


def test_alias_and_default_sdk_client_from_environment(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, make_config, server
) -> None:
    assert AcmeBudgetedClient is BudgetedClient
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    client = BudgetedClient(make_config(), redis_url=redis_url, alerts=False, max_retries=1)
    server.enqueue(rate_limited(retry_after=0.01), ok("after retry", input_tokens=10, output_tokens=3))
    result = client.complete("dev_assistant", ASK)
    assert result.content == "after retry"
    assert len(server.message_requests) == 2
    # the client retries itself, within the hold's deadline; the SDK's own retries are off
    assert client.anthropic.max_retries == 0
    assert [r.headers["x-stainless-retry-count"] for r in server.message_requests] == ["0", "1"]
    assert_ledger(client, cost_nano(HAIKU, 10, 3))


def test_response_model_is_priced_when_known(make_client, server) -> None:
    client = make_client()
    server.enqueue(ok("x", input_tokens=100, output_tokens=10, model=SONNET))
    result = client.complete("dev_assistant", ASK)
    assert result.model == SONNET
    assert result.cost_nano == cost_nano(SONNET, 100, 10)
    events = assert_ledger(client, cost_nano(SONNET, 100, 10))
    assert [e["model"] for e in events if e["type"] == "call"] == [SONNET]


def test_unpriced_response_model_is_priced_as_requested(make_client, server) -> None:
    client = make_client()
    server.enqueue(ok("x", input_tokens=100, output_tokens=10, model="gateway-alias-7"))
    result = client.complete("dev_assistant", ASK)
    assert result.model == "gateway-alias-7"
    assert result.cost_nano == cost_nano(HAIKU, 100, 10)
    assert any("no price" in w for w in result.warnings)
    assert_ledger(client, cost_nano(HAIKU, 100, 10))


def test_max_tokens_is_the_clamped_reservation(make_client, make_config, server) -> None:
    cfg = make_config({"workflows": {"dev_assistant": {"per_task_tokens": {"soft": 100, "hard": 200}}}})
    client = make_client(cfg)
    server.enqueue(ok("short", input_tokens=30, output_tokens=5))
    result = client.complete("dev_assistant", ASK)
    # input + max_tokens reaches the hard limit: the input is held at the API's exact count, not the estimate
    [count] = [r for r in server.requests if r.path == "/v1/messages/count_tokens"]
    counted = estimate_request_tokens(count.json)
    assert counted != estimate_messages_tokens(ASK)
    assert server.message_requests[0].json["max_tokens"] == 200 - counted
    assert any("clamped" in w for w in result.warnings)
    assert result.budget["task"]["hard"] == 200
    assert_ledger(client, cost_nano(HAIKU, 30, 5))


def test_explicit_max_tokens_and_stop_at_max_tokens_warns(make_client, server) -> None:
    client = make_client()
    server.enqueue(ok("word " * 100))
    result = client.complete("dev_assistant", ASK, max_tokens=8)
    assert server.message_requests[0].json["max_tokens"] == 8
    assert result.stop_reason == "max_tokens"
    assert any("cut at max_tokens=8" in w for w in result.warnings)


def test_routing_reaches_the_api(make_client, server) -> None:
    client = make_client()
    result = client.complete("dev_assistant", [{"role": "user", "content": "Design the architecture for our services"}])
    assert server.message_requests[0].json["model"] == SONNET
    assert server.message_requests[0].json["max_tokens"] == 4096
    assert result.route_reason == "keyword 'design'"
    # explicit context: QA's simple work goes to the Haiku role, with the Haiku allowance
    client.complete("qa_test_gen", ASK, context={"is_simple": True})
    assert server.message_requests[1].json["model"] == HAIKU
    assert server.message_requests[1].json["max_tokens"] == 3000
    # the keyword rule reads the latest user message, not the whole history
    history = [
        {"role": "user", "content": "design something"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "now rename it"}]},
    ]
    assert client.complete("dev_assistant", history).route_reason == "default"


def test_budget_pressure_from_the_ledger_routes_cheaper(make_client, make_config, server) -> None:
    # qa_test_gen defaults to the Sonnet role; under pressure its routine work drops to the Haiku role
    cfg = make_config({"workflows": {"qa_test_gen": {"routing": {"budget_pressure_pct": 0.000001}}}})
    client = make_client(cfg)
    server.set_default(ok("x", input_tokens=1000, output_tokens=100))
    first = client.complete("qa_test_gen", ASK)
    second = client.complete("qa_test_gen", ASK)
    assert first.model == SONNET and first.route_reason == "default"
    assert second.model == HAIKU
    assert second.route_reason.startswith("budget pressure: qa_test_gen at ")
    assert [r.json["model"] for r in server.message_requests] == [SONNET, HAIKU]
    assert_ledger(client, cost_nano(SONNET, 1000, 100) + cost_nano(HAIKU, 1000, 100))


def test_org_reserve_routes_cheaper(make_client, make_config, server) -> None:
    client = make_client(make_config({"org": {"reserve_pct": 0.999999}}))
    server.set_default(ok("x", input_tokens=1000, output_tokens=100))
    client.complete("qa_test_gen", ASK)
    second = client.complete("qa_test_gen", ASK)
    assert second.model == HAIKU
    assert "org budget in its reserve" in second.route_reason


# --- blocks ---------------------------------------------------------------------------------------


def test_blocked_call_never_reaches_the_api(make_client, make_config, server) -> None:
    client = make_client(make_config({"workflows": {"dev_assistant": {"daily_usd": 0.000001}}}))
    result = client.complete("dev_assistant", ASK, user_id="ana")
    assert server.message_requests == []
    assert result["budget_blocked"] is True
    assert result.budget_reason == "daily_limit_exceeded"
    assert result.content == ""
    assert result.cost_usd == 0 and result.cost_nano == 0
    assert result.message.startswith("Blocked: Developer coding assistant reached today's budget $0.00")
    assert "resets at midnight America/New_York" in result.message
    assert result.route_reason == "default"
    assert result.budget["daily"]["limit_nano"] == 1000
    assert set(result.to_dict()) >= RESULT_KEYS
    events = assert_ledger(client, 0)
    [block] = events
    assert (block["type"], block["reason"], block["outcome"], block["user"]) == (
        "block",
        "daily_limit_exceeded",
        "blocked",
        "ana",
    )


def test_unknown_workflow_is_blocked_and_logged(make_client, server) -> None:
    client = make_client()
    result = client.complete("marketing_bot", ASK)
    assert result.budget_blocked is True
    assert result.budget_reason == "unknown_workflow"
    assert "'marketing_bot' is not in the budget config test-config.yml" in result.message
    assert result.budget == {}
    assert server.message_requests == []
    [block] = assert_ledger(client, 0)
    assert block["reason"] == "unknown_workflow" and block["workflow"] == "marketing_bot"


def test_task_too_large_is_blocked(make_client, make_config, server) -> None:
    client = make_client(make_config({"workflows": {"pm_assistant": {"per_task_tokens": {"soft": 10, "hard": 20}}}}))
    result = client.complete("pm_assistant", [{"role": "user", "content": "x" * 400}])
    assert result.budget_reason == "task_token_limit_exceeded"
    assert "per-task hard limit of 20 tokens" in result.message
    assert server.message_requests == []


def test_bad_input_is_refused_before_the_ledger(make_client) -> None:
    client = make_client()
    with pytest.raises(UsageError, match="at least one message"):
        client.complete("dev_assistant", [])
    with pytest.raises(UsageError, match="max_tokens"):
        client.complete("dev_assistant", ASK, max_tokens=0)
    assert _events(client) == []


# --- failures -------------------------------------------------------------------------------------


def _assert_failure_logged(client: BudgetedClient, fragment: str, spent_nano: int = 0) -> dict[str, str]:
    events = assert_ledger(client, spent_nano)
    [failure] = [e for e in events if e["type"] == "failure"]
    assert failure["outcome"] == "error" and failure["cost_nano"] == "0"
    assert fragment in failure["reason"], failure
    assert API_KEY not in repr(events)
    return failure


def test_429_with_retry_after_then_success(make_client, server) -> None:
    client = make_client(max_retries=2)
    server.enqueue(rate_limited(retry_after=0.01), ok("done", input_tokens=40, output_tokens=4))
    result = client.complete("dev_assistant", ASK)
    assert result.content == "done"
    assert [r.headers["x-stainless-retry-count"] for r in server.message_requests] == ["0", "1"]
    events = assert_ledger(client, cost_nano(HAIKU, 40, 4))
    assert [e["type"] for e in events] == ["call"]


def test_429_after_retries_raises_and_releases(make_client, server) -> None:
    client = make_client(max_retries=1)
    server.enqueue(rate_limited(retry_after=0.01), rate_limited(retry_after=0.01))
    with pytest.raises(ModelAPIError) as caught:
        client.complete("dev_assistant", ASK)
    assert caught.value.status_code == 429
    assert "429 rate_limit_error after 1 retries" in str(caught.value)
    assert len(server.message_requests) == 2
    _assert_failure_logged(client, "RateLimitError: 429")


def test_529_overloaded(make_client, server) -> None:
    client = make_client(max_retries=0)
    server.enqueue(overloaded())
    with pytest.raises(ModelAPIError) as caught:
        client.complete("dev_assistant", ASK)
    assert caught.value.status_code == 529
    assert caught.value.error_type == "overloaded_error"
    assert caught.value.model == HAIKU and caught.value.workflow_id == "dev_assistant"
    assert isinstance(caught.value, ModelCallError)
    _assert_failure_logged(client, "529: overloaded_error")


def test_529_then_500_then_success_with_retries(make_client, server) -> None:
    client = make_client(max_retries=2)
    server.enqueue(overloaded(retry_after=0.01), server_error(retry_after=0.01), ok("third", input_tokens=9))
    result = client.complete("dev_assistant", ASK)
    assert result.content == "third"
    assert len(server.message_requests) == 3
    assert_ledger(client, result.cost_nano)
    assert result.cost_nano == cost_nano(HAIKU, 9, result.output_tokens)


def test_500_after_retries(make_client, server) -> None:
    client = make_client(max_retries=1)
    server.set_default(server_error(retry_after=0.01))
    with pytest.raises(ModelAPIError, match=rf"500 api_error after 1 retries \(model {HAIKU}\)"):
        client.complete("dev_assistant", ASK)
    assert len(server.message_requests) == 2
    _assert_failure_logged(client, "InternalServerError: 500")


def test_timeout_raises_a_typed_error_and_releases(make_client, server) -> None:
    client = make_client(max_retries=0, timeout=0.3)
    server.enqueue(slow(5))
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match="did not answer in time") as caught:
        client.complete("dev_assistant", ASK)
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, TimeoutError)
    failure = _assert_failure_logged(client, "APITimeoutError")
    assert int(failure["latency_ms"]) >= 250


def test_per_call_timeout_then_retry_succeeds(make_client, server) -> None:
    client = make_client(max_retries=1)
    server.enqueue(slow(5), ok("second try", input_tokens=11, output_tokens=2))
    result = client.complete("dev_assistant", ASK, timeout=0.3)
    assert result.content == "second try"
    assert_ledger(client, cost_nano(HAIKU, 11, 2))


def test_404_names_the_model_and_where_the_config_uses_it(make_client, server) -> None:
    client = make_client()
    server.enqueue(not_found())
    with pytest.raises(ModelNotFoundError) as caught:
        client.complete("dev_assistant", ASK)
    message = str(caught.value)
    assert f"model '{HAIKU}' was not found" in message
    assert "workflows.dev_assistant.routing.default_model" in message
    assert "test-config.yml" in message
    assert caught.value.status_code == 404
    assert isinstance(caught.value, LookupError)
    _assert_failure_logged(client, "NotFoundError: 404")


def test_400_is_not_retried(make_client, server) -> None:
    from tests.fakes.anthropic_server import error

    client = make_client(max_retries=2)
    server.enqueue(error(400, "invalid_request_error", "prompt is too long"))
    with pytest.raises(ModelAPIError, match=r"400 invalid_request_error .*prompt is too long") as caught:
        client.complete("dev_assistant", ASK)
    assert "retries" not in str(caught.value)
    assert len(server.message_requests) == 1
    _assert_failure_logged(client, "prompt is too long")


def test_connection_refused(make_client, make_config, redis_url) -> None:
    dead = FakeAnthropicServer().start()
    url = dead.url
    dead.stop()
    sdk = anthropic.Anthropic(base_url=url, api_key=API_KEY, max_retries=0)
    client = BudgetedClient(make_config(), redis_url=redis_url, anthropic_client=sdk, alerts=False)
    with pytest.raises(ModelAPIError, match="could not reach the Messages API"):
        client.complete("dev_assistant", ASK)
    _assert_failure_logged(client, "APIConnectionError")


def test_missing_credentials_is_a_clear_error(monkeypatch, redis_url, make_config, server) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    client = BudgetedClient(make_config(), redis_url=redis_url, alerts=False, max_retries=0)
    with pytest.raises(ModelAPIError, match="no Anthropic credentials: set ANTHROPIC_API_KEY"):
        client.complete("dev_assistant", ASK)
    assert server.message_requests == []
    _assert_failure_logged(client, "TypeError")


class _Interrupting:
    """A duck-typed SDK client whose call is interrupted by Ctrl-C mid-flight."""

    class messages:  # mirrors the SDK's attribute name
        @staticmethod
        def create(**params: Any) -> Any:
            raise KeyboardInterrupt


def test_keyboard_interrupt_releases_the_hold_and_propagates(redis_url, make_config) -> None:
    client = BudgetedClient(make_config(), redis_url=redis_url, anthropic_client=_Interrupting(), alerts=False)
    with pytest.raises(KeyboardInterrupt):
        client.complete("dev_assistant", ASK)
    _assert_failure_logged(client, "KeyboardInterrupt")


# --- alerts hook ----------------------------------------------------------------------------------


class _RecordingAlerts:
    def __init__(self, fail: bool = False) -> None:
        self.checked: list[str] = []
        self.fail = fail

    def check(self, workflow_id: str) -> list:
        self.checked.append(workflow_id)
        if self.fail:
            raise RuntimeError("https://hooks.slack.com/services/T000/B000/SECRET unreachable")
        return []


def test_alerts_checked_after_completion_and_after_block(make_client, make_config, server) -> None:
    alerts = _RecordingAlerts()
    client = make_client(alerts=alerts)
    client.complete("dev_assistant", ASK)
    assert alerts.checked == ["dev_assistant"]
    blocked_client = make_client(
        make_config({"workflows": {"pm_assistant": {"monthly_usd": 0.000001, "daily_usd": 0.000001}}}), alerts=alerts
    )
    assert blocked_client.complete("pm_assistant", ASK).budget_blocked
    assert alerts.checked == ["dev_assistant", "pm_assistant"]


def test_failing_alerts_never_fail_the_call(make_client, server, caplog) -> None:
    client = make_client(alerts=_RecordingAlerts(fail=True))
    with caplog.at_level(logging.WARNING, logger="acme_ci_budget.client"):
        result = client.complete("dev_assistant", ASK)
    assert result.budget_blocked is False
    assert "alert check for dev_assistant failed (RuntimeError)" in caplog.text
    assert "SECRET" not in caplog.text


def test_alerts_are_handed_in_and_a_factory_is_built_lazily_on_the_clients_ledger(make_config, redis_url) -> None:
    """The client never loads the alerts package (a layer above it): the runs and commands hand ``AlertManager``
    in, as a factory the client builds on first use with its own config and ledger (issue 18: was a by-name
    import of ``acme_ci_budget.alerts`` inside the client, the default when ``alerts`` was None)."""
    from acme_ci_budget.alerts import AlertManager
    from acme_ci_budget.runs.calls import open_client
    from acme_ci_budget.runs.options import TaskOptions

    client = BudgetedClient(make_config(), redis_url=redis_url, alerts=AlertManager)
    manager = client.alerts
    assert isinstance(manager, AlertManager) and client.alerts is manager  # built once
    assert manager._enforcer is client.enforcer and manager.config is client.config
    hook = _RecordingAlerts()
    assert BudgetedClient(make_config(), redis_url=redis_url, alerts=hook).alerts is hook
    for off in (None, False):
        assert BudgetedClient(make_config(), redis_url=redis_url, alerts=off).alerts is None
    # A run's client has alerts on, as before.
    run_client = open_client(make_config(), TaskOptions(redis_url=redis_url), object(), None)
    assert isinstance(run_client.alerts, AlertManager)


def test_an_alerts_factory_that_fails_turns_alerts_off_without_failing_the_client(
    make_config, redis_url, caplog
) -> None:
    def broken(config: Any, *, enforcer: Any) -> Any:
        raise RuntimeError("https://hooks.slack.com/services/T000/B000/SECRET")

    client = BudgetedClient(make_config(), redis_url=redis_url, alerts=broken)
    with caplog.at_level(logging.WARNING, logger="acme_ci_budget.client"):
        assert client.alerts is None
    assert "alerts disabled: could not build broken (RuntimeError)" in caplog.text
    assert "SECRET" not in caplog.text


def test_the_client_never_imports_the_alerts_package(redis_url) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from acme_ci_budget.client import BudgetedClient\n"
        "from acme_ci_budget.config import load_config\n"
        f"client = BudgetedClient(load_config(), redis_url={redis_url!r})\n"
        "print(client.alerts, 'acme_ci_budget.alerts' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None False"


def test_importing_the_client_does_not_import_anthropic() -> None:
    import subprocess
    import sys

    code = "import sys, acme_ci_budget.client.budgeted, acme_ci_budget.client.sessions; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- async ----------------------------------------------------------------------------------------


def test_async_client_shares_the_money_path(redis_url, make_config, server) -> None:
    async def run() -> tuple[CompletionResult, ModelAPIError, AsyncBudgetedClient]:
        sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
        client = AsyncBudgetedClient(make_config(), redis_url=redis_url, anthropic_client=sdk, alerts=False)
        server.enqueue(ok(["a", "b"], input_tokens=70, output_tokens=7), server_error())
        result = await client.complete("dev_assistant", ASK, user_id="bo")
        with pytest.raises(ModelAPIError) as caught:
            await client.complete("dev_assistant", ASK)
        await sdk.close()
        return result, caught.value, client

    result, failure, client = asyncio.run(run())
    assert result.content == "ab"
    assert failure.status_code == 500
    _assert_failure_logged(client, "InternalServerError: 500", cost_nano(HAIKU, 70, 7))


# --- the ledger blinks after the model answered ---------------------------------------------------


def test_settle_survives_a_redis_outage_after_the_call(fresh_redis, server, make_config) -> None:
    import threading

    from tests.fakes.anthropic_server import build_message, handler

    redis_server = fresh_redis("--appendonly", "yes", "--appendfsync", "always")
    client = BudgetedClient(
        make_config(),
        redis_url=redis_server.url,
        alerts=False,
        anthropic_client=anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0),
    )

    def answer_while_redis_restarts(request):
        # The money is spent while Redis is down; it comes back 0.3 s later, before the client gives up.
        redis_server.stop()
        threading.Timer(0.3, redis_server.start).start()
        return build_message(request, "done", input_tokens=1200, output_tokens=80)

    server.enqueue(handler(answer_while_redis_restarts))
    result = client.complete("dev_assistant", [{"role": "user", "content": "hi"}])
    assert not result.budget_blocked and result.content == "done"
    assert_ledger(client, cost_nano(HAIKU, 1200, 80))


def test_session_soft_limit_crossing_notifies_the_alerts_hook(make_client, make_config, server) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.checked: list[str] = []
            self.sessions: list[tuple] = []

        def check(self, workflow_id):
            self.checked.append(workflow_id)

        def notify_session_soft_limit(self, workflow_id, session_id, tokens, soft):
            self.sessions.append((workflow_id, session_id, tokens, soft))

    recorder = Recorder()
    cfg = make_config({"workflows": {"dev_assistant": {"per_session_tokens": {"soft": 1500, "hard": 9000}}}})
    client = make_client(cfg, alerts=recorder)
    server.set_default(ok("fine", input_tokens=700, output_tokens=100))
    client.complete("dev_assistant", [{"role": "user", "content": "one"}], session_id="s-1")
    assert recorder.sessions == []  # 800 tokens: under the soft limit
    client.complete("dev_assistant", [{"role": "user", "content": "two"}], session_id="s-1")
    assert recorder.sessions == [("dev_assistant", "s-1", 1600, 1500)]
    assert recorder.checked == ["dev_assistant", "dev_assistant"]


USAGE_LIMITS = "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."


def test_the_apis_own_error_text_reaches_the_error_and_the_event(make_client, server):
    # The message is in the body's error object ({"type": "error", "error": {"type", "message"}}), which is
    # the API's contract; SDK attributes copied from it differ between versions.
    server.enqueue(error(400, "invalid_request_error", USAGE_LIMITS))
    client = make_client()
    with pytest.raises(ModelAPIError) as caught:
        client.complete("dev_assistant", [{"role": "user", "content": "hi"}])
    assert USAGE_LIMITS in str(caught.value) and "400 invalid_request_error" in str(caught.value)
    (failure,) = [e for e in _events(client) if e["type"] == "failure"]
    assert USAGE_LIMITS in failure["reason"]


def test_api_error_reads_the_body_when_the_sdk_copies_nothing():
    class OlderSdkError(Exception):  # an SDK exception without .type / .api_message, as 0.x had
        def __init__(self, body: dict) -> None:
            super().__init__("400")
            self.body = body

    older = OlderSdkError({"type": "error", "error": {"type": "invalid_request_error", "message": USAGE_LIMITS}})
    assert api_error(older) == ("invalid_request_error", USAGE_LIMITS)
    assert api_error(ValueError("no body")) == (None, "")


def test_the_organisations_anthropic_spend_limit_is_a_block_never_retried(make_client, server):
    # 429 enforced_spend_limit_reached fails until the limit is raised or the month ends: retrying it (as any
    # other 429) only burns the deadline; it is reported as a block with its own reason, nothing charged.
    server.enqueue(spend_limit_reached(), ok("never sent"))
    client = make_client(max_retries=2)
    result = client.complete("dev_assistant", [{"role": "user", "content": "hi"}])
    assert result.budget_blocked and result.budget_reason == "anthropic_spend_limit_reached"
    assert "Anthropic spend limit is reached" in result.message and "enforced_spend_limit_reached" in result.message
    assert len(server.message_requests) == 1  # not retried
    assert client.enforcer.open_holds() == 0
    assert client.enforcer.get_org_status()["spend_nano"] == 0
    (failure,) = [e for e in _events(client) if e["type"] == "failure"]
    assert "429" in failure["reason"]


def test_the_journal_is_found_once_per_ledger_not_read_from_the_environment_every_call(
    make_client, server, monkeypatch
) -> None:
    """Before: each call read six environment variables to find the spend journal (~5 us a call)."""
    import os

    from acme_ci_budget.client.settle import journal_place
    from acme_ci_budget.ledger import journal

    reads: list[str] = []

    class Counting(dict):
        def get(self, key, default=None):  # type: ignore[override]
            reads.append(key)
            return super().get(key, default)

        def __getitem__(self, key):
            reads.append(key)
            return super().__getitem__(key)

    client = make_client()
    server.set_default(ok("fine", input_tokens=20, output_tokens=5))
    client.complete("dev_assistant", ASK)  # the first call finds it
    where = journal_place(client.enforcer)
    monkeypatch.setattr(os, "environ", Counting(os.environ))
    for _ in range(3):
        assert not client.complete("dev_assistant", ASK).budget_blocked
    assert [name for name in reads if name in journal._WHERE_ENV] == []
    assert where == journal.journal_path()  # where the environment says it is
