"""Loopback fake of the Anthropic Messages API, for the real `anthropic` SDK in tests.

Owns: what a loopback server (tests/fakes/loopback.py: 127.0.0.1, free port, one thread per
connection) answers to POST /v1/messages and POST /v1/messages/count_tokens: bodies shaped like the real API,
a script of behaviours consumed one per /v1/messages request (ok, 429, 529, 500, 404, slow,
or any callable), and a record of every request with secrets redacted. This package re-exports its
public names, so ``from tests.fakes.anthropic_server import FakeAnthropicServer, ok`` keeps working.

Must not: reach the network, know anything about acme_ci_budget, or keep API keys: the values of
`x-api-key`, `authorization` (this SDK sends "Bearer <key>") and any header named like key/token/secret
are replaced by "<redacted>" before recording.

Usage::

    with FakeAnthropicServer() as server:
        server.enqueue(rate_limited(), ok("hello", cache_read_input_tokens=100))
        client = anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=1)
        message = client.messages.create(model="claude-x", max_tokens=100, messages=[...])
        assert len(server.message_requests) == 2

Modules (one job each; each module's docstring carries the fidelity notes for what it implements):
- wire: Reply, RecordedRequest, Behaviour, the error body shape, which headers are secret.
- tokens: plausible request token counts (text and base64 content by size).
- messages: build_message, the response body with usage and max_tokens cut.
- behaviours: ok, refused, error, rate_limited, spend_limit_reached, overloaded, server_error,
  not_found, slow, truncated, handler.
- models_api: model_entry, DEFAULT_MODELS, catalogue_serving, GET /v1/models pages.
- http_handler: routes, validation, recording, JSON and SSE replies, and the shared state.
- server: FakeAnthropicServer (lifecycle, script, record).
"""

from tests.fakes.anthropic_server.behaviours import (
    error,
    handler,
    not_found,
    ok,
    overloaded,
    rate_limited,
    refused,
    server_error,
    slow,
    spend_limit_reached,
    truncated,
)
from tests.fakes.anthropic_server.messages import build_message
from tests.fakes.anthropic_server.models_api import DEFAULT_MODELS, catalogue_serving, model_entry
from tests.fakes.anthropic_server.server import FakeAnthropicServer
from tests.fakes.anthropic_server.tokens import estimate_request_tokens
from tests.fakes.anthropic_server.wire import REDACTED, Behaviour, RecordedRequest, Reply, error_body

__all__ = [
    "DEFAULT_MODELS",
    "REDACTED",
    "Behaviour",
    "FakeAnthropicServer",
    "RecordedRequest",
    "Reply",
    "build_message",
    "catalogue_serving",
    "error",
    "error_body",
    "estimate_request_tokens",
    "handler",
    "model_entry",
    "not_found",
    "ok",
    "overloaded",
    "rate_limited",
    "refused",
    "server_error",
    "slow",
    "spend_limit_reached",
    "truncated",
]
