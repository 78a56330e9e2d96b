"""The Anthropic Admin API's usage and cost reports: every page of them, read with ``requests``.

Owns the two calls reconcile needs: ``GET /v1/organizations/usage_report/messages`` (token counts
per UTC bucket, grouped and filtered as asked) and ``GET /v1/organizations/cost_report`` (USD per
UTC day as decimal strings in cents), each followed through ``has_more`` / ``next_page`` / ``page``
until the last page, with the admin key in ``x-api-key`` and ``anthropic-version`` on every request.
It translates what can go wrong into one-line ``AdminAPIError`` messages: a 401/403 (the key is
wrong or not an admin key), a 429 or a 5xx / 529 overload (waited out per ``retry-after``, each
wait bounded, a bounded number of times, then given up on), any other status, an unreachable host,
and a page that is not the documented shape.

It must not know the budget, the ledger or what the numbers mean (``budget.reconcile`` compares
them); it never prints, and no message, exception or log line carries the admin key or
credentials in the base URL. ``requests`` is imported only when a call is made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.redact import scrub
from acme_ci_budget.integrations.models_api import DEFAULT_BASE_URL, safe_base_url

ADMIN_KEY_ENV = "ANTHROPIC_ADMIN_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
DAY_BUCKETS_PER_PAGE = 31  # the most 1d buckets one page may hold (both reports)
DEFAULT_TIMEOUT = 30.0
MAX_PAGES = 1000  # a server that keeps saying has_more must not loop us forever
RATE_LIMIT_TRIES = 5  # 429s (and 5xx / 529 overloads) waited out per request before giving up
TRANSIENT = frozenset({429, 500, 502, 503, 504, 529})
MAX_RETRY_WAIT = 60.0  # seconds: the longest single wait a retry-after may ask of us


class AdminAPIError(AcmeError, RuntimeError):
    """The Admin API could not be asked, refused, or answered something unreadable; safe to print."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _utc(moment: datetime) -> str:
    """An aware datetime in the API's RFC 3339 UTC form (``2026-11-01T00:00:00Z``)."""
    if moment.tzinfo is None:
        raise ValueError("the Admin API's times must be aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: treat as unknown and use our own backoff
    return seconds if seconds >= 0 else None


class AdminClient:
    """``usage_report(...)`` and ``cost_report(...)``: every bucket of a period, all pages read.

    ``api_key`` defaults to ``$ANTHROPIC_ADMIN_KEY``, ``base_url`` to ``$ANTHROPIC_BASE_URL`` (as the
    SDK reads it) and then the public API. ``sleep`` is injectable so tests of the 429 path run fast.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retry_wait: float = MAX_RETRY_WAIT,
        rate_limit_tries: int = RATE_LIMIT_TRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(ADMIN_KEY_ENV, "")
        if not key.strip():
            raise AdminAPIError(
                f"no Anthropic admin key: set ${ADMIN_KEY_ENV} to an admin key (sk-ant-admin01-...; "
                "Claude Console > Settings > Admin keys)"
            )
        self._key = key.strip()
        self._base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.where = safe_base_url(self._base)
        self._timeout = timeout
        self._max_wait = max_retry_wait
        self._tries = max(1, rate_limit_tries)
        self._sleep = sleep
        self.requests_made = 0

    # --- the two reports -----------------------------------------------------------------------

    def usage_report(
        self,
        starting_at: datetime,
        ending_at: datetime,
        *,
        group_by: Sequence[str] = ("model",),
        api_key_ids: Sequence[str] = (),
        workspace_ids: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Every 1d bucket of the messages usage report in [starting_at, ending_at), oldest first."""
        params: list[tuple[str, str]] = [("bucket_width", "1d")]
        params += [("group_by[]", g) for g in group_by]
        params += [("api_key_ids[]", k) for k in api_key_ids]
        params += [("workspace_ids[]", w) for w in workspace_ids]
        return list(self._buckets(USAGE_PATH, starting_at, ending_at, params, "usage report"))

    def cost_report(
        self, starting_at: datetime, ending_at: datetime, *, group_by: Sequence[str] = ("description",)
    ) -> list[dict[str, Any]]:
        """Every 1d bucket of the cost report in [starting_at, ending_at), oldest first (amounts in cents)."""
        params: list[tuple[str, str]] = [("bucket_width", "1d")]
        params += [("group_by[]", g) for g in group_by]
        return list(self._buckets(COST_PATH, starting_at, ending_at, params, "cost report"))

    # --- pages -----------------------------------------------------------------------------------

    def _buckets(
        self, path: str, start: datetime, end: datetime, extra: list[tuple[str, str]], what: str
    ) -> Iterator[dict[str, Any]]:
        base = [("starting_at", _utc(start)), ("ending_at", _utc(end)), ("limit", str(DAY_BUCKETS_PER_PAGE))]
        page: str | None = None
        for number in range(1, MAX_PAGES + 1):
            params = base + extra + ([("page", page)] if page else [])
            body = self._get(path, params, what)
            data, has_more, page = _page_parts(body, f"{what} page {number}")
            yield from data
            if not has_more:
                return
            if not page:
                raise AdminAPIError(f"the Admin API's {what} page {number} says has_more but gives no next_page")
        raise AdminAPIError(f"the Admin API's {what} still had more after {MAX_PAGES} pages; giving up")

    def _get(self, path: str, params: list[tuple[str, str]], what: str) -> Any:
        import requests

        headers = {"x-api-key": self._key, "anthropic-version": API_VERSION, "accept": "application/json"}
        url = self._base + path
        for attempt in range(1, self._tries + 1):
            self.requests_made += 1
            try:
                reply = requests.get(url, params=params, headers=headers, timeout=self._timeout)
            except requests.RequestException as exc:
                raise AdminAPIError(
                    f"cannot reach the Anthropic Admin API at {self.where} ({type(exc).__name__})"
                ) from None
            if reply.status_code in TRANSIENT and attempt < self._tries:
                wait = _retry_after(reply.headers)
                wait = min(self._max_wait, wait if wait is not None else 2.0**attempt)
                self._sleep(wait)
                continue
            if reply.status_code != 200:
                raise self._refusal(reply, what, attempt)
            try:
                return reply.json()
            except ValueError:
                raise AdminAPIError(f"the Admin API's {what} answered 200 with a body that is not JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _refusal(self, reply: Any, what: str, attempt: int) -> AdminAPIError:
        status = reply.status_code
        detail = ""
        try:
            error = reply.json().get("error") or {}
            detail = f": {error.get('type', '')} {error.get('message', '')}".rstrip()
        except (ValueError, AttributeError):
            pass
        detail = scrub(detail[:300], [self._key])
        if status in (401, 403):
            return AdminAPIError(
                f"the Anthropic Admin API refused the admin key ({status}{detail}); "
                f"${ADMIN_KEY_ENV} must hold an admin key (sk-ant-admin01-...), not a regular API key",
                status_code=status,
            )
        if status in TRANSIENT:
            return AdminAPIError(
                f"the Anthropic Admin API kept refusing the {what} ({status}{detail}, {attempt} tries); "
                "try again later",
                status_code=status,
            )
        return AdminAPIError(f"the Anthropic Admin API's {what} failed ({status}{detail})", status_code=status)


def _page_parts(body: Any, where: str) -> tuple[list[dict[str, Any]], bool, str | None]:
    """(buckets, has_more, next_page) of one page, or ``AdminAPIError`` naming what is wrong with it."""
    if not isinstance(body, dict):
        raise AdminAPIError(f"malformed {where} from the Admin API: expected a JSON object")
    data, has_more, page = body.get("data"), body.get("has_more"), body.get("next_page")
    if not isinstance(data, list):
        raise AdminAPIError(f"malformed {where} from the Admin API: 'data' is not a list")
    if not isinstance(has_more, bool):
        raise AdminAPIError(f"malformed {where} from the Admin API: 'has_more' is not true or false")
    if page is not None and not isinstance(page, str):
        raise AdminAPIError(f"malformed {where} from the Admin API: 'next_page' is not a string")
    for i, bucket in enumerate(data):
        if (
            not isinstance(bucket, dict)
            or not isinstance(bucket.get("starting_at"), str)
            or not isinstance(bucket.get("results"), list)
        ):
            raise AdminAPIError(
                f"malformed {where} from the Admin API: bucket {i} lacks 'starting_at' or a 'results' list"
            )
    return data, has_more, page
