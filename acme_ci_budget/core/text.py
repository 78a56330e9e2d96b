"""The text of a Messages API message: a request's ``content`` or a reply's text blocks.

Owns the one way the project reads text out of message content, for requests (a string, or a list of
blocks as dicts or SDK objects) and for replies (``message.content``, joined as the SDK's
``get_final_text`` joins them: no separator). Only text blocks count (``type`` "text", or a block with
no type, as a caller's plain dict may be); images, documents, tool use and thinking carry no text here.
It must not estimate tokens, truncate, or import the SDK: it reads attributes and keys only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def block_text(block: Any) -> str:
    """The text of one content block ("" for a block that is not a text block)."""
    if isinstance(block, Mapping):
        kind, text = block.get("type"), block.get("text")
    else:
        kind, text = getattr(block, "type", None), getattr(block, "text", None)
    return text if kind in (None, "text") and isinstance(text, str) else ""


def content_text(content: Any, sep: str = "\n") -> str:
    """A message's ``content`` as text: a string as it is, else its text blocks' texts joined by ``sep``
    (empty ones skipped, so they add no separator)."""
    if isinstance(content, str):
        return content
    return sep.join(text for text in map(block_text, content or ()) if text)


def reply_text(message: Any) -> str:
    """All text blocks of a Messages reply, concatenated as the SDK's ``get_final_text`` does ("" if none)."""
    return content_text(getattr(message, "content", None), sep="")
