"""What a model call gives back: ``CompletionResult``, the ``ModelCallError`` family, and the protocols.

Owns the result and error types every caller of the budgeted client sees, so that ``sessions``, the
workflows and the runs can name them without importing ``budgeted`` (which imports ``sessions``: the
types live here, below both, and the old client <-> sessions import circle is gone), and the protocols
through which the workflows use the client without importing it (an import-linter contract holds
``workflows`` to this module): ``Completer`` (one call), ``SessionStarter`` / ``Conversation`` (a chat
session and its turns), ``ChangeRouter`` (whether a change escalates) with the routing context keys of
a change. It must not call the model, touch the ledger or route; it imports only ``core`` (and
``config`` for a type).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from acme_ci_budget.core.errors import AcmeError

if TYPE_CHECKING:
    from acme_ci_budget.config import Config


# Routing context keys of a change (a review): every path it touches, and its reviewable diff's size
# before clipping. The workflows set them, the router (``client.router``) routes on them.
CHANGED_PATHS = "changed_paths"
CHANGE_TOKENS = "change_tokens"


# --- errors -------------------------------------------------------------------------------------


class ModelCallError(AcmeError, RuntimeError):
    """The model call failed after the SDK's retries; its hold was released and a failure event logged."""

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        workflow_id: str = "",
        status_code: int | None = None,
        error_type: str | None = None,
        reservation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.workflow_id = workflow_id
        self.status_code = status_code
        self.error_type = error_type
        self.reservation_id = reservation_id


class ModelNotFoundError(ModelCallError, LookupError):
    """404: the model is retired, misspelled or not available to this key; names where the config uses it."""


class ModelTimeoutError(ModelCallError, TimeoutError):
    """The API did not answer within the timeout, retries included."""


class ModelAPIError(ModelCallError):
    """Any other API failure: rate limit or overload after retries, 5xx, 4xx, connection, credentials."""


class ModelResponseError(ModelCallError, ValueError):
    """The API answered 200 but the body could not be read (cut short, not JSON): billed, usage unknown.

    The call is charged at its hold (its worst case), the only figure known to cover what was billed.
    """

    def __init__(self, message: str, *, charged_nano: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.charged_nano = charged_nano


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionResult:
    """What one ``complete()`` returns, on success and on a block alike; ``result.x`` or ``result["x"]``."""

    content: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_usd: float
    latency_ms: int
    stop_reason: str | None
    budget_blocked: bool
    budget_reason: str
    route_reason: str
    warnings: tuple[str, ...] = ()
    budget: Mapping[str, Any] = field(default_factory=dict)
    reservation_id: str = ""
    cost_nano: int = 0
    # A sentence for people: why the call was blocked (empty on success).
    message: str = ""
    workflow_id: str = ""
    session_id: str | None = None
    loop_step: int | None = None
    # Of cache_creation_input_tokens, those written at the 1-hour TTL (priced at the 1-hour rate).
    cache_creation_1h_input_tokens: int = 0
    # The reply had no usage: charged the hold's worst case (the token counts are that worst case).
    usage_missing: bool = False

    def __getitem__(self, key: str) -> Any:
        if key in _RESULT_FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in _RESULT_FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(_RESULT_FIELDS)

    def keys(self) -> tuple[str, ...]:
        return _RESULT_FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _RESULT_FIELDS else default

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RESULT_FIELDS}
        data["warnings"] = list(self.warnings)
        data["budget"] = _plain(self.budget)
        return data


_RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CompletionResult))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Completer(Protocol):
    """What a session or a workflow needs of a client: its config, its ledger, and ``complete``.

    ``BudgetedClient`` is one; a caller typed against this protocol need not import it.
    """

    config: Config
    enforcer: Any

    def complete(
        self,
        workflow_id: str,
        messages: Sequence[Mapping[str, Any]],
        system: Any = "",
        context: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        loop_step: int | None = None,
        max_tokens: int | None = None,
        task_id: str | None = None,
        timeout: float | None = None,
        max_tokens_cap: int | None = None,
    ) -> CompletionResult: ...


class Conversation(Protocol):
    """What a chat workflow needs of a session: one turn. ``client.sessions.Session`` is one."""

    def send(
        self, text: str, context: Mapping[str, Any] | None = None, max_tokens: int | None = None
    ) -> CompletionResult: ...


# The session type a client starts (``client.sessions.Session`` for ``BudgetedClient``), kept through
# the workflows' ``start()`` so their callers see the client's own session type.
ConversationT = TypeVar("ConversationT", bound=Conversation, covariant=True)


class SessionStarter(Protocol[ConversationT]):
    """What a chat workflow needs of a client: a new session. ``BudgetedClient`` is one."""

    def session(
        self,
        workflow_id: str,
        user_id: str | None = None,
        *,
        system: str = "",
        session_id: str | None = None,
        keep_turns: int | None = None,
    ) -> ConversationT: ...


class ChangeRouter(Protocol):
    """What a workflow shaping a change (a review) needs of the router: whether, and why, the change goes to
    the complex model. ``client.router.TaskRouter`` is one."""

    def change_rule(self, workflow_id: str, paths: Iterable[str], change_tokens: int) -> tuple[str, str] | None: ...
