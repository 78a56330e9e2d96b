"""One model call's time budget: its deadline, each attempt's timeout, and when to retry.

Owns the retry decision the budgeted client applies around ``messages.create`` (the SDK's own
retries are turned off, because the SDK would wait whatever ``retry-after`` says, however long,
and the hold of the call expires at a fixed time). The policy mirrors the SDK's
(``anthropic/_base_client.py``: ``_should_retry``, ``_calculate_retry_timeout``): an
``x-should-retry`` header wins; otherwise 408, 409, 429 and 5xx (529 included) and connection
errors are retried; the wait is ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)
when the API sends one, else 0.5 s doubling up to 8 s with the SDK's jitter. Unlike the SDK, no
attempt and no wait may pass the deadline, and the retries counted are the ones that happened.

Whether a failure is one the SDK would retry is ``errors.is_retryable`` (the one module that reads
the SDK's exception classes). It must not touch the ledger or import ``anthropic`` at module level
(the client imports this module on every start).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from acme_ci_budget.client.errors import is_retryable, response_headers

INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
# An attempt with less time than this left cannot get an answer; give up instead of sending it.
MIN_ATTEMPT_SECONDS = 0.05
RETRY_COUNT_HEADER = "x-stainless-retry-count"


def retry_after_seconds(headers: Mapping[str, str] | None, now: Callable[[], float] = time.time) -> float | None:
    """The wait the API asks for, in seconds (``retry-after-ms``, then ``retry-after``), or None."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    return None if parsed is None else float(email.utils.mktime_tz(parsed) - now())


class Attempts:
    """The attempts of one call: ``timeout()`` for the next one, ``wait_after(exc)`` to retry or stop.

    ``deadline`` is in seconds from construction (the hold was just taken). ``retries`` counts the
    retries actually made; ``stopped`` says why the last failure was not retried (empty if it was
    not retryable at all, or the retries ran out).
    """

    def __init__(
        self,
        deadline: float,
        max_retries: int,
        attempt_timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.deadline_seconds = deadline
        self.ends_at = clock() + deadline
        self.max_retries = max_retries
        self.attempt_timeout = attempt_timeout
        self.retries = 0
        self.stopped = ""

    def remaining(self) -> float:
        return self.ends_at - self.clock()

    def timeout(self) -> float:
        """This attempt's timeout: its own, cut to what is left of the deadline."""
        return max(MIN_ATTEMPT_SECONDS, min(self.attempt_timeout, self.remaining()))

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``messages.create``: the timeout, and the SDK's retry-count header."""
        return {"timeout": self.timeout(), "extra_headers": {RETRY_COUNT_HEADER: str(self.retries)}}

    def wait_after(self, exc: BaseException) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (``stopped`` says why)."""
        if not is_retryable(exc):
            return None
        if self.retries >= self.max_retries:
            return None
        asked = retry_after_seconds(response_headers(exc))
        if asked is not None and asked > 0:
            wait = asked
        else:
            # The SDK's backoff: 0.5 s doubling per retry, at most 8 s, minus up to 25% jitter.
            wait = min(INITIAL_BACKOFF_SECONDS * 2.0**self.retries, MAX_BACKOFF_SECONDS) * (1 - 0.25 * random.random())
        left = self.remaining()
        if left <= MIN_ATTEMPT_SECONDS:
            return None  # the deadline is spent (the error itself says so)
        if wait + MIN_ATTEMPT_SECONDS >= left:
            why = f"the API asked to retry after {asked:g} s" if asked and asked > 0 else f"a {wait:.1f} s backoff"
            self.stopped = f"{why}, past the call's deadline ({max(left, 0):.1f} s of {self.deadline_seconds:g} s left)"
            return None
        self.retries += 1
        return wait
