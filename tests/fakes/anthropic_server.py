"""Loopback fake of the Anthropic Messages API, for the real `anthropic` SDK in tests.

Owns: what a loopback server (tests/fakes/loopback.py: 127.0.0.1, free port, one thread per
connection) answers to POST /v1/messages and POST /v1/messages/count_tokens: bodies shaped like the real API,
a script of behaviours consumed one per /v1/messages request (ok, 429, 529, 500, 404, slow,
or any callable), and a record of every request with secrets redacted.

Must not: reach the network, know anything about acme_ci_budget, or keep API keys: the values of
`x-api-key`, `authorization` (this SDK sends "Bearer <key>") and any header named like key/token/secret
are replaced by "<redacted>" before recording.

Usage::

    with FakeAnthropicServer() as server:
        server.enqueue(rate_limited(), ok("hello", cache_read_input_tokens=100))
        client = anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=1)
        message = client.messages.create(model="claude-x", max_tokens=100, messages=[...])
        assert len(server.message_requests) == 2

Fidelity notes (what the fake mimics, and where it stops):
- usage.input_tokens excludes cached tokens, as in the real API: when the behaviour gives cache
  counts but no input_tokens, input_tokens = estimated request tokens - cache tokens (min 1).
- usage.cache_creation_input_tokens is every cache write and usage.cache_creation splits it by TTL
  (ephemeral_5m_input_tokens / ephemeral_1h_input_tokens), as the real API reports it; behaviours
  give the two parts as cache_creation_input_tokens (5-minute) and cache_creation_1h_input_tokens.
- output is cut to max_tokens (about 4 characters a token) with stop_reason "max_tokens", unless
  the behaviour fixes output_tokens or stop_reason itself.
- "stream": true gets a Server-Sent Events stream of the same message (message_start,
  content_block_*, message_delta with the output usage, message_stop).
- missing x-api-key -> 401 authentication_error; with api_keys=... any other key -> 401
  authentication_error "invalid x-api-key", as the real API answers a wrong key; missing anthropic-version, model, max_tokens
  or messages -> 400 invalid_request_error. These checks run before a behaviour is consumed.
- known_models=... (default: every model is known): any other model gets 404 not_found_error
  "model: X" on both routes, as the real API answers a retired or misspelled id.
- POST /v1/messages/count_tokens takes the same body minus max_tokens and answers
  {"input_tokens": N}, the same N /v1/messages bills as input by default. It has its own script
  (enqueue_count(); the /v1/messages queue is untouched) and otherwise answers the count. Like the
  real endpoint it refuses image/document blocks with a url or file source (400
  invalid_request_error: send them as base64 to count them).
- non-text input is counted by size, as the API bills it: a base64 document at about 70 bytes a
  token (a 4 MB PDF is about 60,000 tokens), a base64 image at about 750 bytes a token up to
  1,600 (the API scales larger images down); base64 data is never counted as text.
- refused() answers 200 as a refusal does (Claude 4 and later, when the API's classifiers stop a
  reply): stop_reason "refusal", content empty or what streamed before the stop, and stop_details
  {"type": "refusal", "category", "explanation"} (both may be null); usage is still reported and the
  output tokens up to the refusal are billed.
- rate_limited() and overloaded() send retry-after (whole seconds from the real API; a short
  default here keeps tests fast). truncated() cuts a 200 body, with an honest or a full-length
  content-length (a gateway that cut the body / a connection dropped mid-reply).
- GET /v1/models lists a catalogue (``DEFAULT_MODELS`` or ``models=``) as the Models API does:
  newest first, pages of ``limit`` (default 20, 1..1000, else 400) after ``after_id`` / before
  ``before_id``, with ``data``, ``has_more``, ``first_id``, ``last_id``; each model carries
  ``lifecycle`` (active | deprecated | retired), ``deprecated_at`` and ``retires_at``; without a
  ``lifecycle[]`` filter retired models are left out, as in the API. GET /v1/models/{id} answers
  any catalogued model (retired ones too) and 404 not_found_error otherwise.
- POST /v1/messages naming a model the catalogue lists as retired answers 404 not_found_error
  ("model: X") without consuming a behaviour; models the catalogue does not list are answered
  as before (tests use made-up names).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackFake, LoopbackHandler

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization"})


def _is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in ("key", "token", "secret"))


# Rough characters per token, only to make usage numbers plausible; not the product's estimator.
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON body, extra headers, and a delay before answering."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    # Send only this share of the body (then close): see truncated().
    cut: float | None = None
    cut_declares_full_length: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it; header names are lower case, secret values redacted."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any


# A behaviour turns the request JSON into a Reply, or into a dict sent as a 200 JSON body.
Behaviour = Callable[[dict[str, Any]], "Reply | dict[str, Any]"]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        if _is_base64_source(value):
            return  # counted by size (_binary_tokens), not as text
        for key, item in value.items():
            # Block types and ids are framing, not text the model reads.
            if key in ("type", "role", "id", "tool_use_id", "cache_control", "media_type"):
                continue
            yield from _strings(item)
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for item in value:
            yield from _strings(item)


_DOCUMENT_BYTES_PER_TOKEN = 70
_IMAGE_BYTES_PER_TOKEN = 750
_IMAGE_MAX_TOKENS = 1_600


def _is_base64_source(value: Mapping[str, Any]) -> bool:
    return value.get("type") == "base64" and isinstance(value.get("data"), str)


def _binary_tokens(value: Any, kind: str | None = None) -> int:
    """Tokens of the base64 images and documents anywhere in a request, by decoded size."""
    if isinstance(value, Mapping):
        if _is_base64_source(value):
            size = len(value["data"]) * 3 // 4
            if kind == "image":
                return min(_IMAGE_MAX_TOKENS, max(1, size // _IMAGE_BYTES_PER_TOKEN))
            return max(1, size // _DOCUMENT_BYTES_PER_TOKEN)
        block_kind = value.get("type") if isinstance(value.get("type"), str) else kind
        return sum(_binary_tokens(item, block_kind) for item in value.values())
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return sum(_binary_tokens(item, kind) for item in value)
    return 0


def estimate_request_tokens(request: Mapping[str, Any]) -> int:
    """Plausible input tokens for a request: text of system, messages and tools / 4, plus base64 content by
    size (see the module notes), at least 1."""
    parts = [request.get(part) for part in ("system", "messages", "tools")]
    chars = sum(len(s) for part in parts for s in _strings(part))
    return max(1, chars // _CHARS_PER_TOKEN + _binary_tokens(parts))


def _unsourced_block(value: Any) -> str | None:
    """The type of the first image/document block with a url or file source (count_tokens refuses them)."""
    if isinstance(value, Mapping):
        source = value.get("source")
        kind = source.get("type") if isinstance(source, Mapping) else None
        if value.get("type") in ("image", "document") and kind in ("url", "file"):
            return f"{value['type']} source type {kind!r}"
        for item in value.values():
            found = _unsourced_block(item)
            if found:
                return found
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        for item in value:
            found = _unsourced_block(item)
            if found:
                return found
    return None


def _text_blocks(content: str | Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for item in content:
        blocks.append({"type": "text", "text": item} if isinstance(item, str) else dict(item))
    return blocks


def build_message(
    request: Mapping[str, Any],
    content: str | Sequence[str | Mapping[str, Any]] = "OK",
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    stop_reason: str | None = None,
    model: str | None = None,
    cache_creation_1h_input_tokens: int = 0,
) -> dict[str, Any]:
    """A Messages API response body answering `request` (see the module notes on usage and max_tokens)."""
    blocks = _text_blocks(content)
    max_tokens = request.get("max_tokens")
    if output_tokens is None:
        out_chars = sum(len(s) for s in _strings(blocks))
        output_tokens = max(1, -(-out_chars // _CHARS_PER_TOKEN))
        if isinstance(max_tokens, int) and output_tokens > max_tokens:
            output_tokens = max_tokens
            budget = max_tokens * _CHARS_PER_TOKEN
            clipped: list[dict[str, Any]] = []
            for block in blocks:
                if block.get("type") == "text":
                    if budget <= 0:
                        break
                    block = {**block, "text": block["text"][:budget]}
                    budget -= len(block["text"])
                clipped.append(block)
            blocks = clipped
            stop_reason = stop_reason or "max_tokens"
    if input_tokens is None:
        cached = cache_creation_input_tokens + cache_creation_1h_input_tokens + cache_read_input_tokens
        input_tokens = max(1, estimate_request_tokens(request) - cached)
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": "msg_fake" + secrets.token_hex(10),
        "type": "message",
        "role": "assistant",
        "model": model or request.get("model", "unknown-model"),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens + cache_creation_1h_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": cache_creation_1h_input_tokens,
            },
            "service_tier": "standard",
        },
    }


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error shape."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


# ---- behaviours -------------------------------------------------------------------------------


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


# ---- the Models API catalogue ---------------------------------------------------------------


def model_entry(
    model_id: str,
    display_name: str = "",
    *,
    created_at: str = "2026-01-01T00:00:00Z",
    lifecycle: str = "active",
    deprecated_at: str | None = None,
    retires_at: str | None = None,
) -> dict[str, Any]:
    """One Models API object (the fields the SDK's ``ModelInfo`` reads)."""
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name or model_id,
        "created_at": created_at,
        "lifecycle": lifecycle,
        "deprecated_at": deprecated_at,
        "retires_at": retires_at,
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


# Newest first, as the API lists them.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_entry("claude-opus-5-5", "Claude Opus 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry("claude-sonnet-5-5", "Claude Sonnet 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry("claude-haiku-5-5", "Claude Haiku 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry(
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        created_at="2025-09-29T00:00:00Z",
        lifecycle="deprecated",
        deprecated_at="2026-09-15T00:00:00Z",
        retires_at="2026-11-30T00:00:00Z",
    ),
    model_entry(
        "claude-3-opus-20240229",
        "Claude Opus 3",
        created_at="2024-02-29T00:00:00Z",
        lifecycle="retired",
        deprecated_at="2025-06-30T00:00:00Z",
        retires_at="2026-01-05T00:00:00Z",
    ),
    model_entry(
        "claude-2.1",
        "Claude 2.1",
        created_at="2023-11-21T00:00:00Z",
        lifecycle="retired",
        deprecated_at="2025-01-21T00:00:00Z",
        retires_at="2025-07-21T00:00:00Z",
    ),
)
_DEFAULT_LIST_STATES = ("active", "deprecated")


def catalogue_serving(*model_ids: str) -> list[dict[str, Any]]:
    """``DEFAULT_MODELS`` plus each of ``model_ids`` it lacks, as an active model (listed first)."""
    known = {m["id"] for m in DEFAULT_MODELS}
    return [model_entry(m) for m in dict.fromkeys(model_ids) if m not in known] + [dict(m) for m in DEFAULT_MODELS]


def _models_page(catalogue: Sequence[Mapping[str, Any]], query: Mapping[str, list[str]]) -> Reply:
    """GET /v1/models: filter by lifecycle, then one page around the cursor."""
    raw_limit = (query.get("limit") or ["20"])[-1]
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        return Reply(400, error_body("invalid_request_error", "limit: Input should be between 1 and 1000"))
    states = query.get("lifecycle[]") or query.get("lifecycle") or list(_DEFAULT_LIST_STATES)
    models = [m for m in catalogue if m.get("lifecycle", "active") in states]
    ids = [m["id"] for m in models]
    after, before = (query.get("after_id") or [None])[-1], (query.get("before_id") or [None])[-1]
    if before is not None:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        page, has_more = models[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after in ids else 0
        page, has_more = models[start : start + limit], start + limit < len(models)
    return Reply(
        200,
        {
            "data": [dict(m) for m in page],
            "has_more": has_more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        },
    )


# ---- server -----------------------------------------------------------------------------------


@dataclass
class _State:
    queue: deque[Behaviour] = field(default_factory=deque)
    count_queue: deque[Behaviour] = field(default_factory=deque)
    known_models: frozenset[str] | None = None
    api_keys: frozenset[str] | None = None  # None: any key is accepted
    default: Behaviour = field(default_factory=ok)
    requests: list[RecordedRequest] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=lambda: [dict(m) for m in DEFAULT_MODELS])
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(LoopbackHandler):
    server_version = "FakeAnthropic/1.0"
    state: _State

    def do_GET(self) -> None:
        self._record(None)
        url = urlsplit(self.path)
        if url.path == "/v1/models" or url.path.startswith("/v1/models/"):
            problem = self._validate_headers()
            if problem is not None:
                self._send(problem)
                return
            with self.state.lock:
                catalogue = [dict(m) for m in self.state.models]
            if url.path == "/v1/models":
                self._send(_models_page(catalogue, parse_qs(url.query)))
                return
            wanted = url.path[len("/v1/models/") :]
            found = next((m for m in catalogue if m["id"] == wanted), None)
            if found is None:
                self._send(Reply(404, error_body("not_found_error", f"model: {wanted}")))
            else:
                self._send(Reply(200, found))
            return
        self._send(Reply(404, error_body("not_found_error", f"Not found: {self.path}")))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        path = self.path.split("?", 1)[0]
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._send(Reply(404, error_body("not_found_error", f"Not found: {path}")))
            return
        problem = self._validate(body)
        if problem is not None:
            self._send(problem)
            return
        known = self.state.known_models
        if known is not None and body["model"] not in known:
            self._send(Reply(404, error_body("not_found_error", f"model: {body['model']}")))
            return
        if path == "/v1/messages/count_tokens":
            self._count_tokens(body)
            return
        with self.state.lock:
            retired = {m["id"] for m in self.state.models if m.get("lifecycle") == "retired"}
        if body.get("model") in retired:  # the API refuses a retired model before doing anything
            self._send(Reply(404, error_body("not_found_error", f"model: {body.get('model')}")))
            return
        with self.state.lock:
            behaviour = self.state.queue.popleft() if self.state.queue else self.state.default
        try:
            reply = _normalise(behaviour(body))
        except Exception as exc:  # a broken test behaviour must show, not hang the client
            self.state.handler_errors.append(repr(exc))
            reply = Reply(500, error_body("api_error", f"fake behaviour raised {exc!r}"))
        if reply.delay and self.state.stopping.wait(reply.delay):
            self.close_connection = True
            return
        if body.get("stream") and reply.status == 200:
            self._send_stream(reply)
        else:
            self._send(reply)

    def _count_tokens(self, body: dict[str, Any]) -> None:
        with self.state.lock:
            behaviour = self.state.count_queue.popleft() if self.state.count_queue else None
        if behaviour is not None:
            reply = _normalise(behaviour(body))
            if reply.delay and self.state.stopping.wait(reply.delay):
                self.close_connection = True
                return
            self._send(reply)
            return
        unsourced = _unsourced_block(body.get("messages"))
        if unsourced:
            message = f"messages: {unsourced} is not supported by token counting; send it as base64"
            self._send(Reply(400, error_body("invalid_request_error", message)))
            return
        self._send(Reply(200, {"input_tokens": estimate_request_tokens(body)}))

    def _validate_headers(self) -> Reply | None:
        if not self.headers.get("x-api-key") and not self.headers.get("authorization"):
            return Reply(401, error_body("authentication_error", "x-api-key header is required"))
        keys = self.state.api_keys
        if keys is not None:
            given = self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
            if given not in keys:
                return Reply(401, error_body("authentication_error", "invalid x-api-key"))
        if not self.headers.get("anthropic-version"):
            return Reply(400, error_body("invalid_request_error", "anthropic-version: header is required"))
        return None

    def _validate(self, body: Any) -> Reply | None:
        problem = self._validate_headers()
        if problem is not None:
            return problem
        if not isinstance(body, dict):
            return Reply(400, error_body("invalid_request_error", "request body must be a JSON object"))
        required = (
            ("model", "messages")
            if self.path.startswith("/v1/messages/count_tokens")
            else ("model", "max_tokens", "messages")
        )
        for name in required:
            if name not in body:
                return Reply(400, error_body("invalid_request_error", f"{name}: Field required"))
        if not isinstance(body["messages"], list):
            return Reply(400, error_body("invalid_request_error", "messages: Input should be a valid list"))
        return None

    def _record(self, body: Any) -> None:
        headers = {k.lower(): (REDACTED if _is_secret_header(k) else v) for k, v in self.headers.items()}
        with self.state.lock:
            self.state.requests.append(RecordedRequest(self.command, self.path, headers, body))

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        declared = len(data)
        if reply.cut is not None:
            data = data[: int(len(data) * reply.cut)]
            declared = declared if reply.cut_declares_full_length else len(data)
            self.close_connection = True
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(declared))
            self.send_header("request-id", "req_fake" + secrets.token_hex(8))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired first); nothing left to tell it.
            self.close_connection = True

    def _send_stream(self, reply: Reply) -> None:
        message = reply.body
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
        ]
        for index, block in enumerate(message["content"]):
            if block.get("type") == "text":
                empty = {**block, "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                empty, delta = block, None
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": empty},
                )
            )
            if delta is not None:
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for name, payload in events:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class FakeAnthropicServer(LoopbackFake):
    """The fake Messages API. start()/stop(), or use as a context manager; ``url`` is the base URL for
    anthropic.Anthropic(base_url=...) or ANTHROPIC_BASE_URL."""

    handler = _Handler
    thread_name = "fake-anthropic"

    def __init__(
        self,
        default: Behaviour | None = None,
        models: Iterable[Mapping[str, Any]] | None = None,
        *,
        known_models: Iterable[str] | None = None,
        api_keys: Iterable[str] | None = None,
    ) -> None:
        super().__init__(_State())
        if api_keys is not None:
            self._state.api_keys = frozenset(api_keys)
        if default is not None:
            self._state.default = default
        if models is not None:
            self._state.models = [dict(m) for m in models]
        if known_models is not None:
            self._state.known_models = frozenset(known_models)

    # lifecycle

    def _before_start(self) -> None:
        self._state.stopping.clear()

    def _before_stop(self) -> None:
        self._state.stopping.set()  # wakes slow() sleepers

    # script

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Behaviours for the next /v1/messages requests, one per request, in order."""
        with self._state.lock:
            self._state.queue.extend(behaviours)

    def enqueue_count(self, *behaviours: Behaviour) -> None:
        """Behaviours for the next /v1/messages/count_tokens requests (then the count again)."""
        with self._state.lock:
            self._state.count_queue.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """What /v1/messages answers once the queue is empty (initially ok())."""
        with self._state.lock:
            self._state.default = behaviour

    def set_models(self, models: Iterable[Mapping[str, Any]]) -> None:
        """The Models API catalogue, newest first (``model_entry`` builds one entry)."""
        with self._state.lock:
            self._state.models = [dict(m) for m in models]

    @property
    def pending(self) -> int:
        """Behaviours still queued."""
        with self._state.lock:
            return len(self._state.queue)

    # record

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The POST /v1/messages requests only."""
        return [r for r in self.requests if r.method == "POST" and r.path.split("?", 1)[0] == "/v1/messages"]

    @property
    def count_requests(self) -> list[RecordedRequest]:
        """The POST /v1/messages/count_tokens requests only."""
        path = "/v1/messages/count_tokens"
        return [r for r in self.requests if r.method == "POST" and r.path.split("?", 1)[0] == path]

    @property
    def handler_errors(self) -> list[str]:
        """Exceptions raised by handler() behaviours (answered as 500 api_error)."""
        with self._state.lock:
            return list(self._state.handler_errors)

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours; the default becomes ok() again."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.queue.clear()
            self._state.count_queue.clear()
            self._state.handler_errors.clear()
            self._state.default = ok()
