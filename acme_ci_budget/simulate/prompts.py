"""The simulator's request texts: filler prose, each workflow's system prompt, and a call's messages.

Owns the words a simulated call sends: neutral engineering filler (none of the lab's complexity
keywords, so routing by keyword is decided by the planned keyword alone), a stable system prompt
per workflow (``cacheable_input_tokens`` long, identical on every call so it can be prompt-cached),
and the messages of a planned call, sized by the stand-in tokenizer so the whole request is the
planned ``input_tokens``. It must not plan traffic (``simulate.traffic``), call the client or read
the ledger; everything here is a pure, deterministic function of its arguments.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Protocol

from acme_ci_budget.config import Workflow
from acme_ci_budget.simulate.offline_model import MESSAGE_FRAMING_TOKENS, chars_for_tokens, real_tokens

MIN_USER_TOKENS = 8


class PlannedCall(Protocol):
    """What ``build_messages`` reads of a planned call (``simulate.traffic.SimCall``)."""

    @property
    def workflow_id(self) -> str: ...

    @property
    def input_tokens(self) -> int: ...

    @property
    def keyword(self) -> str | None: ...

    @property
    def turn(self) -> int | None: ...


_VOCABULARY_TEXT = """
    the a of to and in for with on this that it is we be as
    by from at change function module value request response file line test tests case cases check
    returns return list map name field type input output error handler config option flag client server
    service call data record user page view form button table query result update add remove rename
    move keep use used using should would could must when if then else while each every
    before after new old current next previous first last small large simple clear short long fast
    slow safe valid empty missing default custom local remote shared public private inline helper util build
    run job step stage deploy release version branch commit review note comment docs readme example feature
    ticket story acceptance criteria edge path string number count
"""


@lru_cache(maxsize=1)
def _filler() -> str:
    """Neutral engineering prose (none of the lab's complexity keywords), generated once, deterministically."""
    rng = random.Random(20241022)
    vocabulary = _VOCABULARY_TEXT.split()
    words = []
    for i in range(40_000):
        word = rng.choice(vocabulary)
        words.append(word + ("." if i % 13 == 12 else ""))
    return " ".join(words)


def filler_text(chars: int) -> str:
    """About ``chars`` characters of filler, cut at a word boundary."""
    if chars <= 0:
        return ""
    base = _filler()
    text = base if len(base) >= chars else (base + " ") * (chars // len(base) + 1)
    text = text[:chars]
    cut = text.rfind(" ")
    return text[:cut] if cut > 0 else text


_QUESTIONS = {
    "ci_cd_review": "Review this pull request diff.",
    "dev_assistant": "Help me change the function below.",
    "qa_test_gen": "Write test cases for the ticket below.",
    "pm_assistant": "Draft the requirements for the feature below.",
}


@lru_cache(maxsize=64)
def _system_text(label: str, tokens: int) -> str:
    head = f"You are the {label} assistant of the Acme engineering team. "
    return head + filler_text(max(chars_for_tokens(tokens) - len(head), 0))


def system_prompt(wf: Workflow) -> str:
    """The workflow's stable system prompt, ``cacheable_input_tokens`` long by the stand-in tokenizer."""
    tokens = wf.inventory.cacheable_input_tokens if wf.inventory else 0
    return _system_text(wf.label, max(tokens, 20))


_ACK = "Understood."


def build_messages(call: PlannedCall, system: str) -> list[dict[str, str]]:
    """The request of ``call``, sized so the whole request is ``input_tokens`` by the stand-in tokenizer.

    A task, or a session's first turn, is one user message: the question, then the material
    (diff, code, ticket). A later turn carries the conversation so far as earlier messages and
    the new question last, as a real session's request does (the router's keyword rule reads the
    last user message only).
    """
    question = _QUESTIONS.get(call.workflow_id, "Help me with the task below.")
    if call.keyword:
        question += f" Pay particular attention to {call.keyword} here."
    user_tokens = max(call.input_tokens - real_tokens(system) - MESSAGE_FRAMING_TOKENS, MIN_USER_TOKENS)
    if call.turn is not None and call.turn > 1:
        history_tokens = user_tokens - real_tokens(question) - real_tokens(_ACK) - 2 * MESSAGE_FRAMING_TOKENS
        if history_tokens >= MIN_USER_TOKENS:
            return [
                {"role": "user", "content": filler_text(chars_for_tokens(history_tokens))},
                {"role": "assistant", "content": _ACK},
                {"role": "user", "content": question},
            ]
    body = filler_text(chars_for_tokens(user_tokens) - len(question) - 2)
    return [{"role": "user", "content": f"{question}\n\n{body}" if body else question}]
