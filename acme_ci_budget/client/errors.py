"""SDK errors, read and translated: what went wrong with a model call, in the project's own types.

Owns every reading of the ``anthropic`` SDK's exception classes (``NotFoundError``,
``APITimeoutError``, ``APIStatusError``, ``APIConnectionError``, ``APIResponseValidationError``):
whether the SDK would retry a failure (``is_retryable``, which ``retry_policy`` applies), the API's
error type and message from the body's ``error`` object (``api_error``), the one-line description
an event records (``describe``), a 200 whose body could not be read (``unreadable_reply``), and the
typed ``ModelCallError`` a failed call raises (``translate``, ``unreadable_error``), whose message
names the model, the retries made and, for a 404, where the config names the model.

It must not release, settle or retry anything (the budgeted client does, then asks this module
what to raise), and must never put headers, keys or request bodies into a message. ``anthropic``
is imported inside the functions, only once a call has failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from acme_ci_budget.client.result import (
    ModelAPIError,
    ModelNotFoundError,
    ModelResponseError,
    ModelTimeoutError,
)
from acme_ci_budget.core.money import fmt_usd

if TYPE_CHECKING:
    from acme_ci_budget.client.plan import Plan
    from acme_ci_budget.client.retry_policy import Attempts
    from acme_ci_budget.config import Config

# httpx errors raised after the request was sent, while the reply was being read.
MID_REPLY_ERRORS = frozenset({"RemoteProtocolError", "ReadError"})


class UnreadableReply(ValueError):
    """The SDK handed back text instead of a message: a 200 whose body was not JSON."""


def message_or_raise(message: Any) -> Any:
    """The reply, or ``UnreadableReply`` when the SDK handed back text instead of a message."""
    if isinstance(message, (str, bytes)):
        raise UnreadableReply(f"a {len(message)}-character reply that is not a JSON message")
    return message


def unreadable_reply(exc: BaseException) -> bool:
    """A 200 the SDK could not turn into a message (only a 2xx body is parsed: errors become APIStatusError)."""
    if isinstance(exc, (json.JSONDecodeError, UnreadableReply)):
        return True
    try:
        import anthropic
    except ImportError:  # pragma: no cover - anthropic is a dependency
        return False
    return isinstance(exc, anthropic.APIResponseValidationError)


def response_headers(exc: BaseException) -> Mapping[str, str] | None:
    """The HTTP response headers an SDK error carries (None for errors without a response)."""
    response = getattr(exc, "response", None)
    return getattr(response, "headers", None)


# A 429 with this error code is the organisation's own spend limit (set in the Anthropic Console): the API
# refuses every call until the limit is raised or the month ends, so it is a block, never retried.
SPEND_LIMIT_CODE = "enforced_spend_limit_reached"
ANTHROPIC_SPEND_LIMIT = "anthropic_spend_limit_reached"  # the block reason the client reports for it


def spend_limit_reached(exc: BaseException) -> bool:
    """True for the API's 429 ``error.details.error_code == "enforced_spend_limit_reached"``."""
    if getattr(exc, "status_code", None) != 429:
        return False
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return isinstance(details, dict) and details.get("error_code") == SPEND_LIMIT_CODE


def is_retryable(exc: BaseException) -> bool:
    """Would the SDK retry this failure? (status errors by status and x-should-retry; connection errors).

    Never the organisation's Anthropic spend limit: it fails until the limit is raised or the month ends.
    """
    import anthropic

    if spend_limit_reached(exc):
        return False
    if isinstance(exc, anthropic.APIStatusError):
        should = (response_headers(exc) or {}).get("x-should-retry")
        if should in ("true", "false"):
            return should == "true"
        code = exc.status_code
        return code in (408, 409, 429) or code >= 500
    return isinstance(exc, anthropic.APIConnectionError)


def api_error(exc: BaseException) -> tuple[str | None, str]:
    """(error type, message) of an API error, from its body's ``error`` object as the API sends it.

    SDK versions differ in the attributes they copy from the body (``type``, ``api_message``);
    the body itself (``{"type": "error", "error": {"type": ..., "message": ...}}``) is the contract.
    """
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    error_type = error.get("type") if isinstance(error.get("type"), str) else getattr(exc, "type", None)
    message = error.get("message") if isinstance(error.get("message"), str) else getattr(exc, "api_message", None)
    return (error_type if isinstance(error_type, str) else None), (message if isinstance(message, str) else "")


def status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def describe(exc: BaseException) -> str:
    """The failure as recorded in the event: class, status, API error type; never headers or keys."""
    parts = [type(exc).__name__]
    code = status_code(exc)
    if code is not None:
        parts.append(str(code))
    error_type, api_message = api_error(exc)
    if error_type:
        parts.append(error_type)
    if api_message:
        parts.append(api_message[:200])
    return ": ".join(parts)


def unreadable_error(plan: Plan, exc: BaseException, charged_nano: int) -> ModelResponseError:
    """A 200 whose body could not be read, charged ``charged_nano`` (its hold): what the caller sees."""
    detail = f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__
    return ModelResponseError(
        f"{plan.workflow.id}: the Messages API answered 200 but its reply could not be read ({detail}); the "
        f"usage is unknown, so the call was charged at its hold, {fmt_usd(charged_nano, 6)}",
        model=plan.decision.model,
        workflow_id=plan.workflow.id,
        status_code=200,
        reservation_id=plan.reservation.id,
        charged_nano=charged_nano,
    )


def translate(config: Config, plan: Plan, exc: BaseException, attempts: Attempts | None = None) -> BaseException:
    """The typed ``ModelCallError`` for a failed call, or ``exc`` itself when it is not an API failure."""
    try:
        import anthropic
    except ImportError:  # pragma: no cover - anthropic is a dependency
        return exc
    model, wid = plan.decision.model, plan.workflow.id
    common = {"model": model, "workflow_id": wid, "reservation_id": plan.reservation.id}
    code = status_code(exc)
    error_type, api_message = api_error(exc)
    retries = attempts.retries if attempts is not None else 0
    stopped = f"; {attempts.stopped}" if attempts is not None and attempts.stopped else ""
    if isinstance(exc, anthropic.NotFoundError):
        uses = config.model_uses(model)
        where = (
            f"the config names it at {', '.join(uses)} in {config.path}; change it there"
            if uses
            else f"no field of {config.path} names it"
        )
        return ModelNotFoundError(
            f"{wid}: model {model!r} was not found by the Messages API (404 {api_message or 'not_found_error'}); "
            f"it may be retired or misspelled: {where} (see `acme-ci-budget prices`)",
            status_code=code,
            error_type=error_type,
            **common,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        deadline = f" within the call's deadline of {attempts.deadline_seconds:g} s" if attempts else ""
        return ModelTimeoutError(
            f"{wid}: {model} did not answer in time ({retries} retries{deadline}){stopped}; the hold was released",
            **common,
        )
    if isinstance(exc, anthropic.APIStatusError):
        retried = f" after {retries} retries" if retries or is_retryable(exc) else ""
        return ModelAPIError(
            f"{wid}: the Messages API answered {code} {error_type or ''}{retried} (model {model}): "
            f"{api_message or 'no message'}{stopped}".replace("  ", " "),
            status_code=code,
            error_type=error_type,
            **common,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else type(exc).__name__
        if cause in MID_REPLY_ERRORS:
            return ModelAPIError(
                f"{wid}: the connection to the Messages API dropped before the reply was complete "
                f"({retries} retries{stopped}): {cause}; the hold was released (whether the API billed the "
                "call is unknown)",
                **common,
            )
        return ModelAPIError(f"{wid}: could not reach the Messages API ({retries} retries{stopped}): {cause}", **common)
    if isinstance(exc, TypeError) and "authentication" in str(exc).lower():
        return ModelAPIError(
            f"{wid}: no Anthropic credentials: set ANTHROPIC_API_KEY (or pass anthropic_client=)", **common
        )
    return exc
