"""The shared loopback lifecycle: what every server-backed fake in tests/fakes/ relies on."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from tests.fakes.loopback import LoopbackFake, LoopbackHandler


class _Echo(LoopbackHandler):
    def do_GET(self) -> None:
        body = f"{self.state}:{type(self.fake).__name__}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _EchoFake(LoopbackFake):
    handler = _Echo

    def __init__(self) -> None:
        super().__init__("the-state")
        self.calls: list[str] = []

    def _before_start(self) -> None:
        self.calls.append("before_start")

    def _after_start(self) -> None:
        self.calls.append(f"after_start:{self.port}")

    def _before_stop(self) -> None:
        self.calls.append("before_stop")


class _ComesBack(_EchoFake):
    keep_port = True


def _get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_handlers_see_state_and_fake_and_hooks_run_in_order() -> None:
    fake = _EchoFake()
    with pytest.raises(RuntimeError, match="_EchoFake is not started"):
        _ = fake.url
    with fake:
        assert fake.url == f"http://127.0.0.1:{fake.port}" == fake.origin
        assert _get(fake.port) == "the-state:_EchoFake"
        assert fake.start() is fake  # already started: same server, hooks not run again
        port = fake.port
    assert fake.calls == ["before_start", f"after_start:{port}", "before_stop"]
    assert _refused(port)
    fake.stop()  # stopping twice is harmless
    assert fake.calls[-1] == "before_stop" and len(fake.calls) == 3
    with pytest.raises(RuntimeError):
        _ = fake.port


def test_keep_port_comes_back_on_the_same_port() -> None:
    fake = _ComesBack().start()
    try:
        port = fake.port
        fake.stop()
        assert fake.port == port and _refused(port)  # the url stays, nothing answers there
        fake.start()
        assert fake.port == port and _get(port) == "the-state:_ComesBack"
    finally:
        fake.stop()


def test_stop_does_not_wait_for_a_connection_held_open() -> None:
    fake = _EchoFake().start()
    idle = socket.create_connection(("127.0.0.1", fake.port))  # a keep-alive client that never sends
    try:
        done = threading.Event()
        threading.Thread(target=lambda: (fake.stop(), done.set()), daemon=True).start()
        assert done.wait(3)
    finally:
        idle.close()
