"""One ``acme-ci-budget review`` run, a PR or a local diff: the order of its steps (``run_review``).

Owns the order of a review run: find the PR and apply the skip policy (``target``), read the config
and templates from the base branch (``base_config``), choose the scope, fit the diff to the task's
token target (``workflows.review``), preview it (``preview``) or route, reserve, call and settle it
through ``BudgetedClient`` under the deadline (``calls``), post the one sticky comment and optional
inline comments (``comment``), and report the run as step outputs, a job summary and annotations
(``summary``). A reply that did not end on its own (cut at ``max_tokens`` or the context window, or a
``refusal``) is charged and posted as far as it is usable, with a warning, but keeps the previously
recorded head, so those commits are reviewed again (``pause_turn`` needs server tools, which no
review request sends). It must not hold any of those jobs' rules itself: budget limits are the ledger's,
routing the router's, prompts the workflow modules', API calls ``integrations.github``'s. Nothing here
prints a secret (the keys are masked first and never formatted into a message), and model text
reaches the log only inside ``::stop-commands::`` and the summary only when asked.

The names other modules and tests import from here before the split (``OUTPUT_NAMES``, ``usd_text``,
the options, ``run_qa_testgen``, ``call_with_deadline``, ``build_anthropic`` ...) are re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acme_ci_budget.client.router import TaskRouter
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.files import MAX_DIFF_BYTES, read_bounded
from acme_ci_budget.diffs.change import DiffError
from acme_ci_budget.diffs.parse import parse_unified_diff
from acme_ci_budget.integrations import gha
from acme_ci_budget.integrations.github import GitHubError, neutralize
from acme_ci_budget.runs.base_config import BaseConfig, base_config, local_config
from acme_ci_budget.runs.calls import (
    build_anthropic,
    call_model,
    call_with_deadline,
    models_check_stop,
    open_client,
    require_ledger,
)
from acme_ci_budget.runs.comment import CommentFrame, incomplete_note, post_inline, render_comment
from acme_ci_budget.runs.options import (
    QA_WORKFLOW,
    REVIEW_WORKFLOW,
    SKIP_DRY_RUN,
    SKIP_MODEL_ERROR,
    SKIP_NOTHING,
    SKIP_TIMEOUT,
    QAOptions,
    ReviewOptions,
    RunOutcome,
    Stop,
    TaskOptions,
)
from acme_ci_budget.runs.preview import dry_run, ledger_pressure
from acme_ci_budget.runs.qa import run_qa_testgen
from acme_ci_budget.runs.summary import (
    OUTPUT_NAMES,
    Console,
    Gauge,
    Report,
    annotate,
    ledger_warnings,
    mask_secrets,
    read_gauge,
    read_pr_spend,
    usd_text,
)
from acme_ci_budget.runs.target import (
    check_event,
    check_label,
    check_pull_request,
    find_target,
    pull_request_api,
    review_scope,
)
from acme_ci_budget.workflows import review as review_wf
from acme_ci_budget.workflows.review import ReviewSubject

__all__ = [
    "OUTPUT_NAMES",
    "QA_WORKFLOW",
    "REVIEW_WORKFLOW",
    "Gauge",
    "QAOptions",
    "ReviewOptions",
    "ReviewRun",
    "RunOutcome",
    "TaskOptions",
    "build_anthropic",
    "call_with_deadline",
    "models_check_stop",
    "read_gauge",
    "run_qa_testgen",
    "run_review",
    "usd_text",
]


class ReviewRun:
    """One ``acme-ci-budget review``; ``execute()`` returns the outcome and has written outputs and summary."""

    def __init__(
        self,
        options: ReviewOptions,
        *,
        gh: Any = None,
        anthropic_client: Any = None,
        clock: Any = None,
        out: Any = None,
    ) -> None:
        self.opts = options
        self.gh = gh
        self.anthropic_client = anthropic_client
        self.clock = clock
        self.workflow_id = options.workflow_id or REVIEW_WORKFLOW
        self.report = Report(f"acme-ci-budget review ({self.workflow_id})")
        self.console = Console(out)
        self.base: BaseConfig | None = None
        self.api: Any = None
        self.ctx: Any = None
        self.sticky: Any = None
        self.comment_body = ""
        self.exit_code = 0

    def execute(self) -> RunOutcome:
        o = self.opts
        mask_secrets(o.api_key, o.github_token, redis_url=o.redis_url)
        try:
            if o.diff_file:
                self._local()
            else:
                self._pull_request()
        except Stop as stop:
            self.report.skipped(stop, "acme-ci-budget review")
            self.exit_code = max(self.exit_code, stop.exit_code)
        summary = self.report.write()
        return RunOutcome(self.exit_code, dict(self.report.outputs), summary, self.comment_body, self.console.text())

    # --- what to review ------------------------------------------------------------------------

    def _local(self) -> None:
        o = self.opts
        text = read_bounded(o.diff_file, MAX_DIFF_BYTES, f"--diff-file {o.diff_file}")
        try:
            files = parse_unified_diff(text)
        except DiffError as exc:
            raise UsageError(f"--diff-file {o.diff_file}: {exc}") from None
        self.base = local_config(o)
        workflow = self.base.config.workflow(self.workflow_id)
        subject = ReviewSubject(title=f"local diff {Path(o.diff_file).name}")
        self._review(files, workflow, subject, head_sha=None, scope={}, not_listed=0)

    def _pull_request(self) -> None:
        o = self.opts
        repo, number, event = find_target(o)
        has_key = bool(o.api_key) or o.dry_run or self.anthropic_client is not None
        check_event(event, number, has_key)
        self.api = pull_request_api(self.gh, o, repo, number)
        ctx = self.ctx = self.api.context()
        check_pull_request(ctx, number, has_key)
        base = self.base = base_config(self.api, ctx, o, self.workflow_id)
        if base.notice:
            gha.notice(base.notice, title="acme-ci-budget starter config")
            self.report.lines.append(base.notice)
        workflow = base.config.workflow(self.workflow_id)
        check_label(base.config, ctx, number)
        self.sticky = self.api.find_sticky(self.workflow_id)
        files, scope, not_listed = review_scope(self.api, ctx, self.sticky, o.incremental)
        subject = ReviewSubject(
            title=ctx.title, description=ctx.body, repository=repo, number=number, scope=scope.get("prompt", "")
        )
        self._review(files, workflow, subject, head_sha=ctx.head_sha, scope=scope, not_listed=not_listed)

    # --- the review itself ---------------------------------------------------------------------

    def _review(
        self,
        files: Any,
        workflow: Any,
        subject: Any,
        *,
        head_sha: str | None,
        scope: dict[str, Any],
        not_listed: int,
    ) -> None:
        assert self.base is not None
        config, o = self.base.config, self.opts
        request = review_wf.fit_request(
            files, config, workflow, self.base.templates, subject, router=TaskRouter(config), not_listed=not_listed
        )
        clipped = request.clipped
        self.report.lines.append(
            f"{len(clipped.included)} file(s) in the review request, {len(clipped.omitted) + not_listed} left out; "
            f"request ~{request.input_tokens:,} tokens (target {workflow.per_task_tokens.soft:,})"
        )
        if not clipped.included:
            reason = "no changed file is reviewable" if files else "no changes"
            if scope.get("incremental"):
                reason = "the new commits change nothing reviewable"
            self._post("nothing", request=request, scope=scope, head=head_sha, message=f"Nothing to review: {reason}.")
            raise Stop(SKIP_NOTHING, f"nothing to review: {reason}")
        if o.dry_run:
            self._dry_run(request)
            raise Stop(SKIP_DRY_RUN, "dry run: no model call, nothing posted")
        require_ledger(o)
        if o.check_models:
            stop = models_check_stop(config, self.workflow_id, o, self.anthropic_client)
            if stop is not None:
                self._post("failed", request=request, scope=scope, head=None, message=f"Not reviewed: {stop.message}")
                raise stop
        # a pull request's calls are its repository's; a local diff's are --repo's (else $GITHUB_REPOSITORY's)
        client = open_client(config, o, self.anthropic_client, self.clock, repo=subject.repository or None)
        task = None
        if subject.number:
            task = f"{pr_task_prefix(subject.repository, subject.number)}{(head_sha or 'local')[:12]}"
        user = self.ctx.author if self.ctx is not None else None
        try:
            outcome = call_model(
                lambda remaining: review_wf.run(
                    client, request, self.workflow_id, user_id=user, task_id=task, timeout=remaining
                ),
                o,
            )
        except Stop as stop:
            if stop.reason in (SKIP_TIMEOUT, SKIP_MODEL_ERROR):  # the PR hears why it was not reviewed
                gauge, spend = read_gauge(client.enforcer, self.workflow_id), self._pr_spend(client)
                self._post("failed", request=request, scope=scope, head=None, message=stop.message, gauge=gauge,
                           pr_spend=spend)
            raise
        result = outcome.result
        gauge, spend = read_gauge(client.enforcer, self.workflow_id), self._pr_spend(client)
        for line in ledger_warnings(client.enforcer):  # where the team looks: every run, until it is fixed
            gha.warning(line, title="acme-ci-budget ledger")
            self.report.lines.append(f"**Ledger**: {line}")
        if result.budget_blocked:
            self.report.blocked(result, gauge)
            self.report.pr_spend(spend)
            self._post("blocked", request=request, scope=scope, head=None, message=result.message, gauge=gauge,
                       pr_spend=spend)
            annotate("error" if o.fail_on_block else "notice", result.message, "acme-ci-budget: review blocked")
            self.exit_code = 1 if o.fail_on_block else 0
            return
        self.report.charged(result, gauge)
        self.report.pr_spend(spend)
        if gauge is not None:
            share, _ = gauge.tightest()
            if share >= config.alerts.warn_pct * 100:
                gha.warning(
                    f"{self.workflow_id} has used {share:.1f}% of its tightest budget", title="acme-ci-budget budget"
                )
        enabled = o.inline_comments if o.inline_comments is not None else config.review.inline_comments
        inline = post_inline(self.api, outcome.review, files, head_sha) if enabled else None
        parts: dict[str, Any] = {
            "review": outcome.review, "result": result, "gauge": gauge, "inline": inline, "pr_spend": spend,
        }
        if outcome.incomplete:
            # Billed but not a whole review: say so everywhere, and record no new head (None keeps the
            # earlier one), or incremental review would skip these commits for good.
            note = incomplete_note(outcome.incomplete, result.stop_reason, outcome.review)
            self.report.lines.append(f"**Review incomplete ({result.stop_reason})**: {note}")
            gha.warning(note, title="acme-ci-budget review incomplete")
            self._post("incomplete", request=request, scope=scope, head=None, message=note,
                       incomplete=outcome.incomplete, **parts)
        else:
            self._post("reviewed", request=request, scope=scope, head=head_sha, **parts)
        if o.summary_review:
            self.report.extra_markdown = "#### Review\n\n" + neutralize(outcome.review.summary)

    def _pr_spend(self, client: Any) -> Any:
        """What this PR's reviews cost so far, from the ledger's events (None for a local diff)."""
        if self.ctx is None:
            return None
        prefix = pr_task_prefix(self.ctx.repo, self.ctx.number)
        return read_pr_spend(client.enforcer, self.workflow_id, prefix, self.ctx.created_ms)

    # --- output --------------------------------------------------------------------------------

    def _dry_run(self, request: Any) -> None:
        assert self.base is not None
        config = self.base.config
        pressure, note = ledger_pressure(config, self.opts, self.workflow_id)
        dry_run(
            "review",
            config,
            self.workflow_id,
            system=request.system,
            user_text=request.user_text,
            user_message=request.user_text,
            context=request.context,
            input_tokens=request.input_tokens,
            report=self.report,
            say=self.console.say,
            pressure=pressure,
            note=note,
            nothing="Nothing is called or posted.",
        )

    def _post(self, status: str, *, request: Any, scope: Mapping[str, Any], head: str | None, **parts: Any) -> None:
        """Render the comment and post it (a PR) or print it (a local diff). ``head``: the SHA to record as
        reviewed; None keeps what the comment recorded before (a block or failure reviewed nothing)."""
        assert self.base is not None
        frame = CommentFrame(
            self.workflow_id, self.base.config, self.base.templates, self.sticky, self.base.source, self.base.notice
        )
        body = render_comment(frame, status, request=request, scope=scope, head=head, **parts)
        self.comment_body = body
        if self.api is None:
            # A local diff has no PR: its comment is the output, whatever the status (a block too).
            self.console.say(body, untrusted=True)
            return
        if self.opts.dry_run:
            return
        try:
            url = self.api.write_sticky(body, self.sticky, self.opts.comment_behavior)
        except GitHubError as exc:
            raise Stop("comment_failed", f"could not post the PR comment: {exc}", "error", 1) from None
        self.report.outputs["comment-url"] = url
        self.report.lines.append(f"PR comment: {url}")


def pr_task_prefix(repo: str | None, number: int | None) -> str:
    """The start of every task id a PR's reviews are charged under ("acme/app#7@"; the head SHA follows),
    so the ledger can sum the PR's cost across pushes."""
    return f"{repo}#{number}@"


def run_review(
    options: ReviewOptions, *, gh: Any = None, anthropic_client: Any = None, clock: Any = None, out: Any = None
) -> RunOutcome:
    """One review run (see the module docstring); outputs and the job summary are written before it returns."""
    return ReviewRun(options, gh=gh, anthropic_client=anthropic_client, clock=clock, out=out).execute()
