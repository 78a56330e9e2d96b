"""The budgeted client's alerts hook: built from what the caller hands in, called after every call.

Owns the contract between a model call and whoever watches the spend: the hook is any object with
``check(workflow_id)`` (the full check, after a block), optionally ``check_spend(...)`` (after a
settle, from its reply's figures: no Redis read unless a threshold may be crossed) and
``notify_session_soft_limit(...)``. ``acme_ci_budget.alerts.AlertManager`` is one; the layers that
wire things together (``runs``, ``commands``) hand it in, as the hook or as a factory called once,
lazily, with ``(config, enforcer=...)``, so the client shares its ledger with it. An alert failure
never fails the model call: it is logged by class name only (an HTTP library's text can carry a
webhook URL).

It must not import ``acme_ci_budget.alerts`` (a layer above ``client``), by name or otherwise, nor
send anything itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.ledger.enforcer import BudgetEnforcer, Reservation, Settlement

log = logging.getLogger("acme_ci_budget.client")

# What ``BudgetedClient(alerts=...)`` takes: the hook, a factory of it, or None / False for no alerts.
AlertsFactory = Callable[..., Any]


def is_factory(alerts: Any) -> bool:
    """A class (``AlertManager``) or a function that builds the hook, rather than the hook itself."""
    return isinstance(alerts, type) or (callable(alerts) and not hasattr(alerts, "check"))


def build_hook(alerts: Any, config: Config, enforcer: BudgetEnforcer) -> Any:
    """The hook from what the caller handed in (None when alerts are off or the factory failed)."""
    if alerts is None or alerts is False:
        return None
    if not is_factory(alerts):
        return alerts
    try:
        return alerts(config, enforcer=enforcer)
    except Exception as exc:  # alerts are best effort: a broken alert setup must not stop model calls
        name = getattr(alerts, "__name__", type(alerts).__name__)
        log.warning("alerts disabled: could not build %s (%s)", name, exc.__class__.__name__)
        return None


def check_alerts(
    hook: Any, workflow_id: str, res: Reservation | None = None, settlement: Settlement | None = None
) -> None:
    """After a settle, from its reply's figures (Redis is read only when a threshold may be crossed);
    after a block, or from a hook without ``check_spend``, the full ``check``."""
    if hook is None:
        return
    try:
        check_spend = getattr(hook, "check_spend", None)
        if res is None or settlement is None or check_spend is None or res.fail_open:
            hook.check(workflow_id)
            return
        check_spend(
            workflow_id,
            day=res.day,
            org_spent_nano=settlement.org_spent_nano,
            month_spent_nano=settlement.month_spent_nano,
            day_spent_nano=settlement.day_spent_nano,
            over_hold_nano=settlement.over_hold_nano,
            open_incidents=res.open_incidents,
            org_held_nano=settlement.org_held_nano,
            month_held_nano=settlement.month_held_nano,
            day_held_nano=settlement.day_held_nano,
        )
    except Exception as exc:  # an alert failure (Slack down) must never fail the model call
        # Only the class name: exception texts of HTTP libraries can carry the webhook URL.
        log.warning("alert check for %s failed (%s)", workflow_id, type(exc).__name__)


def check_session_soft_limit(hook: Any, wf: Workflow, res: Reservation, used: int) -> None:
    """INFO alert once per session when it passes its soft token limit (the hook dedups)."""
    total = int(res.headroom.get("session_tokens", 0)) + used
    if hook is None or total <= wf.per_session_tokens.soft:
        return
    notify = getattr(hook, "notify_session_soft_limit", None)
    if notify is None:
        return
    try:
        notify(wf.id, res.session_id, total, wf.per_session_tokens.soft)
    except Exception as exc:
        log.warning("session alert for %s failed (%s)", wf.id, type(exc).__name__)
