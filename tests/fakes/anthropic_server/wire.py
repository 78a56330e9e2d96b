"""The fake Messages API's wire types: one HTTP answer (Reply), one recorded request, a behaviour, the error body.

Owns: ``Reply`` (status, JSON body, headers, delay, cut), ``RecordedRequest``, the ``Behaviour`` type,
Anthropic's error body shape (``{"type": "error", "error": {"type", "message"}}``) and which request
headers are secret. Must not: decide what to answer (behaviours.py, http_handler.py) or keep an API key: the
values of ``x-api-key``, ``authorization`` (this SDK sends "Bearer <key>") and any header named like
key/token/secret are replaced by "<redacted>" before recording.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization"})


def _is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in ("key", "token", "secret"))


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


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error shape."""
    return {"type": "error", "error": {"type": error_type, "message": message}}
