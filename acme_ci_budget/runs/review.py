"""One CI run of a budgeted task: ``run_review`` (a PR or a local diff) and ``run_qa_testgen`` (a ticket).

Owns the order of a review run and every decision in it that is not a budget decision:
find the PR (Actions event, or ``--repo``/``--pr``, or a local ``--diff-file``); skip drafts,
PRs with the skip label and runs without secrets (fork PRs) visibly; read the budget config and
the prompt templates from the PR's base branch, never the head; fetch the files (only the
commits since the last reviewed head, for an incremental review); fit the diff to the task's
token target; route, reserve, call and settle through ``BudgetedClient`` under a wall-clock
deadline; post the one sticky comment (and optional inline comments); and report the run as
step outputs, a job summary and annotations. Model text reaches the log only inside
``::stop-commands::`` and the summary only when asked.

Budget limits are the ledger's, routing the router's, prompts the workflow modules', API calls
``acme_ci_budget.integrations.github``'s. Nothing here prints a secret: the keys are masked first and never
formatted into a message.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from acme_ci_budget.budget.models_check import check_online, named_models
from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.result import ModelCallError, ModelTimeoutError
from acme_ci_budget.client.router import TaskRouter
from acme_ci_budget.config import Config, Workflow, load_config, parse_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.files import MAX_DIFF_BYTES, MAX_TICKET_BYTES, read_bounded
from acme_ci_budget.core.money import fmt_usd, nano_to_decimal, pct
from acme_ci_budget.core.resources import starter_config_path
from acme_ci_budget.core.tokens import estimate_messages_tokens
from acme_ci_budget.diffs.unified import DiffError, parse_unified_diff
from acme_ci_budget.integrations import gha
from acme_ci_budget.integrations.github import (
    GitHubError,
    PullRequestAPI,
    changed_paths,
    connect,
    md_code,
    neutralize,
    pull_request_from_event,
    read_event,
    state_marker,
    sticky_marker,
)
from acme_ci_budget.integrations.models_api import ModelsAPI, ModelsAPIError
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, LedgerUnavailable
from acme_ci_budget.ledger.store import StoreError
from acme_ci_budget.workflows import REVIEW_COMMENT, REVIEW_TEMPLATES, PromptTemplates, default_templates, qa_testgen
from acme_ci_budget.workflows import review as review_wf
from acme_ci_budget.workflows.review import MAX_OMITTED_LISTED, ReviewSubject

log = logging.getLogger("acme_ci_budget.review_run")

REVIEW_WORKFLOW = "ci_cd_review"
QA_WORKFLOW = "qa_test_gen"
DEFAULT_CONFIG = ".github/acme-budget.yml"
DEFAULT_TEMPLATES_DIR = "templates"
DEFAULT_QA_OUTPUT = "qa-test-plan.md"
OUTPUT_NAMES = (
    "model",
    "cost-usd",
    "input-tokens",
    "output-tokens",
    "cache-read-tokens",
    "cache-write-tokens",
    "blocked",
    "block-reason",
    "skipped-reason",
    "budget-pct",
    "budget-remaining-usd",
    "comment-url",
    "report-path",
)
SEVERITY_ICONS = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "info": "⚪"}
REVIEW_START = "<!-- acme-ci-budget:review-body -->"
REVIEW_END = "<!-- acme-ci-budget:review-body-end -->"

# skipped-reason values
SKIP_DRAFT = "draft_pr"
SKIP_LABEL = "skip_label"
SKIP_FORK = "fork_pr_without_secrets"
SKIP_NO_KEY = "missing_anthropic_api_key"
SKIP_NOT_PR = "not_a_pull_request"
SKIP_ALREADY = "already_reviewed"
SKIP_NOTHING = "nothing_to_review"
SKIP_LEDGER = "ledger_unavailable"
SKIP_DRY_RUN = "dry_run"
SKIP_TIMEOUT = "model_timeout"
SKIP_MODEL_ERROR = "model_error"
SKIP_RETIRED_MODEL = "model_not_served"
NO_KEY_MESSAGE = "ANTHROPIC_API_KEY is empty: set the anthropic-api-key input from a secret"
INIT_COMMAND = "acme-ci-budget config init"


@dataclass(frozen=True)
class TaskOptions:
    """What every model-task run takes (the options ``commands._options`` declares for both commands)."""

    workflow_id: str | None = None
    config_path: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    dry_run: bool = False
    fail_on_block: bool = False
    timeout_seconds: float | None = 300.0
    max_retries: int = 2
    ephemeral_ledger: bool = False
    check_models: bool = False


@dataclass(frozen=True)
class ReviewOptions(TaskOptions):
    """Everything ``acme-ci-budget review`` takes (the CLI maps options and env vars onto this)."""

    github_token: str | None = field(default=None, repr=False)
    api_url: str | None = None
    repo: str | None = None
    pr: int | None = None
    diff_file: str | None = None
    comment_behavior: str = "update"
    incremental: bool = True
    inline_comments: bool | None = None
    summary_review: bool = False
    templates_dir: str = DEFAULT_TEMPLATES_DIR


@dataclass(frozen=True)
class QAOptions(TaskOptions):
    """Everything ``acme-ci-budget qa-testgen`` takes."""

    ticket_file: str | None = None
    ticket_text: str | None = field(default=None, repr=False)
    ticket_id: str = ""
    simple: bool | None = None
    output: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How the run ended: the exit code, the step outputs, and what was posted or printed."""

    exit_code: int
    outputs: Mapping[str, str]
    summary: str = ""
    comment_body: str = ""
    printed: str = ""

    @property
    def skipped_reason(self) -> str:
        return self.outputs.get("skipped-reason", "")

    @property
    def blocked(self) -> bool:
        return self.outputs.get("blocked") == "true"


class _Stop(Exception):
    """Ends the run early without a model call: a skip, a block, or a failure already explained."""

    def __init__(self, reason: str, message: str, level: str = "notice", exit_code: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.level = level
        self.exit_code = exit_code


# --- small formatting helpers --------------------------------------------------------------------


def usd_text(nano: int) -> str:
    """Exact USD as a plain decimal string ("0.0012345"), for outputs."""
    text = format(nano_to_decimal(nano).quantize(Decimal(1).scaleb(-9)), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return text or "0"


def _bar(share_pct: float, width: int = 10) -> str:
    filled = max(0, min(width, round(share_pct / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def _pct_text(value: float) -> str:
    return f"{value:.1f}%"


def _mask_secrets(*values: str | None, redis_url: str | None = None) -> None:
    for value in values:
        gha.add_mask(value)
    if redis_url:
        gha.mask_secret_url(redis_url)


def _is_ledger_error(exc: BaseException) -> bool:

    if isinstance(exc, (LedgerUnavailable, StoreError)):
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.RedisError)


def _ledger_message(exc: BaseException) -> str:

    if isinstance(exc, (LedgerUnavailable, StoreError)):
        return str(exc)
    # Redis' own texts (NOPERM, READONLY) name the command, never the password.
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"the budget ledger refused the write ({type(exc).__name__}: {first}); no review without a ledger"


def _ledger_stop(exc: BaseException, fail_on_block: bool) -> _Stop:
    """The run ends without the ledger: an error annotation, exit 1 only when blocks should fail the job."""
    return _Stop(SKIP_LEDGER, _ledger_message(exc), "error", 1 if fail_on_block else 0)


def build_anthropic(api_key: str | None) -> Any:
    """The SDK client; its own retries are off because the run's deadline owns retrying."""
    import anthropic

    return anthropic.Anthropic(api_key=api_key, max_retries=0)


def _budgeted_client(config: Config | None, options: TaskOptions, anthropic_client: Any, clock: Any) -> Any:
    """The run's ``BudgetedClient``: it retries within the run's deadline, waiting what ``retry-after`` asks."""

    return BudgetedClient(
        config,
        redis_url=options.redis_url,
        anthropic_client=anthropic_client or build_anthropic(options.api_key),
        clock=clock,
        max_retries=options.max_retries,
        deadline=options.timeout_seconds,
        ephemeral_ledger=options.ephemeral_ledger,
    )


def call_with_deadline(call: Callable[[float | None], Any], timeout_seconds: float | None) -> Any:
    """``call(timeout_seconds)`` once: the budgeted client retries 429/5xx/529 inside it, under one hold,
    honouring ``retry-after`` and never past ``timeout_seconds`` (its ``deadline``)."""
    return call(timeout_seconds)


def models_check_stop(config: Config, workflow_id: str, options: TaskOptions, anthropic_client: Any) -> _Stop | None:
    """The run's model lifecycle check (``--check-models``, on in the action): the Models API's word on the
    workflow's models before any call. A retired or unlisted model stops the run red (exit 2) with
    ``models check``'s message; a deprecated one is a warning. The check failing to ask is a warning
    too: the run goes on and its own call reports what is wrong (no key, no network) as it always did."""
    from datetime import date


    timeout = min(30.0, options.timeout_seconds or 30.0)
    api = ModelsAPI(anthropic_client, api_key=options.api_key, timeout=timeout)
    try:
        catalogue = api.catalogue(named_models(config, [workflow_id]))
    except ModelsAPIError as exc:
        gha.warning(f"model lifecycle check skipped: {exc}", title="acme-ci-budget models")
        return None
    checks = check_online(config, catalogue, workflow_ids=[workflow_id])
    for check in checks:
        if check.warned:
            gha.warning(check.message(date.today()), title="acme-ci-budget models")
    failed = [check.message() for check in checks if check.failed]
    if not failed:
        return None
    return _Stop(SKIP_RETIRED_MODEL, " | ".join(failed), "error", 2)


# --- the budget gauge ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauge:
    """The workflow's budget after the run: today's and this month's spend, and the tightest limit."""

    daily_spent: int
    daily_limit: int
    monthly_spent: int
    monthly_limit: int
    org_spent: int
    org_limit: int

    def tightest(self) -> tuple[float, int]:
        """(percent used, nano left) of the limit closest to exhaustion."""
        limits = [
            (self.daily_spent, self.daily_limit),
            (self.monthly_spent, self.monthly_limit),
            (self.org_spent, self.org_limit),
        ]
        spent, limit = max(limits, key=lambda item: pct(*item))
        return pct(spent, limit), limit - spent

    def template(self) -> dict[str, Any]:
        def row(spent: int, limit: int) -> dict[str, str]:
            share = pct(spent, limit)
            return {"spent": fmt_usd(spent), "limit": fmt_usd(limit), "pct": _pct_text(share), "bar": _bar(share)}

        return {
            "daily": row(self.daily_spent, self.daily_limit),
            "monthly": row(self.monthly_spent, self.monthly_limit),
        }


def read_gauge(enforcer: Any, workflow_id: str) -> Gauge | None:
    """The gauge from one ledger read; None when the ledger cannot be read (the run still reports)."""
    try:
        status = enforcer.status_snapshot()
    except Exception as exc:  # the gauge is informative; a read failure must not fail the run
        log.warning("could not read the budget gauge (%s)", type(exc).__name__)
        return None
    wf = enforcer.config.workflow(workflow_id)
    mine = status["workflows"][workflow_id]
    org = status["org"]
    return Gauge(
        daily_spent=int(mine["daily_spend_nano"]),
        daily_limit=wf.daily_nano,
        monthly_spent=int(mine["monthly_spend_nano"]),
        monthly_limit=wf.monthly_nano,
        org_spent=int(org["spend_nano"]),
        org_limit=int(org["budget_nano"]),
    )


# --- the run ------------------------------------------------------------------------------------


class _Report:
    """Outputs, summary lines and annotations collected during a run, written once at the end."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.outputs = {name: "" for name in OUTPUT_NAMES}
        self.outputs["blocked"] = "false"
        self.rows: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.extra_markdown = ""

    def result(self, result: Any) -> None:
        self.outputs.update(
            {
                "model": result.model,
                "cost-usd": usd_text(result.cost_nano),
                "input-tokens": str(result.input_tokens),
                "output-tokens": str(result.output_tokens),
                "cache-read-tokens": str(result.cache_read_input_tokens),
                "cache-write-tokens": str(result.cache_creation_input_tokens),
            }
        )
        self.rows += [
            ("Model", f"`{result.model}` ({result.route_reason})"),
            (
                "Tokens",
                f"{result.input_tokens:,} in / {result.output_tokens:,} out / "
                f"{result.cache_read_input_tokens:,} cache read / {result.cache_creation_input_tokens:,} cache write",
            ),
            ("Cost", fmt_usd(result.cost_nano, 4)),
        ]

    def gauge(self, gauge: Gauge | None) -> None:
        if gauge is None:
            return
        share, left = gauge.tightest()
        self.outputs["budget-pct"] = f"{share:.2f}"
        self.outputs["budget-remaining-usd"] = usd_text(left)
        view = gauge.template()
        self.rows += [
            ("Today", f"{view['daily']['spent']} of {view['daily']['limit']} ({view['daily']['pct']})"),
            ("This month", f"{view['monthly']['spent']} of {view['monthly']['limit']} ({view['monthly']['pct']})"),
        ]

    def blocked(self, result: Any, gauge: Gauge | None) -> None:
        """A call the budget refused: the gauge, the blocked outputs and a summary line."""
        self.gauge(gauge)
        self.outputs.update({"blocked": "true", "block-reason": result.budget_reason, "model": result.model})
        self.lines.append(f"**Blocked by the budget ({result.budget_reason})**: {result.message}")

    def skipped(self, stop: _Stop, title: str) -> None:
        """A run that ended early: the skipped-reason output, a summary line and an annotation."""
        self.outputs["skipped-reason"] = stop.reason
        self.lines.append(f"**Skipped ({stop.reason})**: {stop.message}")
        _annotate(stop.level, stop.message, title)

    def markdown(self) -> str:
        parts = [f"### {self.title}", ""]
        parts += [f"- {line}" for line in self.lines]
        if self.rows:
            parts += ["", "| | |", "|---|---|"]
            parts += ["| " + k + " | " + v.replace("|", "\\|") + " |" for k, v in self.rows]
        if self.extra_markdown:
            parts += ["", self.extra_markdown]
        return "\n".join(parts) + "\n"

    def write(self) -> str:
        gha.set_outputs(self.outputs)
        summary = self.markdown()
        gha.append_summary(summary)
        return summary


def _annotate(level: str, message: str, title: str) -> None:
    {"notice": gha.notice, "warning": gha.warning, "error": gha.error}[level](message, title=title)


def _repo_path(path: str) -> str | None:
    """``path`` relative to the repository checkout, or None when it points outside it (then it is not the PR's)."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd())
    candidate = Path(path)
    # abspath, not resolve: a symlink the PR adds must not decide where the config comes from.
    full = Path(os.path.abspath(candidate if candidate.is_absolute() else root / candidate))
    try:
        relative = full.relative_to(Path(os.path.abspath(root)))
    except ValueError:
        return None
    return relative.as_posix()


def _read_text_file(path: str, what: str, limit: int) -> str:
    return read_bounded(path, limit, f"{what} {path}")


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
        self.out = out
        self.workflow_id = options.workflow_id or REVIEW_WORKFLOW
        self.report = _Report(f"acme-ci-budget review ({self.workflow_id})")
        self.config: Config | None = None
        self.config_source = ""
        self.config_notice = ""  # set when the base branch has no config and the starter one is used
        self.templates: Any = None
        self.api: Any = None
        self.ctx: Any = None
        self.sticky: Any = None
        self.comment_body = ""
        self.printed: list[str] = []
        self.exit_code = 0

    # --- entry ---------------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        o = self.opts
        _mask_secrets(o.api_key, o.github_token, redis_url=o.redis_url)
        try:
            if o.diff_file:
                self._local()
            else:
                self._pull_request()
        except _Stop as stop:
            self._stopped(stop)
        summary = self.report.write()
        return RunOutcome(self.exit_code, dict(self.report.outputs), summary, self.comment_body, "".join(self.printed))

    def _stopped(self, stop: _Stop) -> None:
        self.report.skipped(stop, "acme-ci-budget review")
        self.exit_code = max(self.exit_code, stop.exit_code)

    def _print(self, text: str, untrusted: bool = False) -> None:
        """Print to stdout; untrusted text (the PR's, the model's) goes inside ::stop-commands::."""
        out = self.out or sys.stdout
        if untrusted:
            gha.stop_commands(text, stream=out)
        else:
            out.write(text if text.endswith("\n") else text + "\n")
            out.flush()
        self.printed.append(text)

    # --- local diff ----------------------------------------------------------------------------

    def _local(self) -> None:

        o = self.opts
        text = _read_text_file(o.diff_file, "--diff-file", MAX_DIFF_BYTES)
        try:
            files = parse_unified_diff(text)
        except DiffError as exc:
            raise UsageError(f"--diff-file {o.diff_file}: {exc}") from None
        self.config = load_config(o.config_path)
        self.config_source = self.config.path
        self.templates = default_templates()
        workflow = self.config.workflow(self.workflow_id)
        subject = ReviewSubject(title=f"local diff {Path(o.diff_file).name}")
        self._review(files, workflow, subject, head_sha=None, scope={}, not_listed=0)

    # --- a pull request ------------------------------------------------------------------------

    def _target(self) -> tuple[str, int, Any]:

        o = self.opts
        if o.repo or o.pr is not None:
            if not o.repo or o.pr is None:
                raise UsageError("--repo and --pr go together (or run inside a pull_request workflow)")
            if o.repo.count("/") != 1 or not all(o.repo.split("/")):
                raise UsageError(f"--repo {o.repo!r}: expected OWNER/NAME")
            return o.repo, o.pr, None
        event = read_event()
        if event is None:
            raise UsageError("no pull request: pass --repo OWNER/NAME --pr N, or --diff-file F, or run in Actions")
        info = pull_request_from_event(event)
        if info is None:
            name = os.environ.get("GITHUB_EVENT_NAME") or "this"
            raise _Stop(SKIP_NOT_PR, f"the {name} event is not a pull request; nothing to review")
        return info.repo, info.number, info

    def _github(self, repo: str, number: int) -> Any:

        gh = self.gh if self.gh is not None else connect(self.opts.github_token, self.opts.api_url)
        return PullRequestAPI(gh, repo, number)

    def _no_secrets(self, is_fork: bool) -> _Stop:
        if is_fork:
            return _Stop(
                SKIP_FORK,
                "pull request from a fork: GitHub gives its workflow runs no secrets (no ANTHROPIC_API_KEY), "
                "so the AI review is skipped; a maintainer can review it or re-run it from a branch",
                "notice",
            )
        return _Stop(SKIP_NO_KEY, NO_KEY_MESSAGE, "warning")

    def _pull_request(self) -> None:

        o = self.opts
        repo, number, event = self._target()
        if event is not None and event.draft:
            raise _Stop(SKIP_DRAFT, f"#{number} is a draft; it is reviewed once it is marked ready for review")
        has_key = bool(o.api_key) or o.dry_run or self.anthropic_client is not None
        if event is not None and event.is_fork and not has_key:
            raise self._no_secrets(True)
        self.api = self._github(repo, number)
        ctx = self.ctx = self.api.context()
        if ctx.draft:
            raise _Stop(SKIP_DRAFT, f"#{number} is a draft; it is reviewed once it is marked ready for review")
        if not has_key:
            raise self._no_secrets(ctx.is_fork)
        self._load_base(ctx)
        workflow = self.config.workflow(self.workflow_id)
        skip_label = self.config.review.skip_label
        if skip_label in ctx.labels:
            raise _Stop(SKIP_LABEL, f"#{number} has the label {skip_label!r}; no AI review")
        self.sticky = self.api.find_sticky(self.workflow_id)
        files, scope, not_listed = self._files(ctx)
        subject = ReviewSubject(
            title=ctx.title, description=ctx.body, repository=repo, number=number, scope=scope.get("prompt", "")
        )
        self._review(files, workflow, subject, head_sha=ctx.head_sha, scope=scope, not_listed=not_listed)

    def _load_base(self, ctx: Any) -> None:
        """The budget config and the templates as the base branch has them: the PR's head cannot change either."""

        o = self.opts
        path = o.config_path or DEFAULT_CONFIG
        in_repo = _repo_path(path)
        where = f"{ctx.repo}@{ctx.base_ref}"
        if in_repo is None:
            # A file outside the checkout (e.g. provisioned on the runner) is not the PR's to edit.
            self.config = load_config(path)
            self.config_source = self.config.path
        else:
            text = self.api.base_file(in_repo, ctx.base_ref)
            if text is None:
                self._starter(where, in_repo, ctx.base_ref)
            else:
                self.config = parse_config(text, f"{where}:{in_repo}")
                self.config_source = f"{where}:{in_repo}"
        overrides, origins = {}, {}
        for name in REVIEW_TEMPLATES:
            repo_name = f"{o.templates_dir.strip('/')}/{name}"
            text = self.api.base_file(repo_name, ctx.base_ref)
            if text is not None:
                overrides[name] = text
                origins[name] = f"{where}:{repo_name}"
        self.templates = PromptTemplates(overrides, origins=origins)

    def _starter(self, where: str, in_repo: str, base_ref: str) -> None:
        """No config on the base branch: the starter config (small budgets, its own ledger namespace), never
        another team's, said in the notice, the job summary and the PR comment with the command that writes one."""
        self.config = load_config(starter_config_path())
        self.config_source = f"starter config ({where} has no {in_repo})"
        wf = self.config.workflows.get(self.workflow_id)
        budget = f"${wf.monthly_usd:,.2f}/month and ${wf.daily_usd:,.2f}/day" if wf else "the starter budgets"
        self.config_notice = (
            f"{where} has no {in_repo}, so this review ran on the starter budget config ({budget}, ledger "
            f"namespace {self.config.namespace!r}), not on budgets this repository set. Write one with "
            f"`{INIT_COMMAND}`, edit it and commit it to {base_ref}."
        )
        gha.notice(self.config_notice, title="acme-ci-budget starter config")
        self.report.lines.append(self.config_notice)

    def _files(self, ctx: Any) -> tuple[tuple[Any, ...], dict[str, Any], int]:
        """The files to review and the scope: the whole PR, or only the commits since the reviewed head."""
        previous = self.sticky.reviewed_head if self.sticky is not None else None
        short = ctx.head_sha[:12]
        if self.opts.incremental and previous:
            if previous == ctx.head_sha:
                raise _Stop(SKIP_ALREADY, f"head {short} was already reviewed (see the PR comment)")
            since = self.api.files_since(previous, ctx.head_sha)
            if since is not None:
                text = f"Incremental review: commits {previous[:12]}..{short} only."
                return since, {
                    "incremental": True,
                    "since": previous,
                    "text": text,
                    "prompt": f"only the commits pushed since {previous[:12]} (the earlier commits were reviewed)",
                }, 0
            note = f"History changed since {previous[:12]} (force-push or rebase): the whole pull request was reviewed."
            listed = self.api.files()
            return listed.files, {"incremental": False, "text": note}, listed.not_listed
        listed = self.api.files()
        return listed.files, {"incremental": False, "text": f"Full review at {short}."}, listed.not_listed

    # --- the review itself ---------------------------------------------------------------------

    def _review(
        self,
        files: Any,
        workflow: Workflow,
        subject: Any,
        *,
        head_sha: str | None,
        scope: dict[str, Any],
        not_listed: int,
    ) -> None:

        assert self.config is not None
        request = review_wf.fit_request(files, self.config, workflow, self.templates, subject, not_listed=not_listed)
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
            raise _Stop(SKIP_NOTHING, f"nothing to review: {reason}")
        if self.opts.dry_run:
            self._dry_run(request, workflow)
            raise _Stop(SKIP_DRY_RUN, "dry run: no model call, nothing posted")
        if self.opts.check_models:
            stop = models_check_stop(self.config, self.workflow_id, self.opts, self.anthropic_client)
            if stop is not None:
                self._post("failed", request=request, scope=scope, head=None, message=f"Not reviewed: {stop.message}")
                raise stop
        client = self._client()
        task = f"{subject.repository}#{subject.number}@{(head_sha or 'local')[:12]}" if subject.number else None
        user = self.ctx.author if self.ctx is not None else None

        try:
            outcome = call_with_deadline(
                lambda remaining: review_wf.run(
                    client, request, self.workflow_id, user_id=user, task_id=task, timeout=remaining
                ),
                self.opts.timeout_seconds,
            )
        except ModelTimeoutError:
            seconds = f"{self.opts.timeout_seconds:g}"
            message = (
                f"The model did not answer within {seconds} s; the budget hold was released and nothing was charged."
            )
            self._post("failed", request=request, scope=scope, head=None, message=message, gauge=self._gauge(client))
            raise _Stop(SKIP_TIMEOUT, message, "error", 1) from None
        except ModelCallError as exc:
            message = f"The model call failed: {exc}. The budget hold was released."
            self._post("failed", request=request, scope=scope, head=None, message=message, gauge=self._gauge(client))
            raise _Stop(SKIP_MODEL_ERROR, message, "error", 1) from None
        except Exception as exc:
            if not _is_ledger_error(exc):
                raise
            raise _ledger_stop(exc, self.opts.fail_on_block) from None
        result = outcome.result
        gauge = self._gauge(client)
        if result.budget_blocked:
            self.report.blocked(result, gauge)
            self._post("blocked", request=request, scope=scope, head=None, message=result.message, gauge=gauge)
            level = "error" if self.opts.fail_on_block else "notice"
            _annotate(level, result.message, "acme-ci-budget: review blocked")
            self.exit_code = 1 if self.opts.fail_on_block else 0
            return
        self.report.result(result)
        self.report.gauge(gauge)
        for warning in result.warnings:
            gha.warning(warning, title="acme-ci-budget budget")
        if gauge is not None:
            share, _ = gauge.tightest()
            if share >= self.config.alerts.warn_pct * 100:
                gha.warning(
                    f"{self.workflow_id} has used {share:.1f}% of its tightest budget", title="acme-ci-budget budget"
                )
        inline = self._inline(outcome.review, files, head_sha)
        self._post(
            "reviewed",
            request=request,
            scope=scope,
            head=head_sha,
            review=outcome.review,
            result=result,
            gauge=gauge,
            inline=inline,
        )
        if self.opts.summary_review:

            self.report.extra_markdown = "#### Review\n\n" + neutralize(outcome.review.summary)

    def _client(self) -> Any:
        try:
            return _budgeted_client(self.config, self.opts, self.anthropic_client, self.clock)
        except Exception as exc:
            if not _is_ledger_error(exc):
                raise
            raise _ledger_stop(exc, self.opts.fail_on_block) from None

    def _gauge(self, client: Any) -> Gauge | None:
        return read_gauge(client.enforcer, self.workflow_id)

    def _inline(self, review: Any, files: Any, head_sha: str | None) -> Any:
        enabled = self.opts.inline_comments
        if enabled is None:
            enabled = self.config.review.inline_comments
        if not enabled or self.api is None or head_sha is None or not review.findings:
            return None

        def render(finding: Any) -> str:
            icon = SEVERITY_ICONS.get(finding.severity, "")
            return f"{icon} **{finding.severity}: {neutralize(finding.title)}**\n\n{neutralize(finding.body)}"

        try:
            result = self.api.post_inline(review.findings, head_sha, changed_paths(files), render)
        except GitHubError as exc:
            gha.warning(f"inline comments not posted: {exc}", title="acme-ci-budget review")
            return None
        if result.error:
            gha.warning(f"some inline comments were refused: {result.error}", title="acme-ci-budget review")
        return result

    # --- output --------------------------------------------------------------------------------

    def _dry_run(self, request: Any, workflow: Workflow) -> None:

        assert self.config is not None
        pressure, note = None, ""
        try:

            enforcer = BudgetEnforcer(
                self.config, redis_url=self.opts.redis_url, ephemeral_ledger=self.opts.ephemeral_ledger
            )
            pressure = enforcer.pressure(self.workflow_id)
        except Exception as exc:  # a dry run needs no ledger: route without budget pressure
            note = f" (ledger not read: {type(exc).__name__}; budget pressure ignored)"
        decision = TaskRouter(self.config).route(
            self.workflow_id,
            request.user_text,
            dict(request.context) or None,
            pressure=pressure,
            input_tokens=request.input_tokens,
        )
        max_out = max(1, min(decision.max_tokens, workflow.per_task_tokens.hard - request.input_tokens))
        worst = cost_nano(decision.model, request.input_tokens, max_out, overrides=self.config.pricing)
        self.report.outputs["model"] = decision.model
        self.report.rows += [
            ("Model (dry run)", f"`{decision.model}` ({decision.reason})"),
            ("Worst-case cost", f"{fmt_usd(worst, 4)} (~{request.input_tokens:,} in + {max_out:,} out)"),
        ]
        self._print(
            f"acme-ci-budget review --dry-run: would send ~{request.input_tokens:,} input tokens to "
            f"{decision.model} ({decision.reason}){note}, max_tokens {max_out:,}; worst-case cost "
            f"{fmt_usd(worst, 6)} (input priced as input, max_tokens as output). Nothing is called or posted."
        )
        self._print(
            f"--- system prompt ---\n{request.system}\n--- user message ---\n{request.user_text}\n--- end ---",
            untrusted=True,
        )

    def _post(
        self,
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
    ) -> None:
        """Render the comment and post it (a PR) or print it (a local diff). ``head``: the SHA to record as
        reviewed; None keeps what the comment recorded before (a block or failure reviewed nothing)."""
        body = self._render(status, request, scope, head, message, review, result, gauge, inline)
        self.comment_body = body
        if self.api is None:
            if status == "reviewed":
                self._print(body, untrusted=True)
            return
        if self.opts.dry_run:
            return

        try:
            url = self.api.write_sticky(body, self.sticky, self.opts.comment_behavior)
        except GitHubError as exc:
            raise _Stop("comment_failed", f"could not post the PR comment: {exc}", "error", 1) from None
        self.report.outputs["comment-url"] = url
        self.report.lines.append(f"PR comment: {url}")

    def _render(
        self,
        status: str,
        request: Any,
        scope: Mapping[str, Any],
        head: str | None,
        message: str,
        review: Any,
        result: Any,
        gauge: Gauge | None,
        inline: Any,
    ) -> str:

        assert self.config is not None
        clipped = request.clipped
        previous_head = self.sticky.reviewed_head if self.sticky is not None else None
        recorded = head or previous_head
        previous = ""
        if self.sticky is not None and (status != "reviewed" or scope.get("incremental")):
            previous = _review_section(self.sticky.body)
        view_review = None
        if review is not None:
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
            view_review = {"summary": neutralize(review.summary), "findings": findings, "structured": review.structured}
        run = None
        if result is not None:
            run = {
                "model": md_code(result.model),
                "route_reason": neutralize(result.route_reason),
                "input_tokens": f"{result.input_tokens:,}",
                "output_tokens": f"{result.output_tokens:,}",
                "cache_read": f"{result.cache_read_input_tokens:,}",
                "cache_write": f"{result.cache_creation_input_tokens:,}",
                "cost": fmt_usd(result.cost_nano, 4),
            }
        wf = self.config.workflows.get(self.workflow_id)
        text = self.templates.render(
            REVIEW_COMMENT,
            status=status,
            message=neutralize(message),
            review=view_review,
            # The scope describes what was reviewed; a block or a failure reviewed nothing.
            scope={
                "incremental": bool(scope.get("incremental")),
                "text": neutralize(scope.get("text", "")) if status == "reviewed" else "",
            },
            omitted=[{"path": md_code(p), "reason": r} for p, r in clipped.omitted[:MAX_OMITTED_LISTED]],
            omitted_more=max(0, len(clipped.omitted) - MAX_OMITTED_LISTED),
            not_listed=request.not_listed,
            run=run,
            budget=gauge.template() if gauge is not None else None,
            previous=previous,
            previous_head=md_code(previous_head[:12]) if previous_head else "",
            inline=inline,
            escalation=neutralize(request.escalation),
            workflow_label=wf.label if wf else self.workflow_id,
            config_source=md_code(self.config_source, 300),
            config_notice=neutralize(self.config_notice),
            review_start=REVIEW_START,
            review_end=REVIEW_END,
        )
        return f"{sticky_marker(self.workflow_id)}\n{state_marker(recorded)}\n{text}"


def _review_section(body: str) -> str:
    """The review part of an earlier sticky comment (between the body markers), or ""."""
    start = body.find(REVIEW_START)
    end = body.find(REVIEW_END, start + 1) if start != -1 else -1
    if start == -1 or end == -1:
        return ""
    return body[start + len(REVIEW_START) : end].strip()


def run_review(
    options: ReviewOptions, *, gh: Any = None, anthropic_client: Any = None, clock: Any = None, out: Any = None
) -> RunOutcome:
    """One review run (see the module docstring); outputs and the job summary are written before it returns."""
    return ReviewRun(options, gh=gh, anthropic_client=anthropic_client, clock=clock, out=out).execute()


# --- QA test generation -------------------------------------------------------------------------


def _ticket(options: QAOptions) -> str:
    if options.ticket_file:
        return _read_text_file(options.ticket_file, "--ticket-file", MAX_TICKET_BYTES)
    if options.ticket_text and options.ticket_text.strip():
        return options.ticket_text
    raise UsageError("no ticket: give --ticket-file (ACB_TICKET_FILE) or --ticket-text (ACB_TICKET_TEXT)")


def run_qa_testgen(
    options: QAOptions, *, anthropic_client: Any = None, clock: Any = None, out: Any = None
) -> RunOutcome:
    """Generate a test plan for a ticket under the QA budget, write it to a file, report the run."""

    _mask_secrets(options.api_key, redis_url=options.redis_url)
    workflow_id = options.workflow_id or QA_WORKFLOW
    report = _Report(f"acme-ci-budget qa-testgen ({workflow_id})")
    stream = out or sys.stdout
    exit_code = 0
    printed: list[str] = []

    def say(text: str, untrusted: bool = False) -> None:
        printed.append(text)
        if untrusted:
            gha.stop_commands(text, stream=stream)
        else:
            stream.write(text + "\n")
            stream.flush()

    ticket = _ticket(options)
    config = load_config(options.config_path)
    workflow = config.workflow(workflow_id)
    request = qa_testgen.build_request(ticket, ticket_id=options.ticket_id, simple=options.simple)
    report.lines.append(f"Ticket {options.ticket_id or '(no id)'}: {'simple' if request.simple else 'standard'}")
    try:
        if options.dry_run:

            tokens = estimate_messages_tokens(request.messages, request.system)
            decision = TaskRouter(config).route(
                workflow_id, ticket, dict(request.context) or None, input_tokens=tokens
            )
            max_out = max(1, min(decision.max_tokens, workflow.per_task_tokens.hard - tokens))
            worst = cost_nano(decision.model, tokens, max_out, overrides=config.pricing)
            report.outputs["model"] = decision.model
            report.rows.append(("Worst-case cost (dry run)", f"{fmt_usd(worst, 4)} on `{decision.model}`"))
            say(
                f"acme-ci-budget qa-testgen --dry-run: would send ~{tokens:,} input tokens to {decision.model} "
                f"({decision.reason}), max_tokens {max_out:,}; worst-case cost {fmt_usd(worst, 6)}. Nothing is called."
            )
            say(f"--- system prompt ---\n{request.system}\n--- user message ---\n"
                f"{request.messages[-1]['content']}\n--- end ---", untrusted=True)
            raise _Stop(SKIP_DRY_RUN, "dry run: no model call")
        if not options.api_key and anthropic_client is None:
            raise _Stop(SKIP_NO_KEY, NO_KEY_MESSAGE, "warning")
        if options.check_models:
            stop = models_check_stop(config, workflow_id, options, anthropic_client)
            if stop is not None:
                raise stop
        try:
            client = _budgeted_client(config, options, anthropic_client, clock)
            plan = call_with_deadline(
                lambda remaining: qa_testgen.generate(
                    client, ticket, workflow_id, ticket_id=options.ticket_id, simple=request.simple,
                    task_id=options.ticket_id or None, timeout=remaining,
                ),
                options.timeout_seconds,
            )
        except ModelTimeoutError:
            raise _Stop(
                SKIP_TIMEOUT,
                f"the model did not answer within {options.timeout_seconds:g} s; "
                "the hold was released, nothing charged",
                "error",
                1,
            ) from None
        except ModelCallError as exc:
            raise _Stop(SKIP_MODEL_ERROR, f"the model call failed: {exc}", "error", 1) from None
        except Exception as exc:
            # the ledger down stops a QA run the way it stops a review; other user errors stay errors
            if not _is_ledger_error(exc):
                raise
            raise _ledger_stop(exc, options.fail_on_block) from None
        result = plan.result
        gauge = read_gauge(client.enforcer, workflow_id)
        if result.budget_blocked:
            report.blocked(result, gauge)
            _annotate("error" if options.fail_on_block else "notice", result.message, "acme-ci-budget: qa blocked")
            exit_code = 1 if options.fail_on_block else 0
        else:
            report.result(result)
            report.gauge(gauge)
            for warning in result.warnings:
                gha.warning(warning, title="acme-ci-budget budget")
            path = Path(options.output or DEFAULT_QA_OUTPUT)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(plan.markdown, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"--output {path}: cannot write the test plan ({type(exc).__name__})") from None
            report.outputs["report-path"] = str(path)
            report.lines.append(f"Test plan written to `{path}`")
            report.extra_markdown = "#### Test plan\n\n" + neutralize(plan.markdown)
            cost = fmt_usd(result.cost_nano, 4)
            say(f"acme-ci-budget qa-testgen: test plan written to {path} ({result.model}, {cost})")
    except _Stop as stop:
        report.skipped(stop, "acme-ci-budget qa-testgen")
        exit_code = max(exit_code, stop.exit_code)
    summary = report.write()
    return RunOutcome(exit_code, dict(report.outputs), summary, "", "".join(printed))

