"""The input tokens a call is held for: THE estimator, or the API's exact count when it matters.

Owns when the budgeted client asks the free ``POST /v1/messages/count_tokens`` for the exact
input (the request holds anything but text: images, documents, tool use or results; or the
estimate is within 20% of the workflow's per-task hard limit) and what it holds when counting
fails: the text estimate plus a pessimistic size-based figure for each non-text block, flagged
with a warning so the result shows the hold was a guess.

It must not reserve, route or call ``messages.create``; the SDK client is passed in.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.core.tokens import estimate_tokens

log = logging.getLogger("acme_ci_budget.client")

# Count exactly when the estimated task (input + max_tokens) reaches this share of the hard limit:
# a 20% error in the estimate could then cross it.
NEAR_LIMIT_SHARE = 0.8
# count_tokens is a small request; it must not eat the call's deadline.
COUNT_TIMEOUT_SECONDS = 20.0
# Fallbacks when the count fails. An image costs about width x height / 750 tokens and the API
# scales large images down to about 1,600 tokens; a PDF page costs 1,500-3,000 text tokens plus
# its page image, which is about 1 token per 70 bytes of a typical PDF: 16 bytes a token errs
# high, which is the safe side for a hold.
IMAGE_FALLBACK_TOKENS = 1_600
DOCUMENT_BYTES_PER_TOKEN = 16


@dataclass(frozen=True)
class InputCount:
    """The input tokens to hold, how they were found, and a warning when the count failed."""

    tokens: int
    counted: bool
    warning: str = ""


def _blocks(content: Any) -> Iterable[Any]:
    # exact-type checks first (str, None, list: nearly every call), the ABC isinstance check only after
    if content.__class__ is str or content is None:
        return ()
    if content.__class__ is list:
        return content
    if isinstance(content, str):
        return ()
    return content if isinstance(content, Sequence) else ()


def _kind(block: Any) -> str | None:
    kind = block.get("type") if block.__class__ is dict or isinstance(block, Mapping) else getattr(block, "type", None)
    return kind if isinstance(kind, str) else None


def non_text_blocks(messages: Sequence[Mapping[str, Any]], system: Any = "") -> list[Any]:
    """Every content block that is not plain text (images, documents, tool use and results, ...)."""
    found = [block for block in _blocks(system) if _kind(block) not in (None, "text")]
    for message in messages:
        found.extend(block for block in _blocks(message.get("content")) if _kind(block) not in (None, "text"))
    return found


def has_non_text(messages: Sequence[Mapping[str, Any]], system: Any = "") -> bool:
    """``bool(non_text_blocks(messages, system))``, stopping at the first one and building no list (every call asks)."""
    for block in _blocks(system):
        if _kind(block) not in (None, "text"):
            return True
    for message in messages:
        for block in _blocks(message.get("content")):
            if _kind(block) not in (None, "text"):
                return True
    return False


def needs_exact_count(
    messages: Sequence[Mapping[str, Any]], system: Any, estimate: int, max_tokens: int, hard_limit: int | None
) -> str:
    """Why the estimate is not good enough for this request ('' when it is)."""
    if has_non_text(messages, system):
        return "non-text content"
    if hard_limit and estimate + max_tokens >= NEAR_LIMIT_SHARE * hard_limit:
        return "near the per-task limit"
    return ""


def _decoded_size(data: Any) -> int:
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4


def fallback_tokens(block: Any) -> int:
    """A pessimistic guess for one non-text block, used only when count_tokens failed."""
    if not isinstance(block, Mapping):
        return 0
    kind = block.get("type")
    source = block.get("source") if isinstance(block.get("source"), Mapping) else {}
    if kind == "image":
        return IMAGE_FALLBACK_TOKENS
    if kind == "document":
        if source.get("type") == "text":
            return estimate_tokens(str(source.get("data", "")))
        if source.get("type") == "base64":
            return -(-_decoded_size(source.get("data")) // DOCUMENT_BYTES_PER_TOKEN)
        return IMAGE_FALLBACK_TOKENS  # a URL or file id: its size is unknown here
    # tool_use input, tool_result content, anything else: its JSON text, as the estimator counts text
    return estimate_tokens(json.dumps(block, default=str))


def count_input(
    sdk: Any,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    system: Any,
    estimate: int,
    why: str,
) -> InputCount:
    """The API's exact input count for this request; on any failure the flagged fallback."""
    params: dict[str, Any] = {"model": model, "messages": list(messages)}
    if system:
        params["system"] = system
    try:
        counter = sdk.messages.count_tokens
        counted = counter(**params, timeout=COUNT_TIMEOUT_SECONDS)
        if inspect.isawaitable(counted):  # an async stand-in: it cannot be awaited before the sync reserve
            getattr(counted, "close", lambda: None)()
            raise TypeError("count_tokens is asynchronous")
        tokens = int(counted.input_tokens)
        if tokens < 0:
            raise ValueError("negative input_tokens")
        return InputCount(tokens, counted=True)
    except Exception as exc:  # any failure falls back to the estimate: counting is an aid, not a gate
        status = getattr(exc, "status_code", None)
        what = f"{type(exc).__name__}{f' {status}' if isinstance(status, int) else ''}"
        fallback = estimate + sum(fallback_tokens(b) for b in non_text_blocks(messages, system))
        warning = (
            f"input held at an estimated {fallback:,} tokens ({why}): count_tokens failed ({what}); "
            "the API may bill more than the hold"
        )
        log.warning("%s: %s", model, warning)
        return InputCount(fallback, counted=False, warning=warning)
