"""Posting a long mrkdwn text to a Slack incoming webhook, split to fit Slack's limits.

Owns Slack's mrkdwn escaping (``slack_escape``: the one copy the report and the alert message
use), the splitting (section blocks of at most 3,000 characters, cut at blank lines, then lines,
then spaces, never inside a code fence without closing and reopening it; at most ``MAX_BLOCKS``
blocks per message) and the HTTP post with its error handling. The webhook URL is a secret: it
never appears in a message, an exception or a log line. It must not build or render the report;
callers pass the text in.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from acme_ci_budget.core.errors import AcmeError

# The run link Slack messages carry is the one gha.py builds (the report command imports it from here).
from acme_ci_budget.integrations.gha import actions_run_url as actions_run_url

log = logging.getLogger("acme_ci_budget.slack_post")

SECTION_LIMIT = 3000  # Slack: a section block's text is at most 3,000 characters
MAX_BLOCKS = 40  # Slack allows 50 blocks per message; stay well under it
FALLBACK_LIMIT = 150  # the notification text shown where blocks are not
FENCE = "```"


class SlackPostError(AcmeError, RuntimeError):
    """Slack refused or could not be reached; the message never carries the webhook URL."""


def slack_escape(text: Any) -> str:
    """Slack mrkdwn control characters escaped, so a value cannot become a link or a mention.

    Slack mrkdwn has no backslash escapes: only ``&``, ``<`` and ``>`` need (and can) be escaped.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Chunks of at most ``limit`` characters, cut at paragraph, then line, then word boundaries.

    A chunk that would end inside a ``` code block is closed there and the block reopened
    at the top of the next chunk, so each chunk renders on its own.
    """
    room = limit - 2 * (len(FENCE) + 1)  # space to close a fence and reopen it in the next chunk
    if room < 20:
        raise ValueError(f"limit {limit} is too small to split into")
    chunks: list[str] = []
    current = ""
    for paragraph in re.split(r"\n[ \t]*\n", text.strip("\n")):
        for piece in _fit(paragraph, room):
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= room:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    if current.strip():
        chunks.append(current)
    return _balance_fences([c for c in chunks if c.strip()])


def _fit(paragraph: str, room: int) -> list[str]:
    """A paragraph as pieces of at most ``room`` characters, packed line by line."""
    if len(paragraph) <= room:
        return [paragraph]
    pieces, current = [], ""
    for line in paragraph.split("\n"):
        for part in _cut_line(line, room):
            candidate = f"{current}\n{part}" if current else part
            if len(candidate) <= room:
                current = candidate
            else:
                pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _cut_line(line: str, width: int) -> list[str]:
    """A line longer than ``width``, cut at spaces where possible."""
    out = []
    while len(line) > width:
        cut = line.rfind(" ", 0, width)
        if cut < width // 2:
            cut = width
        out.append(line[:cut])
        line = line[cut:].lstrip(" ")
    out.append(line)
    return out


def _balance_fences(chunks: list[str]) -> list[str]:
    out = []
    carry = False
    for chunk in chunks:
        if carry:
            chunk = f"{FENCE}\n{chunk}"
        opened = sum(1 for line in chunk.split("\n") if line.strip().startswith(FENCE)) % 2 == 1
        out.append(f"{chunk}\n{FENCE}" if opened else chunk)
        carry = opened
    return out


def build_messages(text: str, footer: str | None = None) -> list[dict[str, Any]]:
    """Slack message payloads: section blocks of the text, ``footer`` as a context block at the end."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_mrkdwn(text)
    ]
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:SECTION_LIMIT]}]})
    groups = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)] or [[]]
    first_line = text.strip().split("\n", 1)[0] if text.strip() else "acme-ci-budget report"
    messages = []
    for n, group in enumerate(groups, start=1):
        fallback = first_line[:FALLBACK_LIMIT]
        if len(groups) > 1:
            fallback = f"{fallback} (part {n} of {len(groups)})"
        messages.append({"text": fallback, "blocks": group})
    return messages


def post_markdown(
    webhook_url: str,
    text: str,
    footer: str | None = None,
    *,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Post ``text`` (Slack mrkdwn) in as many messages as it needs; returns how many were sent.

    A 429 is retried once after its Retry-After (capped at 30 s); any other failure raises
    ``SlackPostError`` naming the status and Slack's error text, never the URL.
    """
    import requests

    if not webhook_url:
        raise SlackPostError("no Slack webhook URL configured")
    messages = build_messages(text, footer)
    for n, payload in enumerate(messages, start=1):
        for attempt in (1, 2):
            try:
                response = requests.post(webhook_url, json=payload, timeout=timeout)
            except requests.RequestException as exc:
                raise SlackPostError(
                    f"could not reach the Slack webhook ({exc.__class__.__name__}); message {n} of {len(messages)}"
                ) from None
            if response.status_code == 429 and attempt == 1:
                sleep(_retry_after(response.headers.get("Retry-After")))
                continue
            break
        if response.status_code != 200:
            detail = (response.text or "").strip()[:200]
            raise SlackPostError(
                f"Slack webhook answered HTTP {response.status_code}"
                + (f" ({detail})" if detail else "")
                + f" for message {n} of {len(messages)}"
            )
        log.info("posted Slack message %d of %d", n, len(messages))
    return len(messages)


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.0), 30.0)
    except ValueError:
        return 1.0
