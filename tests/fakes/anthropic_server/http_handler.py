"""The fake Messages API's request handler and shared state: routes, validation, recording, sending.

Owns: what the loopback server answers to GET /v1/models[/{id}], POST /v1/messages and POST
/v1/messages/count_tokens, the checks that run before a behaviour is consumed, the record of every
request (secrets redacted), and the JSON and Server-Sent Events replies. Must not: reach the network.

Fidelity notes (what the fake mimics, and where it stops):
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
- GET /v1/models/{id} answers any catalogued model (retired ones too) and 404 not_found_error otherwise.
- POST /v1/messages naming a model the catalogue lists as retired answers 404 not_found_error
  ("model: X") without consuming a behaviour; models the catalogue does not list are answered
  as before (tests use made-up names).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.anthropic_server.behaviours import _normalise, ok
from tests.fakes.anthropic_server.models_api import DEFAULT_MODELS, _models_page
from tests.fakes.anthropic_server.tokens import _unsourced_block, estimate_request_tokens
from tests.fakes.anthropic_server.wire import REDACTED, Behaviour, RecordedRequest, Reply, _is_secret_header, error_body
from tests.fakes.loopback import LoopbackHandler


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
