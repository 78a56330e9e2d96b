"""Loopback fake of the Anthropic Admin API's usage and cost reports, built from a set of usage rows.

Owns: a loopback server (tests/fakes/loopback.py: 127.0.0.1, free port) answering GET /v1/organizations/usage_report/messages
and GET /v1/organizations/cost_report as the real API documents them, computed from ``UsageRow``s
(when, model, API key, workspace, token counts) and a price list (USD per million tokens per token
type), plus a script of one-off replies (401, 429 with retry-after, a malformed page) consumed one
per request, and a record of every request with secrets redacted.

Must not: reach the network, know anything about acme_ci_budget, or keep the admin key it is given
in anything it records (``x-api-key`` is recorded as "<redacted>").

Fidelity notes (docs: platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages,
.../admin/cost_report; the Usage & Cost API guide):
- both: ``x-api-key`` must be the admin key (else 401 authentication_error) and ``anthropic-version``
  present (else 400); ``starting_at`` is required and snapped to the start of its UTC day,
  ``ending_at`` is exclusive; buckets are UTC days, every day in range is returned, empty ones with
  ``results: []``; ``limit`` is the number of buckets a page holds (default 7, at most 31 for 1d,
  else 400); pages end with ``has_more`` and a ``next_page`` token sent back as ``page``.
- usage: ``group_by[]`` of model / api_key_id / workspace_id / service_tier / context_window; a
  dimension not grouped by is null; filters ``models[]``, ``api_key_ids[]``, ``workspace_ids[]``;
  each result has ``uncached_input_tokens``, ``cache_creation`` {``ephemeral_5m_input_tokens``,
  ``ephemeral_1h_input_tokens``}, ``cache_read_input_tokens``, ``output_tokens`` and
  ``server_tool_use`` {``web_search_requests``}. Console (Workbench) usage has ``api_key_id`` null.
- cost: ``bucket_width`` may only be 1d; ``group_by[]`` of workspace_id / description; ``amount`` is a
  decimal string in cents ("123.45" is $1.2345) and ``currency`` "USD"; grouped by description a
  result names ``cost_type`` "tokens", ``model``, ``token_type``, ``service_tier``,
  ``context_window`` and a ``description`` ("Claude Sonnet 5.5 Usage - Input Tokens"); otherwise
  those are null and a day's cost is one result. The cost is computed per (day, model, token
  type) from the rows' tokens at the price list's rates, never rounded.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackFake, LoopbackHandler

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
ADMIN_KEY = "sk-ant-admin01-fake-admin-key-000000"
REDACTED = "<redacted>"
TOKEN_TYPES = (
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)
_TYPE_WORDS = {
    "uncached_input_tokens": "Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write (5m) Tokens",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write (1h) Tokens",
    "cache_read_input_tokens": "Cache Read Tokens",
    "output_tokens": "Output Tokens",
}
USAGE_GROUPS = {"model", "api_key_id", "workspace_id", "service_tier", "context_window"}
COST_GROUPS = {"workspace_id", "description"}


@dataclass(frozen=True)
class UsageRow:
    """Some usage at one moment: ``api_key_id=None`` is the console's, as the API reports it."""

    at: datetime
    model: str
    uncached_input_tokens: int = 0
    output_tokens: int = 0
    cache_5m_tokens: int = 0
    cache_1h_tokens: int = 0
    cache_read_tokens: int = 0
    api_key_id: str | None = "apikey_ci"
    workspace_id: str | None = None
    service_tier: str = "standard"
    context_window: str = "0-200k"

    def tokens(self) -> dict[str, int]:
        return dict(
            zip(
                TOKEN_TYPES,
                (
                    self.uncached_input_tokens,
                    self.cache_5m_tokens,
                    self.cache_1h_tokens,
                    self.cache_read_tokens,
                    self.output_tokens,
                ),
                strict=True,
            )
        )


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def unauthorized() -> Reply:
    return Reply(401, error_body("authentication_error", "invalid x-api-key"))


def rate_limited(retry_after: str = "1") -> Reply:
    return Reply(
        429,
        error_body("rate_limit_error", "Number of requests has exceeded your rate limit"),
        (("retry-after", retry_after),),
    )


def malformed(body: Any = None) -> Reply:
    """A 200 whose body is not a report page (a proxy's HTML error, a truncated object...)."""
    return Reply(200, body if body is not None else {"data": "not-a-list", "has_more": False})


@dataclass(frozen=True)
class Recorded:
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]


@dataclass
class _State:
    rows: list[UsageRow]
    prices: Mapping[str, Mapping[str, Decimal]]  # model -> token type -> USD per million tokens
    admin_key: str
    script: deque[tuple[str | None, Reply]] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), datetime.min.time(), UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cents(usd: Decimal) -> str:
    return format((usd * 100).normalize(), "f")


class _Handler(LoopbackHandler):
    state: _State

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        headers = {k.lower(): (REDACTED if k.lower() == "x-api-key" else v) for k, v in self.headers.items()}
        with self.state.lock:
            self.state.requests.append(Recorded(url.path, query, headers))
        if url.path not in (USAGE_PATH, COST_PATH):
            return self._send(Reply(404, error_body("not_found_error", f"Not found: {url.path}")))
        if self.headers.get("x-api-key") != self.state.admin_key:
            return self._send(unauthorized())
        if not self.headers.get("anthropic-version"):
            return self._send(Reply(400, error_body("invalid_request_error", "anthropic-version: header is required")))
        with self.state.lock:
            scripted = next((i for i, (p, _) in enumerate(self.state.script) if p in (None, url.path)), None)
            reply = None
            if scripted is not None:
                reply = self.state.script[scripted][1]
                del self.state.script[scripted]
        if reply is not None:
            return self._send(reply)
        try:
            self._send(Reply(200, self._page(url.path, query)))
        except ValueError as exc:
            self._send(Reply(400, error_body("invalid_request_error", str(exc))))

    def _page(self, path: str, q: Mapping[str, list[str]]) -> dict[str, Any]:
        if "starting_at" not in q:
            raise ValueError("starting_at: Field required")
        width = q.get("bucket_width", ["1d"])[0]
        if width != "1d":  # the cost report has only 1d; this fake serves reconcile's 1d usage only
            raise ValueError(f"bucket_width: only '1d' is supported here, got {width!r}")
        limit = int(q.get("limit", ["7"])[0])
        if not 1 <= limit <= 31:
            raise ValueError("limit: must be between 1 and 31 for bucket_width 1d")
        groups = q.get("group_by[]", [])
        allowed = USAGE_GROUPS if path == USAGE_PATH else COST_GROUPS
        for g in groups:
            if g not in allowed:
                raise ValueError(f"group_by: {g!r} is not one of {sorted(allowed)}")
        start = _day_start(_time(q["starting_at"][0]))
        if q.get("page"):
            start = _time(base64.urlsafe_b64decode(q["page"][0].removeprefix("page_")).decode())
        end = _time(q["ending_at"][0]) if "ending_at" in q else start + timedelta(days=limit)
        days = []
        day = start
        while day < end and len(days) < limit:
            days.append(day)
            day += timedelta(days=1)
        has_more = day < end
        build = self._usage_bucket if path == USAGE_PATH else self._cost_bucket
        return {
            "data": [build(d, groups, q) for d in days],
            "has_more": has_more,
            "next_page": "page_" + base64.urlsafe_b64encode(_iso(day).encode()).decode() if has_more else None,
        }

    def _rows(self, day: datetime, q: Mapping[str, list[str]]) -> list[UsageRow]:
        out = []
        for row in self.state.rows:
            if not day <= row.at.astimezone(UTC) < day + timedelta(days=1):
                continue
            if "models[]" in q and row.model not in q["models[]"]:
                continue
            if "api_key_ids[]" in q and row.api_key_id not in q["api_key_ids[]"]:
                continue
            if "workspace_ids[]" in q and row.workspace_id not in q["workspace_ids[]"]:
                continue
            out.append(row)
        return out

    def _usage_bucket(self, day: datetime, groups: list[str], q: Mapping[str, list[str]]) -> dict[str, Any]:
        sums: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOKEN_TYPES, 0))
        for row in self._rows(day, q):
            key = tuple(getattr(row, g) if g in groups else None for g in sorted(USAGE_GROUPS))
            for kind, count in row.tokens().items():
                sums[key][kind] += count
        results = []
        for key, t in sums.items():
            result = dict(zip(sorted(USAGE_GROUPS), key, strict=True))
            result.update(
                uncached_input_tokens=t[TOKEN_TYPES[0]],
                cache_creation={
                    "ephemeral_5m_input_tokens": t[TOKEN_TYPES[1]],
                    "ephemeral_1h_input_tokens": t[TOKEN_TYPES[2]],
                },
                cache_read_input_tokens=t[TOKEN_TYPES[3]],
                output_tokens=t[TOKEN_TYPES[4]],
                server_tool_use={"web_search_requests": 0},
            )
            results.append(result)
        return {"starting_at": _iso(day), "ending_at": _iso(day + timedelta(days=1)), "results": results}

    def _cost_bucket(self, day: datetime, groups: list[str], q: Mapping[str, list[str]]) -> dict[str, Any]:
        by_desc = "description" in groups
        by_ws = "workspace_id" in groups
        sums: dict[tuple, Decimal] = defaultdict(Decimal)
        for row in self._rows(day, q):
            for kind, count in row.tokens().items():
                if not count:
                    continue
                usd = Decimal(count) * self.state.prices[row.model][kind] / 1_000_000
                desc = (row.model, kind, row.service_tier, row.context_window) if by_desc else None
                sums[(row.workspace_id if by_ws else None, desc)] += usd
        results = []
        for (workspace, desc), usd in sums.items():
            model, kind, tier, window = desc or (None, None, None, None)
            results.append(
                {
                    "amount": _cents(usd),
                    "currency": "USD",
                    "workspace_id": workspace,
                    "description": f"{_display(model)} Usage - {_TYPE_WORDS[kind]}" if desc else None,
                    "cost_type": "tokens" if desc else None,
                    "model": model,
                    "token_type": kind,
                    "service_tier": tier,
                    "context_window": window,
                    "inference_geo": None,
                }
            )
        return {"starting_at": _iso(day), "ending_at": _iso(day + timedelta(days=1)), "results": results}

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake_admin")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _display(model: str | None) -> str:
    """'claude-sonnet-5-5' -> 'Claude Sonnet 5.5', as the cost report's descriptions name models."""
    family, *version = (model or "").removeprefix("claude-").split("-")
    return f"Claude {family.capitalize()} {'.'.join(v for v in version if v.isdigit() and len(v) < 3)}".rstrip()


class FakeAdminAPI(LoopbackFake):
    """The fake Admin API over ``rows`` at ``prices``; start()/stop(), or a context manager."""

    handler = _Handler
    thread_name = "fake-anthropic-admin"

    def __init__(
        self,
        rows: Iterable[UsageRow] = (),
        prices: Mapping[str, Mapping[str, Decimal]] | None = None,
        *,
        admin_key: str = ADMIN_KEY,
    ) -> None:
        super().__init__(_State(list(rows), dict(prices or {}), admin_key))

    def add(self, *rows: UsageRow) -> None:
        with self._state.lock:
            self._state.rows.extend(rows)

    def enqueue(self, *replies: Reply, path: str | None = None) -> None:
        """One-off replies for the next requests (to ``path`` only, when given), in order."""
        with self._state.lock:
            self._state.script.extend((path, r) for r in replies)

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)


def prices_from(price_of: Callable[[str], Any], models: Iterable[str]) -> dict[str, dict[str, Decimal]]:
    """A price list (USD per million tokens per token type) from ``price_of(model)``, any object with
    ``input``, ``output``, ``cache_write`` (5-minute), ``cache_write_1h_price`` and ``cache_read``."""
    out = {}
    for model in models:
        p = price_of(model)
        rates = (p.input, p.cache_write, p.cache_write_1h_price, p.cache_read, p.output)
        out[model] = dict(zip(TOKEN_TYPES, (Decimal(str(r)) for r in rates), strict=True))
    return out
