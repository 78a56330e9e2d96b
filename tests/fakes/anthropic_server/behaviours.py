"""Scripted answers for POST /v1/messages: ok, refused, the API's errors, slow, truncated, handler.

Owns: the behaviour factories tests enqueue and ``_normalise`` (a behaviour's result as a Reply).
Must not: touch the server or its state.

Fidelity notes:
- refused() answers 200 as a refusal does (Claude 4 and later, when the API's classifiers stop a
  reply): stop_reason "refusal", content empty or what streamed before the stop, and stop_details
  {"type": "refusal", "category", "explanation"} (both may be null); usage is still reported and the
  output tokens up to the refusal are billed.
- rate_limited() and overloaded() send retry-after (whole seconds from the real API; a short
  default here keeps tests fast). truncated() cuts a 200 body, with an honest or a full-length
  content-length (a gateway that cut the body / a connection dropped mid-reply).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.fakes.anthropic_server.messages import build_message
from tests.fakes.anthropic_server.wire import Behaviour, Reply, error_body


def ok(
    content: str | Sequence[str | Mapping[str, Any]] = "OK",
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    stop_reason: str | None = None,
    model: str | None = None,
    cache_creation_1h_input_tokens: int = 0,
) -> Behaviour:
    """Answer 200 with `content` (a string, or a list of strings / content block dicts)."""

    def behaviour(request: dict[str, Any]) -> Reply:
        return Reply(
            200,
            build_message(
                request,
                content,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_creation_input_tokens=cache_creation_input_tokens,
                cache_read_input_tokens=cache_read_input_tokens,
                stop_reason=stop_reason,
                model=model,
                cache_creation_1h_input_tokens=cache_creation_1h_input_tokens,
            ),
        )

    return behaviour


def refused(
    content: str | Sequence[str | Mapping[str, Any]] = (),
    *,
    category: str | None = "cyber",
    explanation: str | None = "This request was declined because it could enable cyber harm.",
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Behaviour:
    """Answer 200 as a refused reply: stop_reason "refusal", `content` (default none) as what came before
    the stop, and the API's stop_details; usage as for any reply (the tokens up to the refusal are billed)."""

    def behaviour(request: dict[str, Any]) -> Reply:
        body = build_message(
            request, content, input_tokens=input_tokens, output_tokens=output_tokens, stop_reason="refusal"
        )
        body["stop_details"] = {"type": "refusal", "category": category, "explanation": explanation}
        return Reply(200, body)

    return behaviour


def error(status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> Behaviour:
    """Answer `status` with Anthropic's error body."""
    extra = tuple((headers or {}).items())
    return lambda request: Reply(status, error_body(error_type, message), extra)


def rate_limited(
    retry_after: float = 0.01,
    message: str = "Number of request tokens has exceeded your per-minute rate limit",
) -> Behaviour:
    """429 rate_limit_error with a retry-after header (the API sends whole seconds; tests want it short)."""
    return error(429, "rate_limit_error", message, _retry_header(retry_after))


def _retry_header(retry_after: float | None) -> dict[str, str]:
    return {} if retry_after is None else {"retry-after": f"{retry_after:g}"}


def spend_limit_reached(message: str = "You have reached your organization's monthly spend limit.") -> Behaviour:
    """429 whose ``error.details.error_code`` is ``enforced_spend_limit_reached``: the organisation's own
    spend limit (Anthropic Console), which fails until the limit is raised or the month ends."""
    body = error_body("rate_limit_error", message)
    body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    return lambda request: Reply(429, body, (("retry-after", "1"),))


def overloaded(message: str = "Overloaded", retry_after: float | None = 0.01) -> Behaviour:
    """529 overloaded_error with a retry-after header (None: without one, as a 529 may come)."""
    return error(529, "overloaded_error", message, _retry_header(retry_after))


def server_error(message: str = "Internal server error", retry_after: float | None = None) -> Behaviour:
    """500 api_error. retry_after as for overloaded()."""
    return error(500, "api_error", message, _retry_header(retry_after))


def not_found(model: str | None = None) -> Behaviour:
    """404 not_found_error worded like the API: "model: X" (X defaults to the requested model)."""

    def behaviour(request: dict[str, Any]) -> Reply:
        return Reply(404, error_body("not_found_error", f"model: {model or request.get('model')}"))

    return behaviour


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait `seconds` (interrupted by stop()), then answer as `then` (default ok())."""
    after = then or ok()

    def behaviour(request: dict[str, Any]) -> Reply:
        reply = _normalise(after(request))
        return Reply(reply.status, reply.body, reply.headers, reply.delay + seconds)

    return behaviour


def truncated(then: Behaviour | None = None, keep: float = 0.5, *, declare_full_length: bool = False) -> Behaviour:
    """Answer as `then` (default ok()) but send only `keep` of the body, then close the connection.

    By default content-length says the cut length (a gateway that cut the body: the client reads
    invalid JSON); declare_full_length=True announces the whole body (the connection dropped
    mid-reply: the client sees the peer close early).
    """
    after = then or ok()

    def behaviour(request: dict[str, Any]) -> Reply:
        reply = _normalise(after(request))
        return Reply(reply.status, reply.body, reply.headers, reply.delay, keep, declare_full_length)

    return behaviour


def handler(fn: Callable[[dict[str, Any]], Reply | dict[str, Any]]) -> Behaviour:
    """A dynamic reply: fn(request_json) returns a Reply, or a dict sent as the 200 JSON body
    (build_message(request, ...) makes one derived from the request)."""
    return fn


def _normalise(result: Reply | dict[str, Any]) -> Reply:
    if isinstance(result, Reply):
        return result
    if isinstance(result, Mapping):
        return Reply(200, dict(result))
    raise TypeError(f"behaviour returned {type(result).__name__}, expected Reply or dict")
