"""The model call of a run: the SDK and budgeted clients, the deadline, the models check, and error mapping.

Owns building the run's ``BudgetedClient`` (SDK retries off: the client retries within the run's
deadline), the one call under ``--timeout-seconds``, the ``--check-models`` lifecycle check before it,
and turning what can go wrong (a timeout, a failed call, the ledger down, a retired model) into the
``Stop`` that ends the run with its skipped-reason and exit code. It must not post, print or write
outputs (the run modules report the ``Stop``), must not decide budgets (the ledger does), and must not
format a secret or a Redis URL into a message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from acme_ci_budget.alerts import AlertManager
from acme_ci_budget.budget.models_check import check_online, named_models
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.result import ModelCallError, ModelTimeoutError
from acme_ci_budget.config import Config
from acme_ci_budget.core.repos import resolve_repo
from acme_ci_budget.integrations import gha
from acme_ci_budget.integrations.models_api import ModelsAPI, ModelsAPIError
from acme_ci_budget.ledger.errors import LedgerUnavailable, is_ledger_error
from acme_ci_budget.ledger.store import LedgerNotConfigured, StoreError, check_configured
from acme_ci_budget.runs.options import (
    SKIP_LEDGER,
    SKIP_MODEL_ERROR,
    SKIP_NO_LEDGER,
    SKIP_RETIRED_MODEL,
    SKIP_TIMEOUT,
    Stop,
    TaskOptions,
)
from acme_ci_budget.telemetry.genai_metrics import otel_hook


def build_anthropic(api_key: str | None) -> Any:
    """The SDK client; its own retries are off because the run's deadline owns retrying."""
    import anthropic

    return anthropic.Anthropic(api_key=api_key, max_retries=0)


def _ledger_message(exc: BaseException) -> str:
    if isinstance(exc, (LedgerUnavailable, StoreError)):
        return str(exc)
    # Redis' own texts (NOPERM, READONLY) name the command, never the password.
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"the budget ledger refused the write ({type(exc).__name__}: {first}); no review without a ledger"


def ledger_stop(exc: BaseException, fail_on_block: bool) -> Stop:
    """The run ends without the ledger: an error annotation, exit 1 only when blocks should fail the job.
    No ledger configured at all (Actions without a URL) is a setup error: red, exit 2, whatever the flag."""
    if isinstance(exc, LedgerNotConfigured):
        return Stop(SKIP_NO_LEDGER, str(exc), "error", 2)
    return Stop(SKIP_LEDGER, _ledger_message(exc), "error", 1 if fail_on_block else 0)


def require_ledger(options: TaskOptions) -> None:
    """Stop the run red (``ledger_stop``) when it has no ledger to charge: checked before the models check
    and the model call, after the skip policy (a fork PR gets no secrets and is skipped, not failed)."""
    try:
        check_configured(options.redis_url, options.ephemeral_ledger)
    except LedgerNotConfigured as exc:
        raise ledger_stop(exc, options.fail_on_block) from None


def open_client(
    config: Config | None, options: TaskOptions, anthropic_client: Any, clock: Any, repo: str | None = None
) -> Any:
    """The run's ``BudgetedClient``: it retries within the run's deadline, waiting what ``retry-after`` asks.
    Its calls are attributed to ``repo``, else ``options.repo``, else ``$GITHUB_REPOSITORY``.
    The ledger failing to open stops the run (``ledger_stop``); any other error is the caller's."""
    repo = resolve_repo(repo or options.repo, "--repo")  # a malformed name: one line naming --repo, exit 2
    try:
        return BudgetedClient(
            config,
            redis_url=options.redis_url,
            anthropic_client=anthropic_client or build_anthropic(options.api_key),
            alerts=AlertManager,  # built on first use, on the client's ledger
            telemetry=otel_hook,  # OpenTelemetry metrics when OTEL_EXPORTER_OTLP_* or telemetry: asks for them
            clock=clock,
            max_retries=options.max_retries,
            deadline=options.timeout_seconds,
            ephemeral_ledger=options.ephemeral_ledger,
            repo=repo,
        )
    except Exception as exc:
        if not is_ledger_error(exc):
            raise
        raise ledger_stop(exc, options.fail_on_block) from None


def call_with_deadline(call: Callable[[float | None], Any], timeout_seconds: float | None) -> Any:
    """``call(timeout_seconds)`` once: the budgeted client retries 429/5xx/529 inside it, under one hold,
    honouring ``retry-after`` and never past ``timeout_seconds`` (its ``deadline``)."""
    return call(timeout_seconds)


def call_model(call: Callable[[float | None], Any], options: TaskOptions) -> Any:
    """``call`` under the run's deadline; a timeout, a failed call or the ledger down become a ``Stop``
    (exit 1; the ledger's exit follows ``--fail-on-block``). Other errors are the caller's."""
    try:
        return call_with_deadline(call, options.timeout_seconds)
    except ModelTimeoutError:
        message = (
            f"The model did not answer within {options.timeout_seconds:g} s; "
            "the budget hold was released and nothing was charged."
        )
        raise Stop(SKIP_TIMEOUT, message, "error", 1) from None
    except ModelCallError as exc:
        message = f"The model call failed: {exc}. The budget hold was released."
        raise Stop(SKIP_MODEL_ERROR, message, "error", 1) from None
    except Exception as exc:
        if not is_ledger_error(exc):
            raise
        raise ledger_stop(exc, options.fail_on_block) from None


def models_check_stop(config: Config, workflow_id: str, options: TaskOptions, anthropic_client: Any) -> Stop | None:
    """The run's model lifecycle check (``--check-models``, on in the action): the Models API's word on the
    workflow's models before any call. A retired or unlisted model stops the run red (exit 2) with
    ``models check``'s message; a deprecated one is a warning. The check failing to ask is a warning
    too: the run goes on and its own call reports what is wrong (no key, no network) as it always did."""
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
    return Stop(SKIP_RETIRED_MODEL, " | ".join(failed), "error", 2)
