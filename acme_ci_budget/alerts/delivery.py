"""Alert delivery over HTTP, and the per-channel claim markers that make a failed delivery retryable.

Owns one webhook POST with the retry policy the receiving services document (PagerDuty Events
API v2: 202 accepted; 400 invalid event, never retried; 429 throttled and 5xx, retried later.
Slack incoming webhooks: 200 ok; 400/403/404/410 with a text code such as ``invalid_payload``,
``invalid_token``, ``no_service`` or ``channel_is_archived``, never retried; 429 with
``Retry-After``; 5xx retried), and the values a channel's claim key holds in Redis: who is
delivering it, whether it was sent, and when a transient failure may be tried again.

A delivery never sleeps longer than ``max_wait`` in one go: a ``Retry-After`` beyond it ends the
attempts at once, so the caller can record "try again after N s" instead of blocking a CLI or a
model call for minutes. It must not know alert conditions or periods (``alerts`` does), and must
never put a webhook URL or routing key in a result, an error or a log line.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

log = logging.getLogger("acme_ci_budget.alerts")

# A claim being delivered by a process that died is taken over after this long.
PENDING_STALE_MS = 10 * 60_000
SENT = "sent"
FAILED = "failed"  # refused for good (a 4xx other than 429): retrying would be refused again
_PENDING = "pending@"
_RETRY = "retry@"

@dataclass(frozen=True)
class Delivery:
    """The outcome of posting to one channel (``error`` is secret-free).

    ``retryable``: the failure is transient (429, 5xx, a network error) and a later try may work;
    ``retry_after``: the seconds the service asked to wait (``Retry-After``), if it said.
    """

    channel: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str = ""
    retryable: bool = False
    retry_after: float | None = None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return max(0.0, (when - base).total_seconds())


def _transient_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def post_json(
    http: Any,
    url: str,
    payload: Mapping[str, Any],
    *,
    channel: str,
    where: str,
    timeout: float,
    max_attempts: int,
    backoff_seconds: float,
    max_wait: float,
    sleep: Callable[[float], None],
    scrub: Callable[[str], str],
) -> Delivery:
    """POST ``payload`` as JSON; retry 429, 5xx and network errors with backoff; never raises.

    ``where`` is how the destination may be named in a log line (never the URL itself). A refusal
    (4xx other than 429) ends at once. A wait longer than ``max_wait`` (a ``Retry-After`` of
    minutes) ends at once too, as a retryable failure carrying that wait.
    """
    import requests

    status: int | None = None
    error = ""
    retry_after: float | None = None
    attempt = 0
    for attempt in range(1, max_attempts + 1):
        wait = backoff_seconds * (2 ** (attempt - 1))
        retry_after = None
        try:
            response = http.post(url, json=payload, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            status = None
            # The exception text carries the URL: name the kind only.
            error = f"timeout after {timeout:g}s" if isinstance(exc, requests.Timeout) else exc.__class__.__name__
        except requests.RequestException as exc:  # a malformed URL, a bad scheme: no retry can fix it
            status, error = None, exc.__class__.__name__
            return _gave_up(channel, where, attempt, status, error, False, None)
        else:
            status = response.status_code
            if 200 <= status < 300:
                return Delivery(channel, True, attempt, status)
            body = scrub(" ".join((response.text or "").split()))[:120]
            error = f"HTTP {status}" + (f" {body}" if body else "")
            if not _transient_status(status):
                return _gave_up(channel, where, attempt, status, error, False, None)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                if retry_after > max_wait:
                    # Sleeping for minutes would hold up a CLI or a model call: say when, and stop.
                    return _gave_up(channel, where, attempt, status, error, True, retry_after)
                wait = retry_after
        log.debug("%s delivery attempt %d of %d failed: %s", channel, attempt, max_attempts, error)
        if attempt < max_attempts:
            sleep(min(wait, max_wait))
    return _gave_up(channel, where, attempt, status, error, True, retry_after)


def _gave_up(
    channel: str, where: str, attempts: int, status: int | None, error: str, retryable: bool, retry_after: float | None
) -> Delivery:
    plural = "attempt" if attempts == 1 else "attempts"
    if not retryable:
        why = " (refused: not retried)"
    elif retry_after is not None:
        why = f" (retry after {retry_after:g}s)"
    else:
        why = ""
    log.warning("%s alert delivery to %s failed after %d %s: %s%s", channel, where, attempts, plural, error, why)
    return Delivery(channel, False, attempts, status, error, retryable, retry_after)


# --- channel claim values --------------------------------------------------------------------------


def pending_value(now_ms: int) -> str:
    """This process is delivering; another may take over once it is stale (the process died)."""
    return f"{_PENDING}{now_ms + PENDING_STALE_MS}@{secrets.token_hex(6)}"


def retry_value(due_ms: int) -> str:
    """A transient failure: the next check at or after ``due_ms`` tries this channel again."""
    return f"{_RETRY}{due_ms}"


def due_ms(value: Any) -> int | None:
    """When a claim value may be taken over (ms since the epoch); None for a final one (sent, failed)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    for prefix in (_PENDING, _RETRY):
        if value.startswith(prefix):
            number = value[len(prefix) :].split("@", 1)[0]
            return int(number) if number.isdigit() else 0  # unreadable: treat as due rather than lose it
    return None


def as_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


__all__ = ["FAILED", "SENT", "Delivery", "due_ms", "pending_value", "post_json", "retry_after_seconds", "retry_value"]
