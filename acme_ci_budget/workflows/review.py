"""The code review workflow: a diff in, review comments out, in a stable structured form.

Owns the review task's shape: the system prompt (``templates/prompts/review_system.md.j2``,
stable so it is prompt-cached), the per-PR message (``review_task.md.j2``) in which everything
the PR's author wrote (title, description, file names, diff) sits between markers carrying a
random token, so the PR's text cannot end the data block and pass for instructions; fitting the
diff to the workflow's per-task soft token target (``diffs.clip_diff`` does the clipping, this
module sizes its budget so the whole request fits); the routing context, which describes the
change (its paths and its size before clipping) and never its title or description, so the
router routes on what the change is (``router.change_rule``); and
calling: the answer is read by ``review_answer`` into ``Review`` / ``Finding``. A reply cut (``max_tokens``,
``model_context_window_exceeded``) or refused (``refusal``) is marked ``ReviewOutcome.incomplete``
and read for what arrived whole, never a half finding; a refusal's other text is dropped.
``pause_turn`` needs server tools, which no review request sends, so it is not handled.

It is a thin layer on the budgeted client, used through ``client.result``'s protocols (``Completer`` to
call, ``ChangeRouter`` for whether the change escalates; the runs hand them in): it must not import the
client's other modules, reserve, price, call GitHub, or print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acme_ci_budget.client.result import CHANGE_TOKENS, CHANGED_PATHS
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.tokens import estimate_messages_tokens, estimate_tokens
from acme_ci_budget.diffs.change import FileChange
from acme_ci_budget.diffs.clip import ClippedDiff, clip_diff
from acme_ci_budget.diffs.policy import SECURITY_GLOBS, DiffPolicy
from acme_ci_budget.diffs.render import render_file
from acme_ci_budget.workflows import (
    REVIEW_SYSTEM,
    REVIEW_TASK,
    PromptTemplates,
    data_delimiters,
    default_templates,
)
from acme_ci_budget.workflows._task import TaskRequest, complete
from acme_ci_budget.workflows.review_answer import SEVERITIES as SEVERITIES
from acme_ci_budget.workflows.review_answer import Finding as Finding
from acme_ci_budget.workflows.review_answer import Review, clip_text, parse_review

if TYPE_CHECKING:
    from acme_ci_budget.client.result import ChangeRouter, Completer, CompletionResult

WORKFLOW_ID = "ci_cd_review"
# The prompt lists at most this many omitted files by name; the rest are counted.
MAX_OMITTED_LISTED = 40
MAX_DESCRIPTION_CHARS = 2000
MAX_TITLE_CHARS = 300
MAX_PATH_CHARS = 200
_FIT_ROUNDS = 5
# stop_reason values (the Messages API's StopReason) after which the reply is not a whole review.
CUT_STOP_REASONS = frozenset({"max_tokens", "model_context_window_exceeded"})
INCOMPLETE_CUT, INCOMPLETE_REFUSED = "cut", "refused"


@dataclass(frozen=True)
class ReviewSubject:
    """What the prompt says about the pull request besides the diff (all of it untrusted)."""

    title: str = ""
    description: str = ""
    repository: str = ""
    number: int | None = None
    scope: str = ""  # e.g. "only the commits pushed since abc1234"


@dataclass(frozen=True)
class ReviewRequest(TaskRequest):
    """A review ready to send (system prompt, messages, routing context), with the diff and sizes it was fitted to.

    ``escalation`` is why the change goes to the complex model (its paths or size), "" when it does not."""

    clipped: ClippedDiff
    input_tokens: int
    reserve_output_tokens: int
    not_listed: int = 0
    escalation: str = ""

    @property
    def user_text(self) -> str:
        return str(self.messages[-1]["content"])



def incomplete_kind(stop_reason: str | None) -> str:
    """"cut" (the output limit or the context window ended the reply), "refused" (the API's classifiers
    stopped it), or "" (it ended on its own: ``end_turn``, ``stop_sequence``, or no reason given)."""
    if stop_reason in CUT_STOP_REASONS:
        return INCOMPLETE_CUT
    return INCOMPLETE_REFUSED if stop_reason == "refusal" else ""


@dataclass(frozen=True)
class ReviewOutcome:
    request: ReviewRequest
    result: CompletionResult
    review: Review | None = None  # None when the call was blocked

    @property
    def incomplete(self) -> str:
        """Why the reply is not a whole review ("cut", "refused"), or "" (see ``incomplete_kind``)."""
        return incomplete_kind(self.result.stop_reason)


@dataclass(frozen=True)
class Escalation:
    """The change as the router sees it, and why it goes to the complex model ("" : it does not).

    ``changed_paths``: every path the change touches (old names of renames too, excluded files
    too: a changed ``*.pem`` matters though it is never sent); ``change_tokens``: the reviewable
    diff's size before clipping (a large change clipped to fit is still a large change)."""

    reason: str = ""
    changed_paths: tuple[str, ...] = field(default_factory=tuple)
    change_tokens: int = 0

    @property
    def context(self) -> dict[str, Any]:
        return {CHANGED_PATHS: self.changed_paths, CHANGE_TOKENS: self.change_tokens}


# --- policy and escalation ----------------------------------------------------------------------


def policy_from_config(config: Config) -> DiffPolicy:
    """The diff policy the config's ``review:`` section describes; ``escalate_globs`` count as security paths."""

    review = config.review
    return DiffPolicy(
        exclude=review.exclude,
        include=review.include,
        max_file_bytes=review.max_file_bytes,
        security_globs=SECURITY_GLOBS + tuple(review.escalate_globs),
    )


def escalation(files: Sequence[FileChange], workflow: Workflow, policy: DiffPolicy, router: ChangeRouter) -> Escalation:
    """The routing context of the change and, from the router's own rule (``router``: the runs hand in
    ``client.router.TaskRouter``), whether it escalates.

    Only the change decides: its paths (``routing.complex_paths``) and the size of the whole
    reviewable diff before clipping (``routing.threshold_tokens``); never the PR's title or text.
    """

    paths = tuple(dict.fromkeys(p for f in files for p in (f.path, f.previous_path) if p))
    reviewable = [f for f in files if policy.exclusion_reason(f) is None]
    full = sum(estimate_tokens(render_file(f)) for f in reviewable)
    hit = router.change_rule(workflow.id, paths, full)
    return Escalation(hit[1] if hit else "", paths, full)


# --- building the request -----------------------------------------------------------------------


def _safe_path(path: str) -> str:
    """A file name as one printable line (names are the PR author's text, and may hold newlines)."""
    text = "".join(c if c.isprintable() else "?" for c in path)
    return text if len(text) <= MAX_PATH_CHARS else text[: MAX_PATH_CHARS - 1] + "…"


def render_request(
    clipped: ClippedDiff,
    templates: PromptTemplates | None = None,
    subject: ReviewSubject | None = None,
    *,
    escalation_reason: str = "",
    not_listed: int = 0,
    delimiters: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """(system, user message) for a clipped diff."""
    templates = templates or default_templates()
    subject = subject or ReviewSubject()
    begin, end = delimiters or data_delimiters()
    omitted = [{"path": _safe_path(p), "reason": r} for p, r in clipped.omitted[:MAX_OMITTED_LISTED]]
    system = templates.render(REVIEW_SYSTEM)
    user = templates.render(
        REVIEW_TASK,
        begin=begin,
        end=end,
        repository=subject.repository,
        number=subject.number,
        title=clip_text(" ".join(subject.title.split()), MAX_TITLE_CHARS),
        description=clip_text(subject.description.strip(), MAX_DESCRIPTION_CHARS),
        scope=subject.scope,
        diff=clipped.text.rstrip("\n"),
        files_included=len(clipped.included),
        omitted=omitted,
        omitted_more=max(0, len(clipped.omitted) - MAX_OMITTED_LISTED),
        not_listed=not_listed,
        escalation=escalation_reason,
    )
    return system, user


def fit_request(
    files: Sequence[FileChange],
    config: Config,
    workflow: Workflow,
    templates: PromptTemplates | None = None,
    subject: ReviewSubject | None = None,
    *,
    router: ChangeRouter,
    policy: DiffPolicy | None = None,
    not_listed: int = 0,
) -> ReviewRequest:
    """Clip the diff so the whole request (prompt + diff + the largest output the router may allow)
    stays within the workflow's per-task soft token target, and build the request. ``router`` says
    whether the change escalates (the prompt names why).

    The diff's budget starts at the soft target minus the prompt around it and the output
    allowance, then shrinks by any excess the rendered request shows (the omitted-files list
    grows as files are dropped) until it fits.
    """
    templates = templates or default_templates()
    policy = policy or policy_from_config(config)
    soft = workflow.per_task_tokens.soft
    reserve_output = max(workflow.routing.max_tokens.values())
    delimiters = data_delimiters()
    empty = clip_diff([], 0, policy)
    system, user = render_request(empty, templates, subject, not_listed=not_listed, delimiters=delimiters)
    overhead = estimate_messages_tokens([{"role": "user", "content": user}], system)
    budget = max(0, soft - overhead - reserve_output)
    clipped = clip_diff(files, budget, policy)
    esc = escalation(files, workflow, policy, router)
    for round_ in range(_FIT_ROUNDS + 1):
        system, user = render_request(
            clipped, templates, subject, escalation_reason=esc.reason, not_listed=not_listed, delimiters=delimiters
        )
        messages = ({"role": "user", "content": user},)
        total = estimate_messages_tokens(messages, system)
        excess = total + reserve_output - soft
        if excess <= 0 or budget == 0 or round_ == _FIT_ROUNDS:
            break
        budget = max(0, budget - excess)
        clipped = clip_diff(files, budget, policy)
    return ReviewRequest(
        system=system,
        messages=messages,
        context=esc.context,
        clipped=clipped,
        input_tokens=total,
        reserve_output_tokens=reserve_output,
        not_listed=not_listed,
        escalation=esc.reason,
    )


# --- calling ------------------------------------------------------------------------------------


def run(
    client: Completer,
    request: ReviewRequest,
    workflow_id: str = WORKFLOW_ID,
    *,
    user_id: str | None = None,
    task_id: str | None = None,
    timeout: float | None = None,
) -> ReviewOutcome:
    """One budgeted review call; a blocked call comes back with ``review=None``. Model errors propagate."""
    result = complete(client, request, workflow_id, user_id=user_id, task_id=task_id, timeout=timeout)
    if result.budget_blocked:
        return ReviewOutcome(request, result, None)
    kind = incomplete_kind(result.stop_reason)
    review = parse_review(result.content, request.clipped.included, partial=bool(kind))
    if kind == INCOMPLETE_REFUSED and not review.structured:
        # What streamed before a refusal is not a review; the comment says the model declined.
        review = Review("", (), True)
    return ReviewOutcome(request, result, review)
