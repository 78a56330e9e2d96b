"""core.tokens: the estimator's figures for every shape of content (its string fast path included)."""

from __future__ import annotations

from types import SimpleNamespace

from acme_ci_budget.core.tokens import (
    CHARS_PER_TOKEN,
    MESSAGE_OVERHEAD_TOKENS,
    estimate_messages_tokens,
    estimate_tokens,
)


class Text(str):
    """A str subclass, as some callers hand in: counted as the string it is."""


def test_estimate_tokens_rounds_up_at_3_5_characters_a_token() -> None:
    assert [estimate_tokens(""), estimate_tokens("a"), estimate_tokens("abc"), estimate_tokens("abcd")] == [0, 1, 1, 2]
    assert estimate_tokens("x" * 700) == 200 and estimate_tokens("x" * 701) == 201


def test_every_content_shape_is_counted_as_its_text() -> None:
    text = "x" * 100
    blocks = [{"type": "text", "text": text}, SimpleNamespace(type="text", text=text)]
    shapes = {
        "string": (text, estimate_tokens(text)),
        "empty string": ("", 0),
        "str subclass": (Text(text), estimate_tokens(text)),
        "blocks": (blocks, estimate_tokens(f"{text}\n{text}")),
        "tuple of blocks": (tuple(blocks), estimate_tokens(f"{text}\n{text}")),
    }
    for name, (content, tokens) in shapes.items():
        got = estimate_messages_tokens([{"role": "user", "content": content}])
        assert got == MESSAGE_OVERHEAD_TOKENS + tokens, name
    assert estimate_messages_tokens([{"role": "user"}]) == MESSAGE_OVERHEAD_TOKENS  # no content at all


def test_the_system_prompt_and_every_message_add_up() -> None:
    messages = [{"role": "user", "content": "a" * 35}, {"role": "assistant", "content": [{"type": "text", "text": "b" * 7}]}]
    expected = estimate_tokens("s" * 70) + 2 * MESSAGE_OVERHEAD_TOKENS + int(35 / CHARS_PER_TOKEN) + 2
    assert estimate_messages_tokens(messages, "s" * 70) == expected
