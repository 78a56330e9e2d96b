"""The developer coding assistant workflow: interactive sessions under the ``dev_assistant`` budget.

Owns the assistant's system prompt (``templates/prompts/dev_assistant_system.md.j2``, stable per
session so it is prompt-cached) and the shape of one question: the question, then any attached
code in a fence longer than any backtick run inside it, labelled with its path, so pasted code
stays code. Sessions, compaction, loop steps and the per-session limits are
``acme_ci_budget.client.sessions``' and the ledger's; this module only starts a session and shapes turns.

It must not reserve, price or print.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from acme_ci_budget.workflows import DEV_SYSTEM, PromptTemplates, default_templates

if TYPE_CHECKING:
    from acme_ci_budget.client.result import CompletionResult, Conversation, ConversationT, SessionStarter

WORKFLOW_ID = "dev_assistant"


def system_prompt(templates: PromptTemplates | None = None) -> str:
    return (templates or default_templates()).render(DEV_SYSTEM).strip()


def fence(code: str, language: str = "") -> str:
    """``code`` in a Markdown fence that no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = code if code.endswith("\n") else code + "\n"
    return f"{ticks}{language}\n{body}{ticks}"


def format_question(question: str, code: str | None = None, path: str | None = None, language: str = "") -> str:
    """One turn's text: the question, then the attached code (if any) labelled with its path."""
    text = question.strip()
    if code:
        label = f"File `{path}`:" if path else "Code:"
        text += f"\n\n{label}\n{fence(code, language)}"
    return text


def start(
    client: SessionStarter[ConversationT],
    user_id: str | None = None,
    *,
    workflow_id: str = WORKFLOW_ID,
    templates: PromptTemplates | None = None,
    session_id: str | None = None,
) -> ConversationT:
    """A new assistant session with the workflow's system prompt."""
    return client.session(workflow_id, user_id, system=system_prompt(templates), session_id=session_id)


def ask(
    session: Conversation,
    question: str,
    *,
    code: str | None = None,
    path: str | None = None,
    language: str = "",
    context: Mapping[str, Any] | None = None,
) -> CompletionResult:
    """One turn of the session (blocked turns come back with ``budget_blocked``; see ``Session.send``)."""
    return session.send(format_question(question, code, path, language), context=context)
