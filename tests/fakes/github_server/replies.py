"""The fake GitHub's raw replies and its error: status, bytes, content type, headers; GitHub's error body.

Owns: ``_HttpError`` (GitHub's ``{"message", "documentation_url", "status", ...}`` body), ``_Raw`` and
``_json_raw``. Must not: choose which error a route raises (the route modules do, next to the
bodies they copy from GitHub).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOCS_URL = "https://docs.github.com/rest"


class _HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS_URL, "status": str(status), **extra}


@dataclass(frozen=True)
class _Raw:
    status: int
    data: bytes
    content_type: str
    headers: Mapping[str, str]


def _json_raw(status: int, payload: Any, link: str | None = None) -> _Raw:
    data = b"" if status == 204 else json.dumps(payload).encode()
    return _Raw(status, data, "application/json; charset=utf-8", {"link": link} if link else {})
