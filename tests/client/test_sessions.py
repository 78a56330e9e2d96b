"""Sessions: history and loop steps through the real SDK + fake API + real Redis; compaction; hard stops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.result import ModelAPIError
from acme_ci_budget.client.sessions import SUMMARY_HEADER, Session, compact_history, split_turns
from acme_ci_budget.config import ConfigError, load_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, handler, server_error

HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
SYSTEM = "You are Acme's dev assistant."
# Every reply reports the same usage, so session token counts are exact: 120 a turn.
IN_TOKENS, OUT_TOKENS = 100, 20


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        n = sum(1 for m in request["messages"] if m["role"] == "user")
        return build_message(request, f"reply to user message {n}", input_tokens=IN_TOKENS, output_tokens=OUT_TOKENS)

    with FakeAnthropicServer(default=handler(reply)) as fake:
        yield fake


@pytest.fixture
def make_client(redis_url: str, server: FakeAnthropicServer, make_config):
    def build(session_tokens: dict | None = None, **workflow: Any) -> BudgetedClient:
        changes: dict[str, Any] = dict(workflow)
        if session_tokens:
            changes["per_session_tokens"] = session_tokens
        cfg = make_config({"workflows": {"dev_assistant": changes}})
        sdk = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
        return BudgetedClient(cfg, redis_url=redis_url, anthropic_client=sdk, alerts=False)

    return build


def _events(client: BudgetedClient) -> list[dict[str, str]]:
    raw = client.enforcer.redis.xrange(client.enforcer.keys.events())
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]


def test_turns_carry_history_session_id_user_and_loop_step(make_client, server) -> None:
    client = make_client()
    session = client.session("dev_assistant", "ana", system=SYSTEM)
    assert isinstance(session, Session)
    assert session.session_id.startswith("dev_assistant-")
    assert (session.soft_limit, session.hard_limit, session.max_loop_steps) == (60_000, 120_000, 30)  # the lab's
    replies = [session.send(text) for text in ("first question", "second question", "third question")]
    assert [r.content for r in replies] == [f"reply to user message {n}" for n in (1, 2, 3)]
    second = server.message_requests[1].json
    assert second["messages"] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "reply to user message 1"},
        {"role": "user", "content": "second question"},
    ]
    assert all(r.json["system"][0]["text"] == SYSTEM for r in server.message_requests)
    assert session.loop_step == 3
    assert session.tokens_used == 3 * (IN_TOKENS + OUT_TOKENS)
    assert client.enforcer.session_tokens(session.session_id) == session.tokens_used
    assert replies[-1].budget["session"]["tokens"] == 3 * (IN_TOKENS + OUT_TOKENS)
    assert replies[-1].budget["session"]["loop_step"] == 3
    calls = [e for e in _events(client) if e["type"] == "call"]
    assert [c["loop_step"] for c in calls] == ["1", "2", "3"]
    assert {c["session"] for c in calls} == {session.session_id}
    assert {c["user"] for c in calls} == {"ana"}
    status = session.status()
    assert status["turns"] == 3 and status["compactions"] == 0
    _day, month = client.enforcer.periods()
    stats = client.enforcer.redis.hgetall(client.enforcer.keys.stats(month))
    assert stats[b"sessions|dev_assistant"] == b"1"
    assert int(client.enforcer.redis.get(client.enforcer.keys.org_spent(month))) == 3 * cost_nano(HAIKU, 100, 20)
    assert client.enforcer.open_holds() == 0


def test_compaction_past_the_soft_limit_keeps_recent_turns_verbatim(make_client, server) -> None:
    client = make_client({"soft": 250, "hard": 100_000})
    session = client.session("dev_assistant", "ana", system=SYSTEM, keep_turns=2)
    for n in (1, 2, 3):
        session.send(f"question {n} " + "detail " * 60)
        # turns 1-3: at most two older turns exist, nothing to fold yet
        assert session.compactions == 0
    assert session.tokens_used == 360  # past the soft limit
    session.send("question 4")
    assert session.compactions == 1
    assert session.last_compaction.turns_compacted == 1
    assert session.last_compaction.tokens_after < session.last_compaction.tokens_before
    sent = server.message_requests[3].json["messages"]
    summary = sent[0]
    assert summary["role"] == "user"
    assert summary["content"].startswith(SUMMARY_HEADER + ": 1 turns summarised]")
    assert "- user: question 1 detail detail" in summary["content"]
    assert summary["content"].endswith("detail…\n- assistant: reply to user message 1")
    assert "- assistant: reply to user message 1" in summary["content"]
    # the last two turns verbatim, then the new question
    assert sent[1:] == [
        {"role": "user", "content": "question 2 " + "detail " * 60},
        {"role": "assistant", "content": "reply to user message 2"},
        {"role": "user", "content": "question 3 " + "detail " * 60},
        {"role": "assistant", "content": "reply to user message 3"},
        {"role": "user", "content": "question 4"},
    ]
    assert server.message_requests[3].json["system"][0]["text"] == SYSTEM  # never compacted
    # the next turn folds one more turn into the same single summary
    session.send("question 5")
    assert session.compactions == 2
    sent = server.message_requests[4].json["messages"]
    assert sent[0]["content"].startswith(SUMMARY_HEADER + ": 2 turns summarised]")
    assert "question 1" in sent[0]["content"] and "question 2" in sent[0]["content"]
    assert sum(1 for m in sent if m["content"].startswith(SUMMARY_HEADER)) == 1
    assert [m["content"] for m in sent[1:] if m["role"] == "user"] == [
        "question 3 " + "detail " * 60,
        "question 4",
        "question 5",
    ]


def test_no_compaction_below_the_soft_limit(make_client, server) -> None:
    client = make_client()
    session = client.session("dev_assistant", keep_turns=1)
    for n in range(5):
        session.send(f"q{n}")
    assert session.compactions == 0
    assert len(server.message_requests[-1].json["messages"]) == 9


def test_hard_limit_blocks_without_calling_the_api(make_client, server) -> None:
    client = make_client({"soft": 300, "hard": 600})
    session = client.session("dev_assistant", "ana", keep_turns=1)
    results = []
    for n in range(10):
        before = list(session.messages)
        result = session.send(f"question {n}", max_tokens=100)
        results.append(result)
        if result.budget_blocked:
            break
    blocked = results[-1]
    assert blocked.budget_blocked, "the hard limit never blocked"
    assert blocked.budget_reason == "session_token_limit_exceeded"
    assert "start a new session" in blocked.message
    sent_turns = len(results) - 1
    assert len(server.message_requests) == sent_turns
    assert session.tokens_used == sent_turns * 120
    assert session.tokens_used <= session.hard_limit
    assert session.loop_step == sent_turns
    # the blocked question is not in the history (which may have been compacted just before)
    assert {"role": "user", "content": f"question {sent_turns}"} not in session.messages
    assert session.messages[-2:] == before[-2:]
    assert session.messages[-2] == {"role": "user", "content": f"question {sent_turns - 1}"}
    assert client.enforcer.open_holds() == 0


def test_near_the_hard_limit_the_reply_is_capped_to_what_is_left(make_client, server) -> None:
    client = make_client({"soft": 100, "hard": 2100})
    session = client.session("dev_assistant", keep_turns=10)
    first = session.send("one")
    assert server.message_requests[0].json["max_tokens"] == 2048  # plenty left: the route's allowance
    assert not any("lowered" in w for w in first.warnings)
    history = [*session.messages, {"role": "user", "content": "two"}]
    left = 2100 - session.tokens_used - estimate_messages_tokens(history)
    second = session.send("two")
    assert server.message_requests[1].json["max_tokens"] == left < 2048
    assert f"max_tokens lowered from 2048 to {left} to fit" in second.warnings
    assert not second.budget_blocked


def test_loop_steps_are_limited_by_the_session_and_by_the_ledger(make_client, server) -> None:
    client = make_client(max_loop_steps=2)
    session = client.session("dev_assistant")
    session.send("one")
    session.send("two")
    third = session.send("three")
    assert third.budget_blocked and third.budget_reason == "loop_step_limit_exceeded"
    assert len(server.message_requests) == 2
    # a fresh Session object reusing the id cannot reset the count: the ledger keeps it
    again = Session(client, "dev_assistant", session_id=session.session_id)
    assert again.send("sneaky").budget_reason == "loop_step_limit_exceeded"
    assert len(server.message_requests) == 2


def test_a_failed_turn_uses_a_step_and_keeps_the_history(make_client, server) -> None:
    client = make_client()
    session = client.session("dev_assistant")
    session.send("one")
    server.enqueue(server_error())
    with pytest.raises(ModelAPIError):
        session.send("two")
    assert session.loop_step == 2
    assert [m["content"] for m in session.messages] == ["one", "reply to user message 1"]
    session.send("two again")
    assert session.loop_step == 3
    assert [c["loop_step"] for c in _events(client) if c["type"] == "call"] == ["1", "3"]
    assert client.enforcer.open_holds() == 0


def test_unknown_workflow_session_is_a_config_error(make_client) -> None:
    with pytest.raises(ConfigError, match="unknown workflow 'nope'"):
        make_client().session("nope")


# --- the compaction rule itself -------------------------------------------------------------------


def _conversation(turns: int) -> list[dict[str, str]]:
    messages = []
    for n in range(1, turns + 1):
        messages += [{"role": "user", "content": f"user says {n}"}, {"role": "assistant", "content": f"bot says {n}"}]
    return messages


def test_compact_history_is_a_no_op_within_keep_turns() -> None:
    history = _conversation(3)
    assert compact_history(history, keep_turns=3) == (history, 0)
    assert compact_history([], keep_turns=0) == ([], 0)


def test_compact_history_folds_older_turns_into_one_message() -> None:
    history = _conversation(5)
    compacted, folded = compact_history(history, keep_turns=2)
    assert folded == 3
    assert compacted[1:] == history[6:]
    assert compacted[0]["content"].splitlines() == [
        SUMMARY_HEADER + ": 3 turns summarised]",
        "- user: user says 1",
        "- assistant: bot says 1",
        "- user: user says 2",
        "- assistant: bot says 2",
        "- user: user says 3",
        "- assistant: bot says 3",
    ]
    # deterministic
    assert compact_history(history, keep_turns=2) == (compacted, folded)
    # the caller's list is untouched
    assert history == _conversation(5)


def test_compact_history_keep_zero_and_refolding() -> None:
    compacted, folded = compact_history(_conversation(2), keep_turns=0)
    assert folded == 2 and len(compacted) == 1
    again, folded_again = compact_history([*compacted, *_conversation(3)[4:]], keep_turns=0)
    assert folded_again == 1
    assert again[0]["content"].startswith(SUMMARY_HEADER + ": 3 turns summarised]")
    assert again[0]["content"].count("- user:") == 3


def test_summary_lines_are_clipped_and_bounded() -> None:
    long = [{"role": "user", "content": "word " * 500}, {"role": "assistant", "content": "x\n\ny " * 10}]
    compacted, _ = compact_history([*long, *_conversation(1)], keep_turns=1, line_chars=40)
    lines = compacted[0]["content"].splitlines()
    assert lines[1] == "- user: " + ("word " * 8).strip() + "…"
    assert "\n" not in lines[2][3:] and lines[2].startswith("- assistant: x y x y")
    many = _conversation(200)
    bounded, folded = compact_history(many, keep_turns=1, max_summary_tokens=100)
    assert folded == 199
    body = bounded[0]["content"].splitlines()
    assert body[1].endswith("oldest lines dropped)")
    assert estimate_tokens("\n".join(body[2:])) <= 100
    assert body[-1] == "- assistant: bot says 199"  # the most recent lines survive


def test_block_content_is_summarised_as_text() -> None:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "block text"}, {"type": "image", "source": {}}]},
        {"role": "assistant", "content": "ok"},
        *_conversation(1),
    ]
    compacted, _ = compact_history(history, keep_turns=1)
    assert "- user: block text" in compacted[0]["content"]


def test_split_turns_groups_replies_with_their_question() -> None:
    assert split_turns([]) == []
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "assistant", "content": "a1 continued"},
        {"role": "user", "content": "q2"},
    ]
    assert [len(t) for t in split_turns(history)] == [3, 1]
    # a history that starts with an assistant message still makes a first turn
    assert len(split_turns([{"role": "assistant", "content": "hi"}, *history])) == 3
