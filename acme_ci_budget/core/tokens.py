"""Token estimation: the one estimator the router, the ledger and the diff clipper share.

Owns a fast, deterministic, pessimistic-leaning estimate of how many tokens a
text costs before the API tells us the real count. It must not call the
network (the API's count_tokens endpoint costs a round trip per call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Claude's tokenizer averages roughly 3.5-4 characters per token on English and
# code; 3.5 errs towards over-estimating, which is the safe side for a budget hold.
CHARS_PER_TOKEN = 3.5
# Each message carries role and framing tokens the text alone does not show.
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """Estimated tokens for one piece of text (0 for empty text)."""
    if not text:
        return 0
    return int(-(-len(text) // CHARS_PER_TOKEN))


def _content_text(content: Any) -> str:
    if content.__class__ is str:  # the usual case first: an ABC isinstance check costs ~10x more
        return content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, Iterable):
        for block in content:
            if block.__class__ is dict or isinstance(block, Mapping):
                parts.append(str(block.get("text", "")))
            else:
                parts.append(str(getattr(block, "text", "")))
    return "\n".join(parts)


def estimate_messages_tokens(messages: Iterable[Mapping[str, Any]], system: Any = "") -> int:
    """Estimated input tokens for a Messages API request (system + every message)."""
    total = estimate_tokens(_content_text(system)) if system else 0
    for message in messages:
        content = message.get("content", "")
        # estimate_tokens inlined for a string content: this runs for every message of every call
        if content.__class__ is str:
            total += MESSAGE_OVERHEAD_TOKENS + (int(-(-len(content) // CHARS_PER_TOKEN)) if content else 0)
        else:
            total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(_content_text(content))
    return total
