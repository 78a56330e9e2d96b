"""core/text.py: the one reader of message text, for requests (router, sessions) and replies (the client)."""

from __future__ import annotations

from anthropic.types import Message, TextBlock, ThinkingBlock, ToolUseBlock, Usage

from acme_ci_budget.client.budgeted import last_user_text
from acme_ci_budget.client.sessions import SUMMARY_HEADER, compact_history
from acme_ci_budget.core.text import block_text, content_text, reply_text


def _reply(*blocks) -> Message:
    return Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-haiku-5-5",
        content=list(blocks),
        stop_reason="end_turn",
        stop_sequence=None,
        usage=Usage(input_tokens=1, output_tokens=1),
    )


def test_content_text_reads_strings_dicts_and_sdk_blocks_and_only_text_blocks() -> None:
    assert content_text("plain") == "plain"
    assert content_text(None) == "" and content_text([]) == ""
    blocks = [
        {"type": "text", "text": "one"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"text": "untyped"},
        {"type": "text", "text": ""},
        TextBlock(type="text", text="two"),
        ToolUseBlock(type="tool_use", id="toolu_1", name="f", input={"text": "not text"}),
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "not read here"},
    ]
    assert content_text(blocks) == "one\nuntyped\ntwo"
    assert content_text(blocks, sep=" ") == "one untyped two"
    assert block_text({"type": "document", "text": "x"}) == "" and block_text(TextBlock(type="text", text="t")) == "t"


def test_reply_text_joins_as_the_sdk_get_final_text_does() -> None:
    reply = _reply(
        ThinkingBlock(type="thinking", thinking="hidden", signature="sig"),
        TextBlock(type="text", text="first "),
        ToolUseBlock(type="tool_use", id="toolu_1", name="f", input={}),
        TextBlock(type="text", text="second"),
    )
    # anthropic's MessageStream.get_final_text: "".join(b.text for b in content if b.type == "text")
    assert reply_text(reply) == "".join(b.text for b in reply.content if b.type == "text") == "first second"
    assert reply_text(_reply()) == ""


def test_the_router_reads_the_last_user_message_through_it() -> None:
    messages = [
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": [{"type": "text", "text": "new"}, TextBlock(type="text", text="question")]},
    ]
    assert last_user_text(messages) == "new\nquestion"


def test_compaction_summarises_sdk_reply_blocks_kept_in_the_history() -> None:
    """Before: sessions had their own reader that skipped SDK blocks, so a history holding a reply's
    ``content`` as the SDK returned it was summarised as "- assistant: " with no text."""
    history = [
        {"role": "user", "content": "What does the ledger own?"},
        {"role": "assistant", "content": [TextBlock(type="text", text="The Redis keys and the Lua scripts.")]},
        {"role": "user", "content": "And the client?"},
        {"role": "assistant", "content": "The SDK calls."},
    ]
    compacted, folded = compact_history(history, keep_turns=1)
    assert folded == 1
    summary = compacted[0]["content"]
    assert summary.startswith(SUMMARY_HEADER)
    assert "- assistant: The Redis keys and the Lua scripts." in summary.splitlines()
