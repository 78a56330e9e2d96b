"""Sending a one-shot workflow request (a review, a QA ticket) through ``BudgetedClient``.

Owns what a built request is (``TaskRequest``: system prompt, messages, routing context; the
review and QA requests extend it) and its one mapping onto ``BudgetedClient.complete``, so the
task workflows send their requests alike. It must not build prompts, parse answers, reserve,
price or print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    from acme_ci_budget.client.result import Completer, CompletionResult


@dataclass(frozen=True)
class TaskRequest:
    """A one-shot request ready to send: system prompt, messages, and the routing context."""

    system: str
    messages: tuple[Mapping[str, Any], ...]
    context: Mapping[str, Any]


def complete(
    client: Completer,
    request: TaskRequest,
    workflow_id: str,
    *,
    user_id: str | None = None,
    task_id: str | None = None,
    timeout: float | None = None,
) -> CompletionResult:
    """One budgeted call for ``request``; an empty routing context is sent as none."""
    return client.complete(
        workflow_id,
        list(request.messages),
        system=request.system,
        context=dict(request.context) or None,
        user_id=user_id,
        task_id=task_id,
        timeout=timeout,
    )
