"""The Messages API response body the fake answers with: content blocks, stop_reason and usage.

Owns: ``build_message``. Must not: choose a status or headers (behaviours.py) or send anything.

Fidelity notes (what the fake mimics, and where it stops):
- usage.input_tokens excludes cached tokens, as in the real API: when the behaviour gives cache
  counts but no input_tokens, input_tokens = estimated request tokens - cache tokens (min 1).
- usage.cache_creation_input_tokens is every cache write and usage.cache_creation splits it by TTL
  (ephemeral_5m_input_tokens / ephemeral_1h_input_tokens), as the real API reports it; behaviours
  give the two parts as cache_creation_input_tokens (5-minute) and cache_creation_1h_input_tokens.
- output is cut to max_tokens (about 4 characters a token) with stop_reason "max_tokens", unless
  the behaviour fixes output_tokens or stop_reason itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.anthropic_server.tokens import _CHARS_PER_TOKEN, _strings, estimate_request_tokens


def _text_blocks(content: str | Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for item in content:
        blocks.append({"type": "text", "text": item} if isinstance(item, str) else dict(item))
    return blocks


def build_message(
    request: Mapping[str, Any],
    content: str | Sequence[str | Mapping[str, Any]] = "OK",
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    stop_reason: str | None = None,
    model: str | None = None,
    cache_creation_1h_input_tokens: int = 0,
) -> dict[str, Any]:
    """A Messages API response body answering `request` (see the module notes on usage and max_tokens)."""
    blocks = _text_blocks(content)
    max_tokens = request.get("max_tokens")
    if output_tokens is None:
        out_chars = sum(len(s) for s in _strings(blocks))
        output_tokens = max(1, -(-out_chars // _CHARS_PER_TOKEN))
        if isinstance(max_tokens, int) and output_tokens > max_tokens:
            output_tokens = max_tokens
            budget = max_tokens * _CHARS_PER_TOKEN
            clipped: list[dict[str, Any]] = []
            for block in blocks:
                if block.get("type") == "text":
                    if budget <= 0:
                        break
                    block = {**block, "text": block["text"][:budget]}
                    budget -= len(block["text"])
                clipped.append(block)
            blocks = clipped
            stop_reason = stop_reason or "max_tokens"
    if input_tokens is None:
        cached = cache_creation_input_tokens + cache_creation_1h_input_tokens + cache_read_input_tokens
        input_tokens = max(1, estimate_request_tokens(request) - cached)
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
    return {
        "id": "msg_fake" + secrets.token_hex(10),
        "type": "message",
        "role": "assistant",
        "model": model or request.get("model", "unknown-model"),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens + cache_creation_1h_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": cache_creation_1h_input_tokens,
            },
            "service_tier": "standard",
        },
    }
