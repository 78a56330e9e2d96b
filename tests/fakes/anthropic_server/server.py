"""The fake Messages API's public face: ``FakeAnthropicServer`` (lifecycle, script, record).

Owns: starting and stopping the loopback server (tests/fakes/loopback.py), queueing behaviours, the
Models catalogue it serves, and reading back what it recorded. Must not: answer requests itself
(http_handler.py) or reach the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.fakes.anthropic_server.behaviours import ok
from tests.fakes.anthropic_server.http_handler import _Handler, _State
from tests.fakes.anthropic_server.wire import Behaviour, RecordedRequest
from tests.fakes.loopback import LoopbackFake


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
