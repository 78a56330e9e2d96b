"""The review's words on the PR: the one sticky comment, its review section, and the inline comments.

Owns rendering the sticky comment from the ``review_comment`` template (status, findings, scope,
files left out, the run's model and cost, the PR's cost so far across pushes, the budget gauge, the
earlier review kept for an incremental one), the markers that carry the workflow and the reviewed
head, reading the review section back out of an earlier comment, the note on a reply that was cut or
refused (``incomplete_note``; such a comment keeps the earlier head and the earlier review as its
review section, so the next push reviews those commits again and folds the last whole review), and
posting inline comments on the changed lines.
Every text from the PR or the model is neutralized before it reaches Markdown. It must not decide
whether to post (the run does), call the model, or read the ledger; GitHub calls go through ``integrations.github``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acme_ci_budget.config import Config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.integrations import gha
from acme_ci_budget.integrations.github import (
    GitHubError,
    changed_paths,
    md_code,
    neutralize,
    state_marker,
    sticky_marker,
)
from acme_ci_budget.runs.summary import Gauge, pr_spend_text
from acme_ci_budget.workflows import REVIEW_COMMENT
from acme_ci_budget.workflows.review import INCOMPLETE_REFUSED, MAX_OMITTED_LISTED

SEVERITY_ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "info": "⚪"}
REVIEW_START = "<!-- acme-ci-budget:review-body -->"
REVIEW_END = "<!-- acme-ci-budget:review-body-end -->"
# A cut reply that is not the JSON asked for is shown as received, up to this many characters.
MAX_RAW_CHARS = 20_000


@dataclass(frozen=True)
class CommentFrame:
    """What every comment of one run shares: the workflow, its config and templates, the earlier comment."""

    workflow_id: str
    config: Config
    templates: Any
    sticky: Any = None  # the earlier sticky comment, or None
    config_source: str = ""
    config_notice: str = ""


def review_section(body: str) -> str:
    """The review part of an earlier sticky comment (between the body markers), or ""."""
    start = body.find(REVIEW_START)
    end = body.find(REVIEW_END, start + 1) if start != -1 else -1
    if start == -1 or end == -1:
        return ""
    return body[start + len(REVIEW_START) : end].strip()


def incomplete_note(kind: str, stop_reason: str | None, review: Any) -> str:
    """What the comment, the job summary and the warning say about a reply that is not a whole review.
    Fixed text only: the model's words never reach an annotation."""
    if kind == INCOMPLETE_REFUSED:
        what = f'The model declined to review this change (stop_reason "{stop_reason}")'
        shown = "; the findings it wrote before it stopped are shown" if review is not None and review.findings else ""
    else:
        what = f'The model\'s reply was cut off (stop_reason "{stop_reason}")'
        if review is not None and not review.structured:
            shown = "; it could not be read as a review and is shown as received"
        else:
            shown = "; only what arrived complete is shown"
        if stop_reason == "max_tokens":
            shown += " (if this recurs, raise the workflow's routing max_tokens)"
    return (
        f"{what}{shown}. The call was billed. These commits are not recorded as reviewed: "
        "the next run (a re-run or the next push) reviews them again."
    )


def _fenced(text: str) -> str:
    """Untrusted multi-line text as a code block no backtick run inside it can close."""
    text = neutralize(text if len(text) <= MAX_RAW_CHARS else text[: MAX_RAW_CHARS - 1] + "…")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _findings_view(review: Any) -> dict[str, Any]:
    findings = []
    for f in review.findings:
        where = ""
        if f.path:
            where = md_code(f.path) + (f" line {f.line}" if f.line else "")
        findings.append(
            {
                "icon": SEVERITY_ICONS.get(f.severity, ""),
                "severity": f.severity,
                "where": where,
                "title": neutralize(f.title),
                "body": neutralize(f.body),
            }
        )
    return {"summary": neutralize(review.summary), "findings": findings, "structured": review.structured}


def _run_view(result: Any) -> dict[str, str]:
    return {
        "model": md_code(result.model),
        "route_reason": neutralize(result.route_reason),
        "input_tokens": f"{result.input_tokens:,}",
        "output_tokens": f"{result.output_tokens:,}",
        "cache_read": f"{result.cache_read_input_tokens:,}",
        "cache_write": f"{result.cache_creation_input_tokens:,}",
        "cost": fmt_usd(result.cost_nano, 4),
    }


def render_comment(
    frame: CommentFrame,
    status: str,
    *,
    request: Any,
    scope: Mapping[str, Any],
    head: str | None,
    message: str = "",
    review: Any = None,
    result: Any = None,
    gauge: Gauge | None = None,
    inline: Any = None,
    incomplete: str = "",
    pr_spend: Any = None,
) -> str:
    """The sticky comment's body. ``head``: the SHA to record as reviewed; None keeps what the earlier
    comment recorded (a block, a failure, a cut or refused reply reviewed nothing whole).
    ``incomplete`` ("cut" / "refused", status "incomplete"): the review shown is what arrived, and the
    earlier review stays the comment's review section. ``pr_spend``: what the PR's reviews cost so far
    (``summary.read_pr_spend``), shown next to this run's cost."""
    clipped = request.clipped
    previous_head = frame.sticky.reviewed_head if frame.sticky is not None else None
    recorded = head or previous_head
    previous = ""
    if frame.sticky is not None and (status != "reviewed" or scope.get("incremental")):
        previous = review_section(frame.sticky.body)
    wf = frame.config.workflows.get(frame.workflow_id)
    text = frame.templates.render(
        REVIEW_COMMENT,
        status=status,
        message=neutralize(message),
        review=_findings_view(review) if review is not None else None,
        # A cut reply that is not JSON is shown as received, fenced: its half-open fences, tables or
        # lists cannot swallow the rest of the comment.
        raw=_fenced(review.summary) if incomplete and review is not None and not review.structured else "",
        incomplete=incomplete,
        # The scope describes what was reviewed (or sent, for a cut reply); a block or a failure reviewed nothing.
        scope={
            "incremental": bool(scope.get("incremental")),
            "text": neutralize(scope.get("text", "")) if status in ("reviewed", "incomplete") else "",
        },
        omitted=[{"path": md_code(p), "reason": r} for p, r in clipped.omitted[:MAX_OMITTED_LISTED]],
        omitted_more=max(0, len(clipped.omitted) - MAX_OMITTED_LISTED),
        not_listed=request.not_listed,
        run=_run_view(result) if result is not None else None,
        budget=gauge.template() if gauge is not None else None,
        pr_total=pr_spend_text(pr_spend) if pr_spend is not None else "",
        previous=previous,
        previous_head=md_code(previous_head[:12]) if previous_head else "",
        inline=inline,
        escalation=neutralize(request.escalation),
        workflow_label=wf.label if wf else frame.workflow_id,
        config_source=md_code(frame.config_source, 300),
        config_notice=neutralize(frame.config_notice),
        review_start=REVIEW_START,
        review_end=REVIEW_END,
    )
    return f"{sticky_marker(frame.workflow_id)}\n{state_marker(recorded)}\n{text}"


def inline_text(finding: Any) -> str:
    """One finding as an inline comment on its line."""
    icon = SEVERITY_ICONS.get(finding.severity, "")
    return f"{icon} **{finding.severity}: {neutralize(finding.title)}**\n\n{neutralize(finding.body)}"


def post_inline(api: Any, review: Any, files: Any, head_sha: str | None) -> Any:
    """Inline comments for the findings on changed lines; None when there is nothing to post or GitHub
    refused (a warning: the sticky comment still carries every finding)."""
    if api is None or head_sha is None or not review.findings:
        return None
    try:
        result = api.post_inline(review.findings, head_sha, changed_paths(files), inline_text)
    except GitHubError as exc:
        gha.warning(f"inline comments not posted: {exc}", title="acme-ci-budget review")
        return None
    if result.error:
        gha.warning(f"some inline comments were refused: {result.error}", title="acme-ci-budget review")
    return result
