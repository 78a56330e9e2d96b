"""Alerts: the conditions, their dedup, and delivery to the log, GitHub, Slack and PagerDuty.

One module per job: ``alert`` (the levels, condition names and frozen results), ``conditions``
(which conditions hold, pure, from the ledger's figures), ``dedup`` (once per period and channel,
through ``ledger.claims``), ``messages`` (the wording and the Slack Block Kit rendering),
``channels`` (the outside channels as rows of one registry, the log and GitHub legs), ``delivery``
(one webhook POST with the receiver's retry rules, and the per-channel claim values), ``send``
(delivering claimed alerts, incidents, failure events), ``scrubbing`` (secrets out of every log
line) and ``manager`` (``AlertManager``, the orchestration). It reads the ledger through
``BudgetEnforcer`` and ``ledger.claims``, never composing a Redis key or script of its own; it
imports ``ledger``, ``budget``, ``config``, ``integrations`` and ``core``, never ``client``,
``report`` or ``runs``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Alert": "alert",
        "AlertError": "alert",
        "AlertManager": "manager",
        "Delivery": "delivery",
        "PAGERDUTY_EVENTS_URL": "channels",
        "slack_payload": "messages",
    },
)
