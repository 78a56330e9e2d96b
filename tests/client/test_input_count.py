"""Non-text input is held at the API's count, and a reply cut short is a typed error, never a free call.

The REAL anthropic SDK against the loopback fake Messages API (which serves count_tokens like the
real endpoint and counts base64 content by size, as the API bills it), on a real Redis.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import anthropic
import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client.budgeted import AsyncBudgetedClient, BudgetedClient
from acme_ci_budget.client.input_count import DOCUMENT_BYTES_PER_TOKEN, IMAGE_FALLBACK_TOKENS
from acme_ci_budget.client.result import ModelAPIError, ModelNotFoundError, ModelResponseError
from acme_ci_budget.config import load_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens
from tests.fakes.anthropic_server import (
    FakeAnthropicServer,
    build_message,
    error,
    estimate_request_tokens,
    handler,
    ok,
    truncated,
)

API_KEY = "sk-ant-count-test-key"
REVIEW_ROUTING = load_config(default_config_path()).workflows["ci_cd_review"].routing
HAIKU = REVIEW_ROUTING.default_model  # the Haiku role: the review's default
SONNET = REVIEW_ROUTING.complex_model  # the Sonnet role: the review's complex tier
PDF_BYTES = b"%PDF-1.7\n" + bytes(3_000_000)  # a 3 MB document: 4 MB of base64
PDF = base64.b64encode(PDF_BYTES).decode()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(60_000)).decode()


def _document(data: str = PDF) -> dict[str, Any]:
    return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}


def _ask_with(*blocks: dict[str, Any], text: str = "Summarise this contract.") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


@pytest.fixture
def server():
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def make_client(redis_url, server, make_config):
    def build(changes: dict | None = None, **kwargs: Any) -> BudgetedClient:
        sdk = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=kwargs.pop("max_retries", 0))
        return BudgetedClient(make_config(changes), redis_url=redis_url, anthropic_client=sdk, alerts=False, **kwargs)

    return build


def _call_events(client: BudgetedClient) -> list[dict[str, str]]:
    raw = client.enforcer.redis.xrange(client.enforcer.keys.events())
    events = [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]
    return [e for e in events if e["type"] == "call"]


def _spent(client: BudgetedClient) -> int:
    enforcer = client.enforcer
    return int(enforcer.redis.get(enforcer.keys.org_spent(enforcer.periods()[1])) or 0)


BIG_TASKS = {"workflows": {"ci_cd_review": {"per_task_tokens": {"soft": 100_000, "hard": 200_000}}}}


# --- the exact count ------------------------------------------------------------------------------


def test_a_large_pdf_is_held_at_what_the_api_bills(make_client, server) -> None:
    """Before: held at the text's ~10 tokens, billed ~43,000 (the document was invisible to the estimator)."""
    client = make_client(BIG_TASKS)
    messages = _ask_with(_document())
    assert estimate_messages_tokens(messages) < 20
    result = client.complete("ci_cd_review", messages)
    billed = result.input_tokens
    assert billed == estimate_request_tokens({"messages": messages}) > 40_000
    # routed on the count, not the estimate: past threshold_tokens, so the complex model, counted for it too
    assert [r.json["model"] for r in server.count_requests] == [HAIKU, SONNET]
    assert server.count_requests[-1].json["messages"] == messages
    assert "max_tokens" not in server.count_requests[-1].json
    assert result.model == SONNET and not result.warnings
    [call] = _call_events(client)
    assert int(call["held_nano"]) >= int(call["cost_nano"]) == result.cost_nano
    assert int(call["held_nano"]) == cost_nano(SONNET, billed, server.message_requests[0].json["max_tokens"])
    assert client.enforcer.open_holds() == 0


def test_a_count_covers_the_cheaper_model_the_reserve_may_downgrade_to(make_client, server) -> None:
    """Budget pressure is decided by the reserve, after the count: the request is counted for the routed model
    and for the cheaper one (tokenizers can differ), and the hold takes the larger count. Before: the count
    was the routed model's only, and a downgraded call was held at another model's count."""
    qa = load_config(default_config_path()).workflows["qa_test_gen"].routing
    assert qa.default_model != qa.simple_model  # the Sonnet role routine, the Haiku role cheaper
    client = make_client({"workflows": {"qa_test_gen": {"routing": {"budget_pressure_pct": 0}}}})
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    counts = {qa.default_model: 1_000, qa.simple_model: 1_300}
    server.enqueue_count(*[handler(lambda body: {"input_tokens": counts[body["model"]]})] * 2)
    result = client.complete("qa_test_gen", _ask_with(image, text="Write tests for this screen."))
    assert [r.json["model"] for r in server.count_requests] == [qa.default_model, qa.simple_model]
    assert result.model == qa.simple_model and result.route_reason.startswith("budget pressure: ")
    [call] = _call_events(client)
    max_tokens = server.message_requests[0].json["max_tokens"]
    assert int(call["held_nano"]) == cost_nano(qa.simple_model, 1_300, max_tokens)


def test_a_document_past_the_task_limit_is_blocked_before_it_is_sent(make_client, server) -> None:
    client = make_client()
    assert client.config.workflows["ci_cd_review"].per_task_tokens.hard < 40_000  # the document is ~43,000
    result = client.complete("ci_cd_review", _ask_with(_document()))
    assert result.budget_blocked and result.budget_reason == "task_token_limit_exceeded"
    assert "(~42," in result.message or "(~43," in result.message
    assert server.message_requests == []


def test_images_tool_use_and_tool_results_are_counted(make_client, server) -> None:
    client = make_client()
    messages = [
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": PNG}}, "What is in it?"]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ocr", "input": {"page": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Invoice 42"}]},
    ]
    messages[0]["content"][1] = {"type": "text", "text": "What is in it?"}
    result = client.complete("dev_assistant", messages)
    [count] = server.count_requests
    assert count.json["messages"] == messages
    assert result.input_tokens == estimate_request_tokens({"messages": messages})
    [call] = _call_events(client)
    assert int(call["held_nano"]) >= int(call["cost_nano"])


def test_plain_text_far_from_every_limit_costs_no_count(make_client, server) -> None:
    client = make_client()
    client.complete("dev_assistant", [{"role": "user", "content": "rename foo to bar"}])
    assert server.count_requests == [] and len(server.message_requests) == 1


def test_the_system_prompt_is_counted_as_it_is_sent(make_client, server) -> None:
    client = make_client()
    client.complete("dev_assistant", _ask_with(_document(base64.b64encode(b"%PDF" * 500).decode())), system="Be brief.")
    [count] = server.count_requests
    assert count.json["system"] == [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    assert count.json["system"] == server.message_requests[0].json["system"]


def test_async_client_counts_too(redis_url, make_config, server) -> None:
    async def run():
        sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
        client = AsyncBudgetedClient(make_config(BIG_TASKS), redis_url=redis_url, anthropic_client=sdk, alerts=False)
        result = await client.complete("ci_cd_review", _ask_with(_document()))
        await sdk.close()
        return client, result

    client, result = asyncio.run(run())
    assert len(server.count_requests) == 2 and server.count_requests[0].headers["authorization"] == "<redacted>"
    [call] = _call_events(client)
    assert int(call["held_nano"]) >= int(call["cost_nano"]) == result.cost_nano


# --- when the count fails -------------------------------------------------------------------------


def test_a_failed_count_falls_back_to_a_pessimistic_flagged_hold(make_client, server) -> None:
    client = make_client(BIG_TASKS)
    server.enqueue_count(error(500, "api_error", "Internal server error"))
    messages = _ask_with(_document())
    result = client.complete("ci_cd_review", messages)
    [warning] = [w for w in result.warnings if "count_tokens failed" in w]
    assert "(InternalServerError 500)" in warning and "non-text content" in warning
    fallback = estimate_messages_tokens(messages) + -(-len(PDF_BYTES) // DOCUMENT_BYTES_PER_TOKEN)
    assert f"estimated {fallback:,} tokens" in warning
    [call] = _call_events(client)
    assert int(call["held_nano"]) >= int(call["cost_nano"])  # the guess errs high
    assert int(call["input_tokens"]) == result.input_tokens < fallback


def test_a_url_image_cannot_be_counted_and_is_flagged(make_client, server) -> None:
    client = make_client()
    image = {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.png"}}
    result = client.complete("dev_assistant", _ask_with(image))
    [count] = server.count_requests
    assert count.json["messages"][0]["content"][0] == image
    [warning] = [w for w in result.warnings if "count_tokens failed" in w]
    assert "(BadRequestError 400)" in warning
    assert f"estimated {estimate_messages_tokens(_ask_with(image)) + IMAGE_FALLBACK_TOKENS:,} tokens" in warning


def test_count_tokens_answers_like_the_api(server) -> None:
    """The fake's contract: request shape, {"input_tokens": N}, 404 not_found_error for unknown models."""
    with FakeAnthropicServer(known_models=[HAIKU]) as strict:
        sdk = anthropic.Anthropic(base_url=strict.url, api_key=API_KEY, max_retries=0)
        counted = sdk.messages.count_tokens(model=HAIKU, messages=[{"role": "user", "content": "x" * 400}])
        assert counted.input_tokens == 100
        with pytest.raises(anthropic.NotFoundError) as missing:
            sdk.messages.count_tokens(model="claude-nope", messages=[{"role": "user", "content": "hi"}])
        assert missing.value.status_code == 404
        assert missing.value.body == {
            "type": "error",
            "error": {"type": "not_found_error", "message": "model: claude-nope"},
        }
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.create(model="claude-nope", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(anthropic.BadRequestError, match="messages: Input should be a valid list"):
            sdk.messages.count_tokens(model=HAIKU, messages=None)  # type: ignore[arg-type]
        [count] = [r for r in strict.count_requests if r.json.get("model") == HAIKU][:1]
        assert count.headers["anthropic-version"] and count.headers["authorization"] == "<redacted>"


def test_an_unknown_model_fails_the_count_then_the_call(redis_url, make_config) -> None:
    with FakeAnthropicServer(known_models=[SONNET]) as strict:
        sdk = anthropic.Anthropic(base_url=strict.url, api_key=API_KEY, max_retries=0)
        client = BudgetedClient(make_config(), redis_url=redis_url, anthropic_client=sdk, alerts=False)
        with pytest.raises(ModelNotFoundError):
            client.complete("dev_assistant", _ask_with(_document(base64.b64encode(b"%PDF").decode())))
        assert len(strict.count_requests) == 1
        assert client.enforcer.open_holds() == 0 and _spent(client) == 0


# --- a reply cut short ----------------------------------------------------------------------------


def test_a_cut_200_is_a_typed_error_charged_at_its_hold(make_client, server) -> None:
    """Before: json.JSONDecodeError escaped (a traceback) and the billed call was recorded as free."""
    client = make_client(max_retries=2)
    server.enqueue(truncated(ok("a long answer " * 50, input_tokens=100, output_tokens=400)))
    with pytest.raises(ModelResponseError) as caught:
        client.complete("dev_assistant", [{"role": "user", "content": "explain"}])
    error_ = caught.value
    assert error_.status_code == 200 and isinstance(error_, ValueError)
    assert "answered 200 but its reply could not be read (JSONDecodeError" in str(error_)
    assert len(server.message_requests) == 1  # never sent twice: the first was billed
    [call] = _call_events(client)
    assert int(call["cost_nano"]) == int(call["held_nano"]) == error_.charged_nano == _spent(client) > 0
    assert client.enforcer.open_holds() == 0


def test_a_connection_dropped_mid_reply_is_retried_then_released(make_client, server) -> None:
    client = make_client(max_retries=1)
    server.enqueue(
        truncated(declare_full_length=True), truncated(declare_full_length=True), ok("never reached")
    )
    with pytest.raises(ModelAPIError) as caught:
        client.complete("dev_assistant", [{"role": "user", "content": "explain"}])
    message = str(caught.value)
    assert "dropped before the reply was complete (1 retries): RemoteProtocolError" in message
    assert len(server.message_requests) == 2
    assert client.enforcer.open_holds() == 0 and _spent(client) == 0 and _call_events(client) == []


def test_a_valid_reply_after_a_cut_one_is_settled_normally(make_client, server) -> None:
    client = make_client()
    server.enqueue(handler(lambda request: build_message(request, "fine", input_tokens=12, output_tokens=3)))
    result = client.complete("dev_assistant", [{"role": "user", "content": "hi"}])
    model = client.config.workflows["dev_assistant"].routing.default_model
    assert result.model == model
    assert result.cost_nano == cost_nano(model, 12, 3) == _spent(client)


def test_has_non_text_says_what_non_text_blocks_finds() -> None:
    """The per-call check stops at the first non-text block; it must agree with the full list every time."""
    from types import SimpleNamespace

    from acme_ci_budget.client.input_count import has_non_text, non_text_blocks

    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    cases = [
        ([{"role": "user", "content": "hi"}], ""),
        ([{"role": "user", "content": "hi"}], "system"),
        ([{"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "untyped"}]}], ""),
        ([{"role": "user", "content": [{"type": "text", "text": "a"}, image]}], ""),
        ([{"role": "user", "content": ("a tuple", SimpleNamespace(type="tool_result"))}], ""),
        ([{"role": "user", "content": None}, {"role": "assistant"}], [{"type": "text", "text": "s"}]),
        ([{"role": "user", "content": "hi"}], [{"type": "text", "text": "s"}, {"type": "document"}]),
        ([{"role": "user", "content": [SimpleNamespace(type="text", text="sdk block")]}], ""),
    ]
    for messages, system in cases:
        assert has_non_text(messages, system) is bool(non_text_blocks(messages, system)), (messages, system)
