"""A call never outlives its hold, and retries wait what the API asks, within the call's deadline.

The REAL anthropic SDK against the loopback fake Messages API, on a real Redis, in real time: a
slow API, 429s with ``retry-after``, ``x-should-retry``, and ``config validate`` on a TTL that
cannot cover the configured deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.cli import main
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.result import ModelAPIError, ModelTimeoutError
from acme_ci_budget.config import ConfigError, hold_margin_seconds, load_config, parse_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens
from tests.conftest import DEFAULT_CONFIG_TEXT
from tests.fakes.anthropic_server import (
    FakeAnthropicServer,
    error,
    ok,
    overloaded,
    rate_limited,
    server_error,
    slow,
)

API_KEY = "sk-ant-deadline-test-key"
HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]


@pytest.fixture
def server():
    with FakeAnthropicServer() as fake:
        yield fake


def _client(config, redis_url: str, server: FakeAnthropicServer, **kwargs: Any) -> BudgetedClient:
    # The SDK client as a user builds it: SDK defaults (600 s timeout, 2 retries) unless a test says otherwise.
    sdk = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, **kwargs.pop("sdk", {}))
    return BudgetedClient(config, redis_url=redis_url, anthropic_client=sdk, alerts=False, **kwargs)


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def _stamping(behaviour, times: list[float]):
    def stamped(request):
        times.append(time.monotonic())
        return behaviour(request)

    return stamped


# --- the deadline fits inside the hold ------------------------------------------------------------


def test_no_second_call_is_admitted_on_the_room_of_a_call_still_running(make_config, redis_url, server) -> None:
    """Room for one call; the first is slow. Before: its hold expired mid-call and the room was sold again."""
    ttl = 3
    routing = make_config().workflows["dev_assistant"].routing  # ASK is a default-tier call on this model
    hold = cost_nano(routing.default_model, estimate_messages_tokens(ASK), routing.max_tokens["default"])
    daily_usd = hold * 1.5 / 1e9
    cfg = make_config({"ledger": {"hold_ttl_seconds": ttl}, "workflows": {"dev_assistant": {"daily_usd": daily_usd}}})
    assert cfg.call_deadline_seconds == ttl - hold_margin_seconds(ttl) == 2
    client = _client(cfg, redis_url, server)  # the SDK's own defaults: 600 s, 2 retries
    server.enqueue(slow(30))
    outcome: dict[str, Any] = {}

    def first_call() -> None:
        started = time.monotonic()
        try:
            client.complete("dev_assistant", ASK)
        except BaseException as exc:  # the test inspects whatever ended the call
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    reserved_at = time.monotonic()
    worker = threading.Thread(target=first_call)
    worker.start()
    time.sleep(0.5)
    second = client.complete("dev_assistant", ASK)  # the first call's hold fills the day
    assert second.budget_blocked and second.budget_reason == "daily_limit_exceeded"
    # just past the hold's TTL: the first call must have ended by now, its hold given back by itself
    time.sleep(max(0.0, reserved_at + ttl + 0.3 - time.monotonic()))
    first_ended = not worker.is_alive()
    server.set_default(ok("fresh", input_tokens=10, output_tokens=5))
    third = client.complete("dev_assistant", ASK)
    worker.join(timeout=40)
    assert first_ended, "the first call was still running when its hold expired"
    assert isinstance(outcome["error"], ModelTimeoutError)
    assert "within the call's deadline of 2 s" in str(outcome["error"])
    assert outcome["seconds"] < ttl - 0.5
    assert not third.budget_blocked
    enforcer = client.enforcer
    day, month = enforcer.periods()
    assert int(enforcer.redis.get(enforcer.keys.wf_held_day("dev_assistant", day)) or 0) == 0
    assert enforcer.open_holds() == 0
    assert int(enforcer.redis.get(enforcer.keys.org_spent(month))) == third.cost_nano


def test_retries_stop_at_the_deadline(make_config, redis_url, server) -> None:
    cfg = make_config({"ledger": {"hold_ttl_seconds": 60}, "client": {"deadline_seconds": 1.5}})
    client = _client(cfg, redis_url, server, sdk={"max_retries": 5})
    server.set_default(slow(30))
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match=r"did not answer in time \(0 retries within the call's deadline"):
        client.complete("dev_assistant", ASK)
    assert time.monotonic() - started < 2.5
    assert len(server.message_requests) == 1
    assert client.enforcer.open_holds() == 0


def test_the_client_deadline_argument_only_shortens(make_config, redis_url, server) -> None:
    client = _client(make_config(), redis_url, server, deadline=0.5)
    server.set_default(slow(30))
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError):
        client.complete("dev_assistant", ASK)
    assert time.monotonic() - started < 1.5
    # a deadline longer than the hold covers is cut to what it covers
    long = _client(make_config({"ledger": {"hold_ttl_seconds": 3}}), redis_url, server, deadline=3600)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match="deadline of 2 s"):
        long.complete("dev_assistant", ASK)
    assert time.monotonic() - started < 2.8


# --- config validate ------------------------------------------------------------------------------


def _config_file(tmp_path: Path, ledger: dict, client: dict | None = None) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["ledger"].update(ledger)
    if client is not None:
        raw["client"] = client
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_validate_refuses_a_ttl_that_cannot_cover_the_deadline(tmp_path, capsys) -> None:
    path = _config_file(tmp_path, {"hold_ttl_seconds": 600}, {"deadline_seconds": 590})
    with pytest.raises(SystemExit) as exited:
        main(["config", "validate", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err == (
        f"Error: {path}: ledger.hold_ttl_seconds: 600 s cannot cover a model call: client.deadline_seconds is "
        "590 s and a hold must outlive its call by 30 s; raise hold_ttl_seconds to >= 620 or lower "
        "client.deadline_seconds"
    )
    fits = _config_file(tmp_path, {"hold_ttl_seconds": 600}, {"deadline_seconds": 570})
    assert main(["config", "validate", str(fits)]) is None
    assert capsys.readouterr().out.startswith("OK ")


@pytest.mark.parametrize(
    ("client", "where", "fragment"),
    [
        ({"max_retries": 11}, "client.max_retries", "must be <= 10"),
        ({"max_retries": -1}, "client.max_retries", "must be >= 0"),
        ({"request_timeout_seconds": 0}, "client.request_timeout_seconds", "must be >= 0.1"),
        ({"request_timeout_seconds": 7200}, "client.request_timeout_seconds", "must be <= 3600"),
        ({"deadline_seconds": "soon"}, "client.deadline_seconds", "expected a number"),
        ({"deadline_second": 5}, "client.deadline_second", "unknown key \\(did you mean 'deadline_seconds'"),
    ],
)
def test_client_keys_are_bounded(client, where, fragment) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["client"] = client
    with pytest.raises(ConfigError, match=f"x.yml: {where}: {fragment}"):
        parse_config(yaml.safe_dump(raw), "x.yml")


def test_without_a_configured_deadline_it_follows_the_ttl() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    assert parse_config(DEFAULT_CONFIG_TEXT).call_deadline_seconds == 570  # 600 s TTL less 30 s
    raw["ledger"]["hold_ttl_seconds"] = 60
    assert parse_config(yaml.safe_dump(raw)).call_deadline_seconds == 54
    raw["ledger"]["hold_ttl_seconds"] = 1
    with pytest.raises(ConfigError, match=r"ledger\.hold_ttl_seconds: 1 s leaves no time for a model call"):
        parse_config(yaml.safe_dump(raw), "x.yml")


# --- retry-after, and retries counted as they happened ------------------------------------------------


def test_retry_after_is_waited_then_the_call_succeeds(make_config, redis_url, server) -> None:
    times: list[float] = []
    client = _client(make_config(), redis_url, server, max_retries=2)
    server.enqueue(
        _stamping(rate_limited(retry_after=1), times), _stamping(ok("done", input_tokens=9, output_tokens=2), times)
    )
    result = client.complete("dev_assistant", ASK)
    assert result.content == "done"
    assert _gaps(times)[0] >= 1.0
    assert [r.headers["x-stainless-retry-count"] for r in server.message_requests] == ["0", "1"]


def test_a_retry_after_past_the_deadline_is_not_waited(make_config, redis_url, server) -> None:
    """Before: the SDK slept the full retry-after (20 s) while the hold's deadline ran out."""
    cfg = make_config({"ledger": {"hold_ttl_seconds": 4}})  # the call's deadline: 3 s
    client = _client(cfg, redis_url, server, sdk={"max_retries": 2})
    server.enqueue(rate_limited(retry_after=20))
    started = time.monotonic()
    with pytest.raises(ModelAPIError) as caught:
        client.complete("dev_assistant", ASK)
    assert time.monotonic() - started < 1.5
    message = str(caught.value)
    assert "429 rate_limit_error after 0 retries" in message
    assert "the API asked to retry after 20 s, past the call's deadline" in message
    assert len(server.message_requests) == 1
    assert client.enforcer.open_holds() == 0


def test_the_error_counts_the_retries_that_happened(make_config, redis_url, server) -> None:
    """Before: 'after 2 retries' (the configured count) when the API said not to retry and none happened."""
    client = _client(make_config(), redis_url, server, sdk={"max_retries": 2})
    server.enqueue(server_error(retry_after=0.01), error(500, "api_error", "boom", {"x-should-retry": "false"}))
    with pytest.raises(ModelAPIError, match=r"500 api_error after 1 retries \(model .*\): boom") as caught:
        client.complete("dev_assistant", ASK)
    assert len(server.message_requests) == 2
    assert caught.value.status_code == 500
    # and x-should-retry: true makes a 400 worth a retry, as the SDK reads it
    server.enqueue(error(400, "invalid_request_error", "try again", {"x-should-retry": "true"}), ok("ok"))
    assert client.complete("dev_assistant", ASK).content == "ok"


def test_retry_after_as_an_http_date_and_in_milliseconds() -> None:
    from email.utils import formatdate

    from acme_ci_budget.client.retry_policy import retry_after_seconds

    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    now = 1_000_000.0
    assert retry_after_seconds({"retry-after": formatdate(now + 5, usegmt=True)}, now=lambda: now) == 5.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_the_fake_sends_retry_after_on_429_and_529_like_the_api(server) -> None:
    sdk = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
    for behaviour, kind in ((rate_limited(), anthropic.RateLimitError), (overloaded(), anthropic.InternalServerError)):
        server.enqueue(behaviour)
        with pytest.raises(kind) as caught:
            sdk.messages.create(model=HAIKU, max_tokens=5, messages=ASK)
        assert float(caught.value.response.headers["retry-after"]) > 0


def test_the_async_client_retries_the_same_way(make_config, redis_url, server) -> None:
    from acme_ci_budget.client.budgeted import AsyncBudgetedClient

    times: list[float] = []

    async def run():
        sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=API_KEY)  # the SDK's default 2 retries
        cfg = make_config({"ledger": {"hold_ttl_seconds": 10}})  # a 9 s deadline
        client = AsyncBudgetedClient(cfg, redis_url=redis_url, anthropic_client=sdk, alerts=False)
        server.enqueue(
            _stamping(overloaded(retry_after=0.5), times),
            _stamping(rate_limited(retry_after=20), times),
        )
        with pytest.raises(ModelAPIError) as caught:
            await client.complete("dev_assistant", ASK)
        await sdk.close()
        return client, caught.value

    client, failure = asyncio.run(run())
    assert _gaps(times)[0] >= 0.5
    assert "429 rate_limit_error after 1 retries" in str(failure)
    assert "the API asked to retry after 20 s, past the call's deadline" in str(failure)
    assert [r.headers["x-stainless-retry-count"] for r in server.message_requests] == ["0", "1"]
    assert client.enforcer.open_holds() == 0
