"""Multi-turn sessions (dev and PM assistants): history, loop steps, session tokens and compaction.

Owns one conversation: its session id (which the ledger uses for the per-session token and
loop-step limits), the turn counter passed as ``loop_step``, the message history, and what to do
as the conversation grows. Every turn goes through the client's ``complete`` (a ``Completer``:
``BudgetedClient`` is one), so the ledger stays the one judge: this module never decides whether a
call may happen. It imports from ``client`` only ``result`` (never ``budgeted``, which imports it).

Compaction strategy (deterministic, extractive, no model call):
  When the session's tokens so far (the ledger's count, which grows by each turn's whole input and
  output) plus the next turn's estimated input would pass the workflow's soft
  ``per_session_tokens`` limit, the history is compacted before the turn is sent: the last
  ``keep_turns`` turns (a user message and the assistant replies after it) stay verbatim; every
  older turn becomes lines of ONE summary message at the front, each line the role and the first
  ``SUMMARY_LINE_CHARS`` characters of that message. A summary from an earlier compaction is
  folded into the new one. If the summary's estimate passes ``SUMMARY_MAX_TOKENS``, its oldest
  lines are dropped first. A compaction that would not shrink the history (short turns cost
  about as much as their summary lines) is skipped, and tried again at the next turn. The summary
  is a ``user`` message; the kept history also starts with a user message, and the Messages API
  combines consecutive user turns into one.
  Why not a model-written summary: it costs a call the session may not be able to afford near its
  limit, and a deterministic rule can be tested exactly. The system prompt is never compacted, so
  its prompt cache stays valid.
Near the hard limit a turn asks for at most the tokens the session has left (``max_tokens_cap``),
so the last of the allowance buys a shorter reply; with fewer than ``MIN_REPLY_TOKENS`` left, the
ledger blocks the turn (``session_token_limit_exceeded``) and it is not sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acme_ci_budget.client.result import ModelCallError
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens

if TYPE_CHECKING:
    from acme_ci_budget.client.result import Completer, CompletionResult

DEFAULT_KEEP_TURNS = 4
SUMMARY_LINE_CHARS = 200
SUMMARY_MAX_TOKENS = 600
SUMMARY_HEADER = "[Earlier conversation, compacted by acme-ci-budget"
# Below this many tokens of session headroom a reply is not worth asking for: the ledger blocks the turn.
MIN_REPLY_TOKENS = 256


@dataclass(frozen=True)
class Compaction:
    """What one compaction did: turns folded into the summary, and the history's estimate before/after."""

    turns_compacted: int
    tokens_before: int
    tokens_after: int


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, Mapping) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "\n".join(parts)


def split_turns(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group messages into turns: each user message starts one; the replies after it belong to it."""
    turns: list[list[dict[str, Any]]] = []
    for message in messages:
        if message.get("role") == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def _is_summary(message: Mapping[str, Any]) -> bool:
    return message.get("role") == "user" and _text(message.get("content")).startswith(SUMMARY_HEADER)


def _line(message: Mapping[str, Any], chars: int) -> str:
    text = " ".join(_text(message.get("content")).split())
    clipped = text if len(text) <= chars else text[:chars].rstrip() + "…"
    return f"- {message.get('role', 'user')}: {clipped}"


def compact_history(
    messages: list[dict[str, Any]],
    keep_turns: int = DEFAULT_KEEP_TURNS,
    line_chars: int = SUMMARY_LINE_CHARS,
    max_summary_tokens: int = SUMMARY_MAX_TOKENS,
) -> tuple[list[dict[str, Any]], int]:
    """The history with all but the last ``keep_turns`` turns folded into one summary message.

    Returns (new history, turns folded). Nothing changes (0 folded) when there are no older turns.
    """
    summary_lines: list[str] = []
    folded = 0
    rest = list(messages)
    if rest and _is_summary(rest[0]):
        previous = _text(rest[0]["content"]).splitlines()
        header, summary_lines = previous[0], previous[1:]
        folded = _folded_count(header)
        rest = rest[1:]
    turns = split_turns(rest)
    if len(turns) <= keep_turns:
        return list(messages), 0
    older = turns[: len(turns) - keep_turns] if keep_turns else turns
    kept = turns[len(older) :]
    summary_lines += [_line(m, line_chars) for turn in older for m in turn]
    total = folded + len(older)
    dropped = 0
    while summary_lines and estimate_tokens("\n".join(summary_lines)) > max_summary_tokens:
        summary_lines.pop(0)
        dropped += 1
    header = f"{SUMMARY_HEADER}: {total} turns summarised]"
    if dropped:
        summary_lines.insert(0, f"- ({dropped} oldest lines dropped)")
    summary = {"role": "user", "content": "\n".join([header, *summary_lines])}
    return [summary, *(m for turn in kept for m in turn)], len(older)


def _folded_count(header: str) -> int:
    digits = "".join(ch if ch.isdigit() else " " for ch in header[len(SUMMARY_HEADER) :]).split()
    return int(digits[0]) if digits else 0


class Session:
    """One conversation of a workflow: ``send(text)`` per turn; tokens and limits readable at any time."""

    def __init__(
        self,
        client: Completer,
        workflow_id: str,
        user_id: str | None = None,
        *,
        system: str = "",
        session_id: str | None = None,
        keep_turns: int = DEFAULT_KEEP_TURNS,
    ) -> None:
        self.client = client
        self.workflow = client.config.workflow(workflow_id)
        self.workflow_id = workflow_id
        self.user_id = user_id
        self.system = system
        self.session_id = session_id or f"{workflow_id}-{uuid.uuid4().hex[:12]}"
        self.keep_turns = keep_turns
        self.messages: list[dict[str, Any]] = []
        self.loop_step = 0
        self.compactions = 0
        self.last_compaction: Compaction | None = None
        self.last_result: CompletionResult | None = None

    @property
    def soft_limit(self) -> int:
        return self.workflow.per_session_tokens.soft

    @property
    def hard_limit(self) -> int:
        return self.workflow.per_session_tokens.hard

    @property
    def max_loop_steps(self) -> int:
        return self.workflow.max_loop_steps

    @property
    def tokens_used(self) -> int:
        """Tokens this session has used so far, as the ledger counts them (all calls, all kinds)."""
        return self.client.enforcer.session_tokens(self.session_id)

    def status(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "workflow": self.workflow_id,
            "tokens_used": self.tokens_used,
            "soft_limit": self.soft_limit,
            "hard_limit": self.hard_limit,
            "loop_step": self.loop_step,
            "max_loop_steps": self.max_loop_steps,
            "turns": len(split_turns(self.messages)),
            "compactions": self.compactions,
        }

    def compact(self) -> Compaction | None:
        """Fold older turns into the summary now (the strategy in the module docstring)."""
        before = estimate_messages_tokens(self.messages, self.system)
        compacted, folded = compact_history(self.messages, self.keep_turns)
        after = estimate_messages_tokens(compacted, self.system)
        if not folded or after >= before:
            # Short turns summarise to about their own size plus the header: keep them verbatim.
            return None
        self.messages = compacted
        self.compactions += 1
        self.last_compaction = Compaction(folded, before, after)
        return self.last_compaction

    def send(
        self, text: str, context: Mapping[str, Any] | None = None, max_tokens: int | None = None
    ) -> CompletionResult:
        """One turn: compact if the soft limit would pass, then complete through the budgeted client.

        A blocked turn leaves the history as it was. A turn whose call failed still used a loop
        step (the ledger counted it when it reserved), so the counter advances and the error propagates.
        """
        self.last_compaction = None
        user_message = {"role": "user", "content": text}
        used = self.tokens_used
        if used + estimate_messages_tokens([*self.messages, user_message], self.system) > self.soft_limit:
            self.compact()
        # Near the hard limit, ask for a shorter reply rather than be refused for the full allowance.
        remaining = self.hard_limit - used - estimate_messages_tokens([*self.messages, user_message], self.system)
        cap = remaining if remaining >= MIN_REPLY_TOKENS else None
        step = self.loop_step + 1
        try:
            result = self.client.complete(
                self.workflow_id,
                [*self.messages, user_message],
                system=self.system,
                context=context,
                session_id=self.session_id,
                user_id=self.user_id,
                loop_step=step,
                max_tokens=max_tokens,
                max_tokens_cap=cap,
            )
        except (ModelCallError, KeyboardInterrupt):
            # Reserved before it failed: the ledger counted the step.
            self.loop_step = step
            raise
        self.last_result = result
        if result.budget_blocked:
            return result
        self.loop_step = step
        # The API refuses an empty assistant turn in later requests.
        self.messages += [user_message, {"role": "assistant", "content": result.content or "(no text)"}]
        return result
