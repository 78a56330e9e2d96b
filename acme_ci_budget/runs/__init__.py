"""Runs: one CI run of a budgeted task, end to end (``review.run_review``, ``qa.run_qa_testgen``).

With ``simulate``, the only layer that wires GitHub, the client, the ledger and the workflows together.
Nothing below imports it; the CLI's commands call it. Its modules, one job each: ``options`` (what a
run takes and how it ends), ``target`` (which PR, the skip policy, the scope), ``base_config`` (config
and templates from the base branch), ``calls`` (the client, the deadline, the error mapping),
``preview`` (the dry run), ``comment`` (the sticky and inline comments), ``summary`` (outputs, job
summary, annotations, the gauge), ``review`` and ``qa`` (the order of each run); ``agent`` (a Claude Code
run's process: ``acme-ci-budget run``) and ``agent_budget`` (its hold and settle, and the action's
``reserve`` / ``settle`` steps).
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "QAOptions": "options",
        "ReviewOptions": "options",
        "RunOutcome": "options",
        "TaskOptions": "options",
        "run_qa_testgen": "qa",
        "run_review": "review",
        "run_agent": "agent",
        "AgentRunOptions": "agent",
    },
)
