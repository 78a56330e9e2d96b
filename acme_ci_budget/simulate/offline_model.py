"""The offline model stand-in: answers Messages API calls with a plausible usage, without a network.

Owns an object with the surface ``BudgetedClient`` calls on an ``anthropic.Anthropic`` client,
``model.messages.create(model=, max_tokens=, messages=, system=, ...)`` (and
``model.messages.count_tokens(model=, messages=, system=)``, the free exact count), returning objects shaped
like the SDK's ``Message``: ``.id``, ``.type``, ``.role``, ``.model`` (the requested model),
``.content`` (a list of text blocks with ``.type`` and ``.text``), ``.stop_reason``,
``.stop_sequence`` and ``.usage`` (``input_tokens``, ``output_tokens``,
``cache_creation_input_tokens``, ``cache_read_input_tokens``). The simulator drives the real
money path through it; tests can use it anywhere a real client would go.

The usage is a deterministic function of the request, the planned reply and the clock:

- Input tokens come from a stand-in tokenizer of ``REAL_CHARS_PER_TOKEN`` (3.8) characters a
  token plus ``MESSAGE_FRAMING_TOKENS`` a message, so the product's estimator (3.5 characters a
  token, 4 a message) reads about 8% high, as a deliberately pessimistic estimator should.
- Prompt caching follows the API: the system blocks up to the last one marked ``cache_control``
  are the cached prefix, cached only when at least the model's minimum (1,024 tokens; 2,048 for
  Haiku 3 and 3.5; 4,096 for Haiku 4.5), for five minutes on the injected clock, refreshed by each
  read. A hit reports the prefix as ``cache_read_input_tokens``, a miss as
  ``cache_creation_input_tokens``; ``input_tokens`` excludes either, as the real API's does.
- Output tokens are what the caller planned with ``plan_reply()`` (the simulator draws them), or
  else a seeded lognormal draw around ``default_output_tokens``; either way cut at ``max_tokens``
  with ``stop_reason="max_tokens"``.
- Latency is planned or drawn, never slept: it is handed to the ``advance`` callback, which moves
  a simulated clock on.

It must not reach the network, sleep, import ``anthropic``, or know anything about budgets.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acme_ci_budget.catalog.pricing import min_cacheable_tokens
from acme_ci_budget.core.clock import Clock, utc_now

REAL_CHARS_PER_TOKEN = 3.8
MESSAGE_FRAMING_TOKENS = 3
CACHE_TTL = timedelta(minutes=5)
# Tokens per second of output and time to the first token, for drawn latencies.
OUTPUT_TOKENS_PER_SECOND = 70.0
FIRST_TOKEN_SECONDS = 0.6


def real_tokens(text: str) -> int:
    """The stand-in tokenizer's count for ``text`` (0 for empty text)."""
    return math.ceil(len(text) / REAL_CHARS_PER_TOKEN) if text else 0


def chars_for_tokens(tokens: int) -> int:
    """How many characters of plain text the stand-in tokenizer counts as ``tokens``."""
    return max(0, int(tokens * REAL_CHARS_PER_TOKEN))


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str
    type: str = "text"


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True, slots=True)
class OfflineMessage:
    """Shaped like ``anthropic.types.Message`` (the attributes the product reads, and the usual others)."""

    id: str
    model: str
    content: list[TextBlock]
    stop_reason: str
    usage: Usage
    stop_sequence: str | None = None
    type: str = "message"
    role: str = "assistant"


@dataclass(frozen=True, slots=True)
class TokensCount:
    """Shaped like ``anthropic.types.MessageTokensCount``."""

    input_tokens: int


@dataclass(frozen=True, slots=True)
class _Plan:
    output_tokens: int
    latency_ms: int | None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(_block_text(block) for block in content or ())


def _blocks(system: Any) -> list[Any]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"type": "text", "text": system}]
    return list(system)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    # `block.__class__ is dict` first: every simulated call passes here, and the ABC check costs ~10x more
    text = block.get("text") if block.__class__ is dict or isinstance(block, Mapping) else getattr(block, "text", None)
    return text if isinstance(text, str) else ""


def _marked(block: Any) -> bool:
    if block.__class__ is dict or isinstance(block, Mapping):
        return bool(block.get("cache_control"))
    return bool(getattr(block, "cache_control", None))


class _Messages:
    def __init__(self, owner: OfflineModel) -> None:
        self._owner = owner

    def create(self, **params: Any) -> OfflineMessage:
        return self._owner.create(**params)

    def count_tokens(self, *, model: str, messages: list[Mapping[str, Any]], system: Any = "", **_: Any) -> TokensCount:
        """All input tokens, cached or not, as the real endpoint counts them (the input a create would bill)."""
        return TokensCount(self._owner.count_input_tokens(messages, system))


class OfflineModel:
    """A Messages API stand-in: ``OfflineModel(...).messages.create(**params)``.

    ``clock`` (an aware datetime callable) times the prompt cache; ``advance`` receives each
    call's latency (a ``timedelta``) so a simulated clock can move on. ``seed`` seeds the draws
    used when no reply was planned. ``cache_min_tokens`` overrides the per-model minimum (0: cache
    any marked prefix).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        advance: Callable[[timedelta], None] | None = None,
        seed: int = 0,
        default_output_tokens: int = 400,
        cache_min_tokens: int | None = None,
    ) -> None:
        self.clock = clock or utc_now
        self.advance = advance
        self.rng = random.Random(seed)
        self.default_output_tokens = default_output_tokens
        self.cache_min_tokens = cache_min_tokens
        self.messages = _Messages(self)
        self.calls = 0
        self._plans: list[_Plan] = []
        self._cache: dict[tuple[str, str], datetime] = {}
        self._min_tokens: dict[str, int] = {}  # min_cacheable_tokens per model, looked up once

    def plan_reply(self, output_tokens: int, latency_ms: int | None = None) -> None:
        """The next call's reply: how many tokens the model wants to write (before ``max_tokens``)."""
        if output_tokens < 1:
            raise ValueError(f"output_tokens must be >= 1, got {output_tokens}")
        self._plans.append(_Plan(output_tokens, latency_ms))

    def clear_plans(self) -> None:
        """Forget planned replies no call consumed (the call was blocked before it was sent)."""
        self._plans.clear()

    def count_input_tokens(self, messages: Iterable[Mapping[str, Any]], system: Any = "") -> int:
        """All input tokens of a request by the stand-in tokenizer (cached or not)."""
        total = 0
        for block in _blocks(system):  # a loop, not sum(<generator>): twice per simulated call
            total += real_tokens(_block_text(block))
        for message in messages:
            total += MESSAGE_FRAMING_TOKENS + real_tokens(_text(message.get("content", "")))
        return total

    def create(
        self,
        *,
        model: str,
        max_tokens: int,
        messages: list[Mapping[str, Any]],
        system: Any = "",
        **_options: Any,
    ) -> OfflineMessage:
        if not model or not messages or max_tokens < 1:
            raise ValueError("model, messages and max_tokens >= 1 are required")
        self.calls += 1
        now = self.clock()
        total_in = self.count_input_tokens(messages, system)
        written, read = self._cache_use(model, system, now)
        plan = self._plans.pop(0) if self._plans else None
        wanted = plan.output_tokens if plan else self._draw_output()
        output = min(wanted, max_tokens)
        latency_ms = plan.latency_ms if plan and plan.latency_ms is not None else self.latency_ms(output)
        if self.advance is not None:
            self.advance(timedelta(milliseconds=latency_ms))
        return OfflineMessage(
            id=f"msg_offline_{self.calls:08d}",
            model=model,
            content=[TextBlock(f"[offline reply from {model}: {output} tokens]")],
            stop_reason="max_tokens" if wanted > max_tokens else "end_turn",
            usage=Usage(
                input_tokens=max(total_in - written - read, 1),
                output_tokens=output,
                cache_creation_input_tokens=written,
                cache_read_input_tokens=read,
            ),
        )

    @staticmethod
    def latency_ms(output_tokens: int) -> int:
        """A plausible wall time for a reply of ``output_tokens``."""
        return int((FIRST_TOKEN_SECONDS + output_tokens / OUTPUT_TOKENS_PER_SECOND) * 1000)

    def _draw_output(self) -> int:
        return max(1, int(self.rng.lognormvariate(math.log(self.default_output_tokens), 0.35)))

    def _cache_use(self, model: str, system: Any, now: datetime) -> tuple[int, int]:
        """(cache write tokens, cache read tokens) of this request's marked system prefix."""
        blocks = _blocks(system)
        last = len(blocks) - 1  # the last marked block, found from the end
        while last >= 0 and not _marked(blocks[last]):
            last -= 1
        if last < 0:
            return 0, 0
        prefix = "\n".join([_block_text(block) for block in blocks[: last + 1]])
        tokens = real_tokens(prefix)
        minimum = self.cache_min_tokens
        if minimum is None:
            minimum = self._min_tokens.get(model)
            if minimum is None:
                minimum = self._min_tokens[model] = min_cacheable_tokens(model)
        if tokens < minimum or tokens == 0:
            return 0, 0
        key = (model, prefix)
        hit = self._cache.get(key, now) > now
        self._cache[key] = now + CACHE_TTL
        return (0, tokens) if hit else (tokens, 0)
