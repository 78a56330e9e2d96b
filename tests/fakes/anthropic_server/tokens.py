"""Plausible token counts for a fake Messages API request (not the product's estimator).

Owns: the text and base64 content a request is counted from, and which blocks count_tokens refuses.
Must not: build replies or know about the server.

Fidelity notes:
- non-text input is counted by size, as the API bills it: a base64 document at about 70 bytes a
  token (a 4 MB PDF is about 60,000 tokens), a base64 image at about 750 bytes a token up to
  1,600 (the API scales larger images down); base64 data is never counted as text.
- count_tokens refuses image/document blocks with a url or file source (see http_handler.py), found here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Rough characters per token, only to make usage numbers plausible; not the product's estimator.
_CHARS_PER_TOKEN = 4


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
