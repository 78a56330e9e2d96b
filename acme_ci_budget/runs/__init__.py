"""Runs: one CI run of a budgeted task, end to end (``review``: ``run_review`` and ``run_qa_testgen``).

With ``simulate``, the only layer that wires GitHub, the client, the ledger and the workflows together.
Nothing below imports it; the CLI's commands call it.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "QAOptions": "review",
        "ReviewOptions": "review",
        "RunOutcome": "review",
        "run_qa_testgen": "review",
        "run_review": "review",
    },
)
