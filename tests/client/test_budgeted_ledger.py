"""The budgeted client's side of the ledger's edges (issue 11), through the real SDK and the loopback API.

A request with ``cache_control`` blocks is held at the cache-write rate of each block's TTL; a reply's
1-hour cache writes (``usage.cache_creation``) are priced at the 1-hour rate; a reply without usage
is charged its hold's worst case and flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from acme_ci_budget.catalog.pricing import cost_nano, price_for
from acme_ci_budget.client.budgeted import BudgetedClient, cache_write_tokens
from acme_ci_budget.config import load_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, handler, ok

HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
ASK = [{"role": "user", "content": "extract the function name from this code: def foo(): pass"}]
SYSTEM = "You review code for Acme. Be brief and name the function. " * 30


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def client(redis_url: str, server: FakeAnthropicServer, make_config) -> BudgetedClient:
    sdk = anthropic.Anthropic(base_url=server.url, api_key="sk-test", max_retries=0)
    return BudgetedClient(make_config(), redis_url=redis_url, anthropic_client=sdk, alerts=False)


def _calls(client: BudgetedClient) -> list[dict[str, str]]:
    raw = client.enforcer.redis.xrange(client.enforcer.keys.events())
    return [{k.decode(): v.decode() for k, v in f.items()} for _i, f in raw if f[b"type"] == b"call"]


# --- the cached prefix, by the one estimator -----------------------------------------------------


def test_cache_write_tokens_follow_the_prefix_up_to_each_marked_block():
    five = {"type": "ephemeral"}
    hour = {"type": "ephemeral", "ttl": "1h"}
    system = [{"type": "text", "text": "a" * 700, "cache_control": hour}, {"type": "text", "text": "b" * 350}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "c" * 70, "cache_control": five},
                                     {"type": "text", "text": "d" * 3500}]},
    ]
    tools = [{"name": "lookup", "description": "e" * 100, "input_schema": {"type": "object"}}]
    assert cache_write_tokens("plain system", [{"role": "user", "content": "hi"}]) == (0, 0)
    through_system = estimate_messages_tokens([], system[:1])
    assert cache_write_tokens(system, []) == (0, through_system)
    prefix = estimate_messages_tokens([{**messages[0], "content": messages[0]["content"][:1]}], system)
    assert cache_write_tokens(system, messages) == (prefix - through_system, through_system)
    assert prefix < estimate_messages_tokens(messages, system)  # the uncached rest is plain input
    # tools come first in the prefix: a marked tool caches the tools up to it, a marked system block all tools
    marked_tools = [{**tools[0], "cache_control": hour}]
    assert cache_write_tokens("", [], marked_tools) == (0, estimate_tokens(_json(marked_tools[0])))
    assert cache_write_tokens(system, [], tools) == (0, estimate_tokens(_json(tools[0])) + through_system)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def test_a_cached_system_prompt_is_held_at_the_five_minute_write_rate(client, server):
    server.enqueue(ok("foo", input_tokens=100, output_tokens=10, cache_creation_input_tokens=500))
    result = client.complete("dev_assistant", ASK, system=SYSTEM)  # dev_assistant marks its system prompt
    request = server.message_requests[0].json
    assert request["system"][0]["cache_control"] == {"type": "ephemeral"}
    prefix = estimate_tokens(SYSTEM)
    total = estimate_messages_tokens(ASK, SYSTEM)
    (call,) = _calls(client)
    assert result.model == request["model"] == HAIKU
    assert int(call["held_nano"]) == cost_nano(HAIKU, total - prefix, request["max_tokens"], prefix)
    assert int(call["held_nano"]) > cost_nano(HAIKU, total, request["max_tokens"])  # more than as plain input
    assert result.cost_nano == cost_nano(HAIKU, 100, 10, 500)


def test_a_one_hour_cache_block_is_held_and_billed_at_the_one_hour_rate(client, server):
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    server.enqueue(ok("foo", input_tokens=100, output_tokens=10, cache_creation_input_tokens=40,
                      cache_creation_1h_input_tokens=460))
    result = client.complete("dev_assistant", ASK, system=system)
    request = server.message_requests[0].json
    prefix = estimate_tokens(SYSTEM)
    total = estimate_messages_tokens(ASK, system)
    (call,) = _calls(client)
    assert result.model == request["model"] == HAIKU
    assert int(call["held_nano"]) == cost_nano(HAIKU, total - prefix, request["max_tokens"],
                                               cache_write_1h_tokens=prefix)
    # the reply's usage: 500 tokens written, 460 of them for an hour (2x input), 40 for five minutes (1.25x)
    assert (result.cache_creation_input_tokens, result.cache_creation_1h_input_tokens) == (500, 460)
    assert result.cost_nano == cost_nano(HAIKU, 100, 10, 40, cache_write_1h_tokens=460)
    # the same sum by hand from the model's base prices (nano-USD a token is 1,000x the $/MTok price)
    nano_in, nano_out = price_for(HAIKU).input * 1000, price_for(HAIKU).output * 1000
    assert result.cost_nano == 100 * nano_in + 10 * nano_out + 40 * nano_in * Decimal("1.25") + 460 * nano_in * 2
    assert (call["cache_creation_input_tokens"], call["cache_creation_1h_input_tokens"]) == ("500", "460")
    stats = client.enforcer.redis.hgetall(client.enforcer.keys.stats(client.enforcer.periods()[1]))
    assert stats[b"tok_cw1h|dev_assistant"] == b"460"


def test_a_reply_without_usage_is_charged_its_hold_and_flagged(client, server):
    def strip_usage(request: dict[str, Any]) -> dict[str, Any]:
        body = build_message(request, "fine")
        del body["usage"]  # a gateway that drops it
        return body

    server.enqueue(handler(strip_usage))
    result = client.complete("dev_assistant", ASK, system=SYSTEM)
    (call,) = _calls(client)
    assert result.usage_missing and call["usage_missing"] == "1"
    assert result.cost_nano == int(call["held_nano"]) == int(call["cost_nano"]) > 0
    assert any("no usage" in w for w in result.warnings)
    assert result.output_tokens == server.message_requests[0].json["max_tokens"]  # the worst case it was charged
    assert client.enforcer.open_holds() == 0
    stats = client.enforcer.redis.hgetall(client.enforcer.keys.stats(client.enforcer.periods()[1]))
    assert stats[b"usage_missing|dev_assistant"] == b"1"
