"""What a run takes and how it ends: the options of ``review`` and ``qa-testgen``, the outcome, the stop signal.

Owns the frozen option records the CLI fills (``TaskOptions``, ``ReviewOptions``, ``QAOptions``), the
``RunOutcome`` a run returns, the ``Stop`` signal that ends a run early, and the vocabulary of the
``skipped-reason`` output. It must not read files, the environment or the network, and must not decide
anything: the run modules decide, this module only names what they decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

REVIEW_WORKFLOW = "ci_cd_review"
QA_WORKFLOW = "qa_test_gen"
DEFAULT_CONFIG = ".github/acme-budget.yml"
DEFAULT_TEMPLATES_DIR = "templates"
DEFAULT_QA_OUTPUT = "qa-test-plan.md"

# skipped-reason values
SKIP_DRAFT = "draft_pr"
SKIP_LABEL = "skip_label"
SKIP_FORK = "fork_pr_without_secrets"
SKIP_NO_KEY = "missing_anthropic_api_key"
SKIP_NOT_PR = "not_a_pull_request"
SKIP_ALREADY = "already_reviewed"
SKIP_NOTHING = "nothing_to_review"
SKIP_LEDGER = "ledger_unavailable"
SKIP_NO_LEDGER = "ledger_not_configured"  # a setup error: the step fails (exit 2)
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
    repo: str | None = None  # owner/name the calls are attributed to (review: also the PR's, with --pr)


@dataclass(frozen=True)
class ReviewOptions(TaskOptions):
    """Everything ``acme-ci-budget review`` takes (the CLI maps options and env vars onto this)."""

    github_token: str | None = field(default=None, repr=False)
    api_url: str | None = None
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


class Stop(Exception):
    """Ends the run early without a model call: a skip, a block, or a failure already explained."""

    def __init__(self, reason: str, message: str, level: str = "notice", exit_code: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.level = level
        self.exit_code = exit_code
