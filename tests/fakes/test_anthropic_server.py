"""The loopback fake Messages API (tests/fakes/anthropic_server) answers the REAL anthropic SDK as the API does.

Other tests rely on this fake to stand in for Anthropic, so what is checked here is the contract those
tests lean on: shapes the SDK parses, errors it raises, retries, timeouts, streaming, count_tokens.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic_server import (
    FakeAnthropicServer,
    Reply,
    build_message,
    error,
    handler,
    not_found,
    ok,
    overloaded,
    rate_limited,
    server_error,
    slow,
)

API_KEY = "sk-ant-test-key-must-not-leak"
USER_MESSAGE = [{"role": "user", "content": "Review this diff please."}]


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


def _client(server: FakeAnthropicServer, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.url, api_key=API_KEY, **kwargs)


def test_ok_returns_text_usage_and_cache_tokens(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(
        ok(
            "Looks good.",
            input_tokens=1200,
            output_tokens=45,
            cache_creation_input_tokens=300,
            cache_read_input_tokens=5000,
        )
    )
    message = _client(fake_anthropic).messages.create(model="claude-haiku-4-5", max_tokens=256, messages=USER_MESSAGE)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "claude-haiku-4-5"
    assert message.id.startswith("msg_")
    assert [block.text for block in message.content] == ["Looks good."]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 1200
    assert message.usage.output_tokens == 45
    assert message.usage.cache_creation_input_tokens == 300
    assert message.usage.cache_read_input_tokens == 5000


def test_multiple_text_blocks(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(ok(["First part.", "Second part."]))
    message = _client(fake_anthropic).messages.create(model="m", max_tokens=100, messages=USER_MESSAGE)
    assert [block.type for block in message.content] == ["text", "text"]
    assert [block.text for block in message.content] == ["First part.", "Second part."]


def test_default_usage_is_derived_from_the_request(fake_anthropic: FakeAnthropicServer) -> None:
    client = _client(fake_anthropic)
    small = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x" * 400}])
    big = client.messages.create(
        model="m", max_tokens=10, system="s" * 400, messages=[{"role": "user", "content": "x" * 4000}]
    )
    assert small.usage.input_tokens == 100
    assert big.usage.input_tokens == 1100
    # Cached tokens are not input tokens, as in the real API.
    fake_anthropic.enqueue(ok("hi", cache_read_input_tokens=900))
    cached = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x" * 4000}])
    assert cached.usage.input_tokens == 100
    assert cached.usage.cache_read_input_tokens == 900


def test_output_is_cut_at_max_tokens(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(ok("word " * 200))
    message = _client(fake_anthropic).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 10
    assert len(message.content[0].text) == 40


def test_requests_are_recorded_without_the_api_key(fake_anthropic: FakeAnthropicServer) -> None:
    _client(fake_anthropic).messages.create(model="claude-x", max_tokens=64, messages=USER_MESSAGE)
    [request] = fake_anthropic.message_requests
    assert request.json["model"] == "claude-x"
    assert request.json["max_tokens"] == 64
    assert request.json["messages"] == USER_MESSAGE
    assert request.headers["authorization"] == "<redacted>"
    assert "anthropic-version" in request.headers
    assert API_KEY not in json.dumps([dict(r.headers) for r in fake_anthropic.requests])


def test_429_then_success_is_retried_by_the_sdk(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(rate_limited(retry_after=0.01), ok("after retry"))
    message = _client(fake_anthropic, max_retries=1).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert message.content[0].text == "after retry"
    requests = fake_anthropic.message_requests
    assert len(requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in requests] == ["0", "1"]


def test_429_without_retries_raises_rate_limit_error(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(rate_limited(retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as caught:
        _client(fake_anthropic).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    ("behaviour", "error_class", "status", "error_type"),
    [
        (overloaded(), anthropic.OverloadedError, 529, "overloaded_error"),
        (server_error(), anthropic.InternalServerError, 500, "api_error"),
    ],
)
def test_server_errors_raise_typed_sdk_errors(
    fake_anthropic: FakeAnthropicServer, behaviour: Any, error_class: type, status: int, error_type: str
) -> None:
    fake_anthropic.enqueue(behaviour)
    with pytest.raises(error_class) as caught:
        _client(fake_anthropic).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == error_type
    assert len(fake_anthropic.message_requests) == 1


def test_overloaded_is_an_internal_server_error_and_retried(fake_anthropic: FakeAnthropicServer) -> None:
    assert issubclass(anthropic.OverloadedError, anthropic.InternalServerError)
    fake_anthropic.enqueue(overloaded(retry_after=0.01), server_error(retry_after=0.01), ok("third time"))
    message = _client(fake_anthropic, max_retries=2).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert message.content[0].text == "third time"
    assert len(fake_anthropic.message_requests) == 3


def test_unknown_model_raises_not_found(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(not_found())
    with pytest.raises(anthropic.NotFoundError) as caught:
        _client(fake_anthropic).messages.create(model="claude-nope", max_tokens=10, messages=USER_MESSAGE)
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nope"}


def test_slow_answer_trips_the_client_timeout(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(slow(5))
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        _client(fake_anthropic, timeout=0.3).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert time.monotonic() - started < 3


def test_slow_answer_within_the_timeout_succeeds(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(slow(0.2, then=ok("late")))
    message = _client(fake_anthropic, timeout=5).messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert message.content[0].text == "late"


def test_stop_does_not_wait_for_a_sleeping_slow_reply() -> None:
    server = FakeAnthropicServer(default=slow(30)).start()
    client = _client(server, timeout=0.2)
    with pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_handler_derives_the_reply_from_the_request(fake_anthropic: FakeAnthropicServer) -> None:
    def echo(request: dict[str, Any]) -> dict[str, Any]:
        text = request["messages"][-1]["content"]
        return build_message(request, f"echo: {text}", input_tokens=len(text), output_tokens=2)

    fake_anthropic.set_default(handler(echo))
    client = _client(fake_anthropic)
    first = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "abc"}])
    second = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "abcdef"}])
    assert first.content[0].text == "echo: abc"
    assert (first.usage.input_tokens, second.usage.input_tokens) == (3, 6)


def test_handler_may_return_a_reply_and_errors_in_handlers_surface(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(
        handler(
            lambda request: Reply(
                400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}
            )
        ),
        handler(lambda request: request["no-such-key"]),
        error(403, "permission_error", "nope"),
    )
    client = _client(fake_anthropic)
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        client.messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert fake_anthropic.handler_errors == ["KeyError('no-such-key')"]
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="m", max_tokens=10, messages=USER_MESSAGE)
    assert fake_anthropic.pending == 0


def test_count_tokens(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(overloaded())  # count_tokens does not consume the script
    counted = _client(fake_anthropic).messages.count_tokens(
        model="m", messages=[{"role": "user", "content": "y" * 800}]
    )
    assert counted.input_tokens == 200
    assert fake_anthropic.pending == 1


def test_streaming_gives_the_same_message(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue(ok(["streamed ", "reply"], input_tokens=50, output_tokens=7, cache_read_input_tokens=11))
    with _client(fake_anthropic).messages.stream(model="m", max_tokens=100, messages=USER_MESSAGE) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed reply"
    assert final.usage.output_tokens == 7
    assert final.usage.input_tokens == 50
    assert final.usage.cache_read_input_tokens == 11
    assert final.stop_reason == "end_turn"


def test_malformed_requests_are_refused_like_the_api(fake_anthropic: FakeAnthropicServer) -> None:
    def post(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{fake_anthropic.url}/v1/messages", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    good_headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    body = {"model": "m", "max_tokens": 5, "messages": USER_MESSAGE}
    assert post(body, {"anthropic-version": "2023-06-01"})[1]["error"]["type"] == "authentication_error"
    status, reply = post({"model": "m", "messages": USER_MESSAGE}, good_headers)
    assert (status, reply["error"]["type"]) == (400, "invalid_request_error")
    assert "max_tokens" in reply["error"]["message"]
    assert post(body, good_headers)[0] == 200
    assert fake_anthropic.requests[-1].headers["x-api-key"] == "<redacted>"


def test_a_wrong_api_key_is_refused_like_the_api() -> None:
    with FakeAnthropicServer(api_keys={"good-key"}) as server:
        bad = anthropic.Anthropic(base_url=server.url, api_key="bad-key", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as info:
            bad.models.list(limit=1)
        assert info.value.status_code == 401
        error = {"type": "authentication_error", "message": "invalid x-api-key"}
        assert info.value.body == {"type": "error", "error": error}
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        good = anthropic.Anthropic(base_url=server.url, api_key="good-key", max_retries=0)
        assert good.models.list(limit=1).data
        assert good.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]).content
