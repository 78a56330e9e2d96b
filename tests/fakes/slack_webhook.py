"""A Slack incoming webhook behind ``responses``, answering as Slack documents it.

Owns: the answers of ``POST https://hooks.slack.com/services/...`` for tests that drive the real
``requests`` stack. Success is HTTP 200 with the text body ``ok``. Errors are short text codes
(Slack's "Handling errors" for incoming webhooks, changelog 2016-05-17):

- 400 ``invalid_payload`` (body not JSON), ``missing_text_or_fallback_or_attachments`` (no text,
  blocks or attachments), ``invalid_blocks`` (Block Kit limits broken: at most 50 blocks, a header's
  plain_text at most 150 characters, a section's text at most 3,000, at most 10 fields of at most
  2,000 each), ``user_not_found``;
- 403 ``invalid_token``, ``action_prohibited``, ``posting_to_general_channel_denied``;
- 404 ``no_service``, ``channel_not_found``; 410 ``channel_is_archived``;
- 429 with a ``Retry-After`` header (seconds) when rate limited; 500 ``rollup_error``.

Failures are scripted with ``fail_next``; anything unscripted is judged on its payload. Must not
reach the network or contain product logic.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import requests
import responses

ERRORS: dict[str, int] = {
    "invalid_payload": 400,
    "missing_text_or_fallback_or_attachments": 400,
    "invalid_blocks": 400,
    "user_not_found": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "posting_to_general_channel_denied": 403,
    "no_service": 404,
    "channel_not_found": 404,
    "channel_is_archived": 410,
    "rollup_error": 500,
}
RATE_LIMITED = "rate_limited"
CONNECTION_ERROR = "connection_error"
_TEXT = {"Content-Type": "text/html"}


class FakeSlackWebhook:
    """One incoming webhook URL on a ``responses.RequestsMock``; ``messages`` holds what Slack accepted."""

    def __init__(self, mock: responses.RequestsMock, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.requests = 0
        self._script: deque[tuple[str, float | None]] = deque()
        mock.add_callback(responses.POST, url, callback=self._answer)

    def fail_next(self, error: str, times: int = 1, *, retry_after: float | None = None) -> None:
        """The next ``times`` posts fail with ``error``: a key of ERRORS, RATE_LIMITED (with
        ``retry_after`` seconds, default 1) or CONNECTION_ERROR (no HTTP answer at all)."""
        if error not in ERRORS and error not in (RATE_LIMITED, CONNECTION_ERROR):
            raise ValueError(f"unknown Slack webhook error {error!r}")
        self._script.extend([(error, retry_after)] * times)

    def _answer(self, request: Any) -> Any:
        self.requests += 1
        if self._script:
            error, retry_after = self._script.popleft()
            if error == CONNECTION_ERROR:
                return requests.exceptions.ConnectionError("Connection reset by peer")
            if error == RATE_LIMITED:
                wait = 1 if retry_after is None else retry_after
                return 429, {**_TEXT, "Retry-After": f"{wait:g}"}, RATE_LIMITED
            return ERRORS[error], _TEXT, error
        try:
            message = json.loads(request.body or b"")
        except ValueError:
            return 400, _TEXT, "invalid_payload"
        if not isinstance(message, dict):
            return 400, _TEXT, "invalid_payload"
        if not (message.get("text") or message.get("blocks") or message.get("attachments")):
            return 400, _TEXT, "missing_text_or_fallback_or_attachments"
        if not _blocks_ok(message.get("blocks") or []):
            return 400, _TEXT, "invalid_blocks"
        self.messages.append(message)
        return 200, _TEXT, "ok"


def _blocks_ok(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict):
            return False
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "header" and (block["text"].get("type") != "plain_text" or len(text) > 150):
            return False
        if block.get("type") == "section":
            fields = block.get("fields") or []
            if len(text) > 3000 or len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return False
    return True


__all__ = ["CONNECTION_ERROR", "ERRORS", "RATE_LIMITED", "FakeSlackWebhook"]
