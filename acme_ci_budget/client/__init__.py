"""The model client: routing (``router``), the budgeted call and its jobs, sessions (``sessions``), and the
result and error types every caller sees (``result``).

One call is ``budgeted`` (``BudgetedClient``: the order of route -> reserve -> call -> settle -> alert, and
the SDK client) over ``plan`` (route, exact input count (``input_count``), cache writes, the reserve),
``retry_policy`` (the call's deadline and retries), ``settle`` (usage, the settle with retries, the
fail-open journal), ``errors`` (SDK error translation), ``outcome`` (the result, block wording, the budget
dict) and ``hooks`` (the alerts hook the caller hands in).

``budgeted`` (building the SDK client) and ``errors`` (reading its exception classes) are the only modules
that import the ``anthropic`` SDK, lazily. Layers above that only name results and errors import
``client.result``. It imports ``ledger``, ``budget``, ``config``, ``catalog``, ``diffs`` and ``core``; never
``alerts`` (the alerts hook is handed in), ``report``, ``runs`` or ``workflows``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "AcmeBudgetedClient": "budgeted",
        "AsyncBudgetedClient": "budgeted",
        "BudgetedClient": "budgeted",
        "Completer": "result",
        "CompletionResult": "result",
        "ModelAPIError": "result",
        "ModelCallError": "result",
        "ModelNotFoundError": "result",
        "ModelResponseError": "result",
        "ModelTimeoutError": "result",
        "RouteDecision": "router",
        "TaskRouter": "router",
        "Session": "sessions",
    },
)
