"""The QA test generation workflow: a feature ticket in, a test plan with test cases in Markdown out.

Owns the task's shape: the system prompt (``templates/prompts/qa_testgen_system.md.j2``) and the
ticket message (``qa_testgen_task.md.j2``, the ticket between markers with a random token, since
a ticket is someone else's text), the routing hint (Sonnet by default as the config's
``qa_test_gen`` routing says; a ticket marked simple goes to the simple model, Haiku), and
cleaning the answer into a Markdown document.

A ticket is "marked simple" by a field line such as ``Complexity: simple``, ``Size: simple``,
``Labels: ui, simple``, or a ``[simple]`` tag in its first line; the caller may also force it.

It is a thin layer on ``BudgetedClient``: it must not reserve, price, write files or print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.workflows import QA_SYSTEM, QA_TASK, PromptTemplates, data_delimiters, default_templates
from acme_ci_budget.workflows._task import TaskRequest, complete

if TYPE_CHECKING:

    from acme_ci_budget.client.result import Completer, CompletionResult

WORKFLOW_ID = "qa_test_gen"
MAX_TICKET_CHARS = 60_000

_SIMPLE_FIELD = re.compile(
    r"^\s*(?:[-*]\s*)?(?:complexity|size|effort|labels?|tags?|type)\s*[:=]\s*(?P<value>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_SIMPLE_WORD = re.compile(r"(?<![\w-])simple(?![\w-])", re.IGNORECASE)
_SIMPLE_TAG = re.compile(r"\[\s*simple\s*\]", re.IGNORECASE)


@dataclass(frozen=True)
class QARequest(TaskRequest):
    simple: bool


@dataclass(frozen=True)
class TestPlan:
    __test__ = False  # not a pytest test class, despite the name

    markdown: str
    result: CompletionResult
    request: QARequest

    @property
    def blocked(self) -> bool:
        return self.result.budget_blocked


def is_simple_ticket(ticket: str) -> bool:
    """True when the ticket marks itself simple (a complexity/size/labels field, or a ``[simple]`` tag up top)."""
    first_line = ticket.strip().split("\n", 1)[0] if ticket.strip() else ""
    if _SIMPLE_TAG.search(first_line):
        return True
    return any(_SIMPLE_WORD.search(m.group("value")) for m in _SIMPLE_FIELD.finditer(ticket))


def build_request(
    ticket: str,
    templates: PromptTemplates | None = None,
    *,
    ticket_id: str = "",
    simple: bool | None = None,
) -> QARequest:
    """System prompt, the ticket message and the routing context (``is_simple`` for tickets marked simple)."""
    text = (ticket or "").strip()
    if not text:
        raise UsageError("the ticket is empty: give --ticket-file or --ticket-text")
    if len(text) > MAX_TICKET_CHARS:
        raise UsageError(
            f"the ticket is {len(text):,} characters; the limit is {MAX_TICKET_CHARS:,} (summarise it or split it)"
        )
    templates = templates or default_templates()
    is_simple = is_simple_ticket(text) if simple is None else simple
    begin, end = data_delimiters()
    system = templates.render(QA_SYSTEM)
    user = templates.render(QA_TASK, begin=begin, end=end, ticket=text, ticket_id=ticket_id)
    context = {"is_simple": True} if is_simple else {}
    return QARequest(system, ({"role": "user", "content": user},), context, is_simple)


def clean_markdown(text: str) -> str:
    """The plan as a Markdown document: a wrapping ```markdown fence some models add is removed."""
    body = (text or "").strip()
    fenced = re.fullmatch(r"```(?:markdown|md)?[ \t]*\n(.*?)\n?```", body, re.DOTALL | re.IGNORECASE)
    if fenced:
        body = fenced.group(1).strip()
    return body + "\n" if body else ""


def generate(
    client: Completer,
    ticket: str,
    workflow_id: str = WORKFLOW_ID,
    *,
    templates: PromptTemplates | None = None,
    ticket_id: str = "",
    simple: bool | None = None,
    user_id: str | None = None,
    task_id: str | None = None,
    timeout: float | None = None,
) -> TestPlan:
    """One budgeted call; on a block ``markdown`` is empty and ``result.budget_blocked`` is set."""
    request = build_request(ticket, templates, ticket_id=ticket_id, simple=simple)
    result = complete(client, request, workflow_id, user_id=user_id, task_id=task_id, timeout=timeout)
    markdown = "" if result.budget_blocked else clean_markdown(result.content)
    return TestPlan(markdown, result, request)
