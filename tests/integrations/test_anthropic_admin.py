"""The Admin API client against the loopback fake (tests/fakes/anthropic_admin.py): pages, headers, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from acme_ci_budget.integrations.anthropic_admin import COST_PATH, USAGE_PATH, AdminAPIError, AdminClient
from tests.fakes.anthropic_admin import (
    ADMIN_KEY,
    FakeAdminAPI,
    Reply,
    UsageRow,
    error_body,
    malformed,
    rate_limited,
    unauthorized,
)

PRICES = {
    "claude-sonnet-5-5": dict.fromkeys(
        (
            "uncached_input_tokens",
            "cache_creation.ephemeral_5m_input_tokens",
            "cache_creation.ephemeral_1h_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        ),
        Decimal("3"),
    )
}
START = datetime(2026, 10, 1, tzinfo=UTC)


def client(fake: FakeAdminAPI, **kw) -> AdminClient:
    return AdminClient(ADMIN_KEY, fake.url, **kw)


def test_every_page_is_read_and_empty_buckets_are_kept():
    rows = [UsageRow(START + timedelta(days=35, hours=3), "claude-sonnet-5-5", 1000, 200)]
    with FakeAdminAPI(rows, PRICES) as fake:
        admin = client(fake)
        buckets = admin.usage_report(START, START + timedelta(days=40))
        assert len(buckets) == 40  # 31 on the first page, 9 on the second
        assert [len(b["results"]) for b in buckets].count(0) == 39
        assert buckets[35]["starting_at"] == "2026-11-05T00:00:00Z"
        assert buckets[35]["results"][0]["uncached_input_tokens"] == 1000
        usage = [r for r in fake.requests if r.path == USAGE_PATH]
        assert len(usage) == 2 and "page" not in usage[0].query and usage[1].query["page"]
        assert usage[0].query["limit"] == ["31"] and usage[0].query["bucket_width"] == ["1d"]
        assert usage[0].headers["anthropic-version"] == "2023-06-01"
        assert usage[0].headers["x-api-key"] == "<redacted>"  # sent (the fake checked it), never recorded


def test_cost_amounts_are_cent_strings_on_utc_days():
    # a second before and at UTC midnight: two days, whatever the ledger's timezone
    rows = [
        UsageRow(datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC), "claude-sonnet-5-5", output_tokens=1),
        UsageRow(datetime(2026, 10, 2, 0, 0, 0, tzinfo=UTC), "claude-sonnet-5-5", output_tokens=2),
    ]
    with FakeAdminAPI(rows, PRICES) as fake:
        buckets = client(fake).cost_report(START, START + timedelta(days=3))
    amounts = [[r["amount"] for r in b["results"]] for b in buckets]
    assert amounts == [["0.0003"], ["0.0006"], []]  # 1 token at $3/MTok = $0.000003 = 0.0003 cents
    assert buckets[0]["results"][0]["description"] == "Claude Sonnet 5.5 Usage - Output Tokens"
    assert buckets[0]["results"][0]["currency"] == "USD"


def test_401_is_one_line_without_the_key():
    wrong = "sk-ant-admin01-not-the-right-one"
    with FakeAdminAPI([], PRICES) as fake, pytest.raises(AdminAPIError) as err:
        AdminClient(wrong, fake.url).usage_report(START, START + timedelta(days=1))
    text = str(err.value)
    assert err.value.status_code == 401 and "\n" not in text
    assert "admin key" in text and "authentication_error" in text and wrong not in text


def test_a_scripted_401_too():
    with FakeAdminAPI([], PRICES) as fake, pytest.raises(AdminAPIError, match="refused the admin key"):
        fake.enqueue(unauthorized(), path=COST_PATH)
        client(fake).cost_report(START, START + timedelta(days=1))


def test_429_waits_what_retry_after_says_then_succeeds():
    waits: list[float] = []
    with FakeAdminAPI([], PRICES) as fake:
        fake.enqueue(rate_limited("3"), rate_limited("2"))
        buckets = client(fake, sleep=waits.append).usage_report(START, START + timedelta(days=2))
        assert len(buckets) == 2 and waits == [3.0, 2.0] and len(fake.requests) == 3


def test_429_wait_is_bounded_and_so_are_the_tries():
    waits: list[float] = []
    with FakeAdminAPI([], PRICES) as fake:
        fake.enqueue(*[rate_limited("3600")] * 5)
        admin = client(fake, sleep=waits.append, max_retry_wait=5, rate_limit_tries=3)
        with pytest.raises(AdminAPIError, match=r"\(429: rate_limit_error .*, 3 tries\)") as err:
            admin.usage_report(START, START + timedelta(days=2))
    assert waits == [5, 5] and err.value.status_code == 429


@pytest.mark.parametrize(
    "body, what",
    [
        ({"data": "x", "has_more": False}, "'data' is not a list"),
        ({"data": [], "has_more": "no"}, "'has_more'"),
        ({"data": [{"results": []}], "has_more": False}, "bucket 0"),
        (["not", "an", "object"], "expected a JSON object"),
        ({"data": [], "has_more": True, "next_page": None}, "no next_page"),
    ],
)
def test_malformed_page_is_a_clear_error(body, what):
    with FakeAdminAPI([], PRICES) as fake, pytest.raises(AdminAPIError, match=r"malformed|no next_page") as err:
        fake.enqueue(malformed(body))
        client(fake).usage_report(START, START + timedelta(days=2))
    assert what in str(err.value)


def test_no_key_and_unreachable_host(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    with pytest.raises(AdminAPIError, match="ANTHROPIC_ADMIN_KEY"):
        AdminClient()
    with pytest.raises(AdminAPIError, match="cannot reach") as err:
        AdminClient("k", "http://user:pw@127.0.0.1:9").usage_report(START, START + timedelta(days=1))
    assert "pw" not in str(err.value)


def test_key_and_base_url_from_the_environment(monkeypatch):
    with FakeAdminAPI([], PRICES) as fake:
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        assert len(AdminClient().cost_report(START, START + timedelta(days=1))) == 1


def test_an_overloaded_api_is_retried_too():
    waits: list[float] = []
    with FakeAdminAPI([], PRICES) as fake:
        fake.enqueue(Reply(529, error_body("overloaded_error", "Overloaded")))
        assert len(client(fake, sleep=waits.append).cost_report(START, START + timedelta(days=1))) == 1
    assert waits == [2.0]  # no retry-after: our own backoff
