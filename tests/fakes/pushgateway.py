"""A Prometheus Pushgateway on 127.0.0.1, answering as its README documents (current releases).

Owns: ``PUT``/``POST``/``DELETE`` on ``/metrics/job/<JOB>{/<LABEL>/<VALUE>}`` (a value may be
``<LABEL>@base64/<urlsafe base64>``, as for values holding ``/``). ``PUT`` replaces the whole group,
``POST`` only the families of the same name; success is ``200`` (``DELETE``: ``202``). The body is
the text format 0.0.4 (read with ``prometheus_client.parser``); a body that does not parse, a pushed
family that collides with the gateway's own (``push_time_seconds``, ``push_failure_time_seconds``)
or whose type disagrees with the same family pushed to another group is ``400`` with the explanation
as plain text. Labels of the grouping key overwrite pushed labels of the same name. ``GET /metrics``
serves every group (with ``job`` and the grouping labels, and ``push_time_seconds``). Other methods
are ``405``, other paths ``404``. ``down()`` makes it refuse connections. Must not reach the network.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any
from urllib.parse import unquote

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.loopback import LoopbackFake, LoopbackHandler

OWN = ("push_time_seconds", "push_failure_time_seconds")
Group = tuple[tuple[str, str], ...]


def grouping_key(path: str) -> Group | None:
    parts = [unquote(p) for p in path.split("?")[0].strip("/").split("/")]
    if len(parts) < 3 or parts[:2] != ["metrics", "job"] or len(parts) % 2 == 0:
        return None
    pairs = [("job", parts[2]), *zip(parts[3::2], parts[4::2], strict=True)]
    key = []
    for name, value in pairs:
        if name.endswith("@base64"):
            name, value = name[: -len("@base64")], base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        if not value and name == "job":
            return None
        key.append((name, value))
    return tuple(key)


class _Handler(LoopbackHandler):
    server_version = "FakePushgateway/1.0"
    fake: FakePushgateway

    def _body(self) -> str:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")

    def do_PUT(self) -> None:
        self._push(replace_all=True)

    def do_POST(self) -> None:
        self._push(replace_all=False)

    def do_DELETE(self) -> None:
        key = grouping_key(self.path)
        self._body()
        if key is None:
            return self._send(404, "404 page not found\n")
        with self.fake.lock:
            self.fake.groups.pop(key, None)
        self._send(202, "")

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            return self._send(404, "404 page not found\n")
        self._send(200, self.fake.exposition(), "text/plain; version=0.0.4; charset=utf-8")

    def do_PATCH(self) -> None:
        self._send(405, "Method Not Allowed\n")

    def _push(self, replace_all: bool) -> None:
        key = grouping_key(self.path)
        text = self._body()
        if key is None:
            return self._send(404, "404 page not found\n")
        try:
            families = {f.name: f for f in text_string_to_metric_families(text)}
        except Exception as exc:
            return self._send(400, f"text format parsing error in line 1: {exc}\n")
        fake = self.fake
        with fake.lock:
            for name, family in families.items():
                if name in OWN:
                    return self._send(400, f"pushed metrics are invalid or inconsistent with existing metrics: "
                                           f"collected metric {name!r} collides with the Pushgateway's own\n")
                for other_key, other in fake.groups.items():
                    known = other.get(name)
                    if other_key != key and known is not None and known.type != family.type:
                        return self._send(400, f"pushed metrics are invalid or inconsistent with existing metrics: "
                                               f"{name} has type {family.type}, already pushed as {known.type}\n")
            for family in families.values():
                for sample in family.samples:
                    sample.labels.update(dict(key))
            group = {} if replace_all else dict(fake.groups.get(key, {}))
            group.update(families)
            fake.groups[key] = group
            fake.push_times[key] = time.time()
            fake.pushes.append((self.command, key, text))
            fake.authorizations.append(self.headers.get("Authorization"))
        self._send(200, "")

    def _send(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakePushgateway(LoopbackFake):
    """``url`` is the gateway's base URL; ``groups`` maps a grouping key to its families. After
    ``down()`` the url stays the same and refuses connections; start() brings it back on that port."""

    handler = _Handler
    thread_name = "fake-pushgateway"
    keep_port = True

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[Group, dict[str, Any]] = {}
        self.push_times: dict[Group, float] = {}
        self.pushes: list[tuple[str, Group, str]] = []
        self.authorizations: list[str | None] = []  # each accepted push's Authorization header
        self.lock = threading.Lock()

    def exposition(self) -> str:
        lines = []
        with self.lock:
            for key, families in self.groups.items():
                for family in families.values():
                    for s in family.samples:
                        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                        lines.append(f"{s.name}{{{labels}}} {s.value!r}")
                labels = ",".join(f'{k}="{v}"' for k, v in key)
                lines.append(f"push_time_seconds{{{labels}}} {self.push_times[key]!r}")
        return "\n".join(lines) + "\n"

    def down(self) -> None:
        """Stop listening (the port then refuses connections)."""
        self.stop()
