"""The model client: routing (``router``), the budgeted call (``budgeted``: plan, reserve, call, settle),
sessions (``sessions``), exact input counts (``input_count``), the retry policy (``retry_policy``), and the
result and error types every caller sees (``result``).

``budgeted`` is the one module that imports the ``anthropic`` SDK (lazily). Layers above that only name
results and errors import ``client.result``. It imports ``ledger``, ``budget``, ``config``, ``catalog``,
``diffs`` and ``core``; never ``alerts`` (the alerts hook is duck-typed), ``report``, ``runs`` or ``workflows``.
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
