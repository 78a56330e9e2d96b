"""The one loopback HTTP server lifecycle every server-backed fake in tests/fakes/ shares.

Owns: binding a ThreadingHTTPServer on 127.0.0.1 (a free port, or the port it had before for a fake
that goes down and comes back), serving it from a daemon thread, start()/stop() (both idempotent) and
the context manager, the ``port`` / ``origin`` / ``url`` properties, and a base request handler
(HTTP/1.1 keep-alive, no Nagle delay, no access log) whose ``state`` and ``fake`` read what the fake
handed its server. Subclasses set ``handler`` and adjust the lifecycle through ``_before_start``,
``_after_start`` and ``_before_stop``.

Must not: know any service's routes, bodies or status codes (those stay in each fake), reach the
network (it only ever binds 127.0.0.1), or outlive a test: handler threads are daemons and stop()
never waits for a request still being answered.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

HOST = "127.0.0.1"


class LoopbackHandler(BaseHTTPRequestHandler):
    """Base handler: ``self.state`` is the state the fake was built with, ``self.fake`` the fake itself."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms a request.
    disable_nagle_algorithm = True
    # An idle keep-alive connection ends its thread after this long.
    timeout = 30

    @property
    def state(self) -> Any:
        return self.server.state  # type: ignore[attr-defined]

    @property
    def fake(self) -> Any:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for a handler that is still sleeping (a slow reply, a held keep-alive).
    block_on_close = False
    # A fake that comes back on its old port must not wait out TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], fake: LoopbackFake, state: Any) -> None:
        self.fake = fake
        self.state = state
        super().__init__((HOST, port), handler)


class LoopbackFake:
    """A fake service on 127.0.0.1: start()/stop(), or use it as a context manager."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "fake-loopback"
    # True: start() after stop() binds the same port again, so a client configured with the old url
    # sees the service come back (and, while stopped, gets connection refused there).
    keep_port: ClassVar[bool] = False

    def __init__(self, state: Any = None) -> None:
        self._state = state
        self._server: _LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # the last port bound; 0 until the first start()

    # ---- hooks (no-ops here) ------------------------------------------------------------------

    def _before_start(self) -> None:
        """Runs before the port is bound."""

    def _after_start(self) -> None:
        """Runs once the port is bound (``port`` and ``url`` work), before the first request is served."""

    def _before_stop(self) -> None:
        """Runs before the server shuts down: wake anything a handler is waiting on."""

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._before_start()
        self._server = _LoopbackServer(self._port if self.keep_port else 0, self.handler, self, self._state)
        self._port = self._server.server_address[1]
        self._after_start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._before_stop()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port; with ``keep_port`` also the port it will come back on while stopped."""
        if self._server is None and not (self.keep_port and self._port):
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``, with no path."""
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a client is pointed at (the origin, unless the service lives under a prefix)."""
        return self.origin
