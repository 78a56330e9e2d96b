"""Which alert conditions hold: pure evaluation of the ledger's figures against the config.

Owns the rules: daily / monthly spend past the warn and critical thresholds per workflow and for
the org; a period CRITICAL below its threshold because its money limit refused a call or less
than one worst-case call is left after the spend and the holds on it (the rule is
``budget.health.critical_reason``, so the lab's stage 3 pages on it); the org entering its
reserve; a month-end forecast above budget (``budget.forecast``); new blocks and calls settled
above their hold since the last check (counts in the month's stats); per-session soft limits.
Also the "quiet floors": the least spend at which any spend condition can hold, so the per-call
check decides the common case without Redis. Each result is a frozen ``Condition`` carrying its
``Alert`` and the name of its once-per-period claim. It must not read Redis, claim, word a message
(``messages``) or send anything; the only state is what it caches per config (worst-case calls,
floors).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache

from acme_ci_budget.alerts import messages
from acme_ci_budget.alerts.alert import (
    BLOCK_LEVELS,
    BLOCKED,
    CRITICAL,
    FORECAST,
    INFO,
    ORG_RESERVE,
    OVER_HOLD,
    SESSION_SOFT,
    WARNING,
    Alert,
    Condition,
    SpendFigures,
)
from acme_ci_budget.budget.forecast import Forecast, day_costs, days_in_month, project_month
from acme_ci_budget.budget.health import critical_reason, org_worst_call_nano, worst_call_nano
from acme_ci_budget.config import Config

_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@lru_cache(maxsize=1024)
def fraction_of(limit_nano: int, fraction: float) -> int:
    """``limit * fraction`` in whole nano, through Decimal so 0.8 means exactly 80%."""
    return int(Decimal(limit_nano) * Decimal(str(fraction)))


def safe_id(value: str) -> str:
    """An id fit for a Redis key and a dedup key: as is when plain, else a short hash."""
    value = str(value)
    if _SAFE_ID.fullmatch(value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:20]


class Conditions:
    """The alert rules for one config; every method is a pure function of its arguments and the config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.alerts
        self._margins: dict[str, int] = {}
        self._floors: dict[tuple[str, date], tuple[float, float, float]] = {}

    def dedup_id(self, condition: str, scope: str, period: str) -> str:
        """The stable id PagerDuty dedups on."""
        return f"acme-ci-budget/{self.config.namespace}/{condition}/{scope}/{period}"

    def label(self, wf: str | None) -> str:
        return messages.label(self.config, wf)

    def margin(self, wf: str | None) -> int:
        """One worst-case call of the workflow (the org: of any workflow), computed once."""
        key = wf or ""
        if key not in self._margins:
            cfg = self.config
            self._margins[key] = worst_call_nano(cfg.workflows[wf], cfg.pricing) if wf else org_worst_call_nano(cfg)
        return self._margins[key]

    # --- spend ------------------------------------------------------------------------------------

    def spend(
        self,
        wf: str,
        today: date,
        figures: SpendFigures,
        stats: Mapping[str, int] | None = None,
        refused: Mapping[str, int] | None = None,
    ) -> list[Condition]:
        """One workflow's spend conditions (daily and monthly thresholds, month-end forecast).

        ``stats``: the month's counters (day costs feed the forecast); ``refused``: money-limit
        refusals this month (``health.refused_counts``), known to the full check only.
        """
        w = self.config.workflows[wf]
        stats, refused = stats or {}, refused or {}
        day, month = today.isoformat(), today.strftime("%Y-%m")
        margin = self.margin(wf)
        fc = project_month(figures.month_spent, w.monthly_nano, today, day_costs(stats, [wf]))
        crit = critical_reason("daily", figures.day_spent, figures.day_held, w.daily_nano, margin)
        out = self.thresholds(wf, "daily", day, figures.day_spent, w.daily_nano, fc, crit)
        crit = critical_reason(
            "monthly", figures.month_spent, figures.month_held, w.monthly_nano, margin, refused.get(wf, 0)
        )
        out += self.thresholds(wf, "monthly", month, figures.month_spent, w.monthly_nano, fc, crit)
        return out + self.forecast(wf, month, fc)

    def org(
        self,
        today: date,
        spent: int,
        held: int,
        stats: Mapping[str, int] | None = None,
        refused: Mapping[str, int] | None = None,
    ) -> list[Condition]:
        """The org's spend conditions (monthly thresholds, reserve, month-end forecast)."""
        cfg = self.config
        stats, refused = stats or {}, refused or {}
        month = today.strftime("%Y-%m")
        fc = project_month(spent, cfg.org_monthly_nano, today, day_costs(stats, cfg.workflows))
        crit = critical_reason("org", spent, held, cfg.org_monthly_nano, self.margin(None), refused.get("org", 0))
        out = self.thresholds(None, "monthly", month, spent, cfg.org_monthly_nano, fc, crit)
        return out + self.reserve(month, spent, fc) + self.forecast(None, month, fc)

    def thresholds(
        self,
        wf: str | None,
        kind: str,
        period: str,
        spent: int,
        limit: int,
        fc: Forecast | None,
        critical: str = "",
    ) -> list[Condition]:
        """Warn and critical of one period; ``critical`` (health.critical_reason) makes the period critical below
        the threshold too: the ledger refuses before spend reaches 100%, so spend alone rarely gets there."""
        if limit <= 0 or (spent <= 0 and not critical):
            return []
        scope = wf or "org"
        out = []
        for suffix, level, fraction in (
            ("warn", WARNING, self.settings.warn_pct),
            ("critical", CRITICAL, self.settings.critical_pct),
        ):
            crossed = spent >= fraction_of(limit, fraction)
            if not crossed and not (suffix == "critical" and critical):
                continue
            condition = f"{kind}_{suffix}"
            message = messages.threshold(
                self.label(wf), kind, suffix, period, spent, limit, fraction, crossed, critical, fc
            )
            alert = Alert(
                level=level,
                condition=condition,
                workflow_id=wf,
                period=period,
                message=message,
                spent_nano=spent,
                limit_nano=limit,
                forecast=fc,
                dedup_key=self.dedup_id(condition, scope, period),
            )
            kind_of_period = "day" if kind == "daily" else "month"
            claim = (condition, f"{fraction:g}", scope, period)
            out.append(Condition(alert, claim, kind_of_period, f"{kind}:{scope}:{period}", kind_of_period))
        return out

    def reserve(self, month: str, org_spent: int, fc: Forecast) -> list[Condition]:
        cfg = self.config
        if cfg.reserve_pct <= 0 or cfg.org_monthly_nano <= 0:
            return []
        threshold = fraction_of(cfg.org_monthly_nano, 1 - cfg.reserve_pct)
        if org_spent <= threshold:  # the ledger's own rule: in reserve once spent is past the threshold
            return []
        alert = Alert(
            level=WARNING,
            condition=ORG_RESERVE,
            workflow_id=None,
            period=month,
            message=messages.reserve(cfg.reserve_pct, org_spent, cfg.org_monthly_nano, threshold, fc),
            spent_nano=org_spent,
            limit_nano=cfg.org_monthly_nano,
            forecast=fc,
            dedup_key=self.dedup_id(ORG_RESERVE, "org", month),
        )
        return [Condition(alert, (ORG_RESERVE, "org", month), "month")]

    def forecast(self, wf: str | None, month: str, fc: Forecast) -> list[Condition]:
        # Once the budget is spent the critical threshold has said so; a forecast would only repeat it.
        if not fc.over_budget or fc.exhausted:
            return []
        scope = wf or "org"
        alert = Alert(
            level=WARNING,
            condition=FORECAST,
            workflow_id=wf,
            period=month,
            message=messages.forecast(self.label(wf), fc),
            spent_nano=fc.spent_nano,
            limit_nano=fc.budget_nano,
            forecast=fc,
            dedup_key=self.dedup_id(FORECAST, scope, month),
        )
        return [Condition(alert, (FORECAST, scope, month), "month")]

    def quiet_floors(self, wf: str, today: date) -> tuple[float, float, float]:
        """The least daily, monthly and org spend + held at which ``spend`` / ``org`` can find anything (per day)."""
        floors = self._floors.get((wf, today))
        if floors is None:
            cfg, w = self.config, self.config.workflows[wf]
            elapsed, total = today.day, days_in_month(today)

            def threshold(limit: int) -> float:  # thresholds: spent > 0 and spent >= limit x fraction
                if limit <= 0:
                    return math.inf
                return max(1, min(fraction_of(limit, f) for f in (self.settings.warn_pct, self.settings.critical_pct)))

            def forecast(budget: int) -> float:  # project_month: spent x total // elapsed > budget
                return -(-(budget + 1) * elapsed // total) if budget > 0 else math.inf

            def one_call(limit: int, margin: int) -> float:  # critical_reason: spent + held > limit - margin
                return max(1, limit - margin + 1) if limit > 0 and margin > 0 else math.inf

            margin, org_margin = self.margin(wf), self.margin(None)
            org = min(threshold(cfg.org_monthly_nano), forecast(cfg.org_monthly_nano))
            org = min(org, one_call(cfg.org_monthly_nano, org_margin))
            if cfg.reserve_pct > 0 and cfg.org_monthly_nano > 0:  # reserve: past the threshold
                org = min(org, fraction_of(cfg.org_monthly_nano, 1 - cfg.reserve_pct) + 1)
            daily = min(threshold(w.daily_nano), one_call(w.daily_nano, margin))
            monthly = min(threshold(w.monthly_nano), forecast(w.monthly_nano), one_call(w.monthly_nano, margin))
            floors = (daily, monthly, org)
            if len(self._floors) > 256:
                self._floors.clear()
            self._floors[(wf, today)] = floors
        return floors

    # --- counted events (``counted`` reads them from the stats) -----------------------------------

    def blocked(self, workflow_id: str, reason: str, day: str, count: int | None = None) -> Condition:
        """A block: one just now (``count`` None), or ``count`` since the last check; once per reason and day."""
        wid, why = safe_id(workflow_id), safe_id(reason)
        alert = Alert(
            level=BLOCK_LEVELS.get(reason, WARNING),
            condition=BLOCKED,
            workflow_id=workflow_id,
            period=day,
            message=messages.blocked(self.label(workflow_id), reason, count, day),
            reason=reason,
            dedup_key=self.dedup_id(f"{BLOCKED}:{why}", wid, day),
        )
        return Condition(alert, (BLOCKED, wid, why, day), "day", incident_kind="day")

    def over_hold(self, workflow_id: str, new: int, month_count: int, month_nano: int, day: str) -> Condition:
        """WARNING, once per workflow and day: calls settled above their hold (an overrun the ledger let by)."""
        wid = safe_id(workflow_id)
        alert = Alert(
            level=WARNING,
            condition=OVER_HOLD,
            workflow_id=workflow_id,
            period=day,
            message=messages.over_hold(self.label(workflow_id), new, month_count, month_nano),
            dedup_key=self.dedup_id(OVER_HOLD, wid, day),
        )
        return Condition(alert, (OVER_HOLD, wid, day), "day")

    def session_soft(self, workflow_id: str, session_id: str, tokens: int, soft: int) -> Condition:
        """INFO, once per session: a session passed its soft token limit."""
        alert = Alert(
            level=INFO,
            condition=SESSION_SOFT,
            workflow_id=workflow_id,
            period=session_id,
            message=messages.session_soft(self.label(workflow_id), session_id, tokens, soft),
            session_id=session_id,
            dedup_key=self.dedup_id(SESSION_SOFT, workflow_id, safe_id(session_id)),
        )
        return Condition(alert, (SESSION_SOFT, safe_id(workflow_id), safe_id(session_id)), "month")


def counted(
    rules: Conditions, stats: Mapping[str, int], seen: Mapping[str, str], day: str, workflow_id: str | None = None
) -> tuple[list[Condition], dict[str, int]]:
    """Blocks and calls over their hold counted since the last check (the month's ``blocked|wf|reason``
    and ``over_hold|wf`` counters against the counts already alerted on), and the new seen counts."""
    blocks: list[Condition] = []
    overruns: list[Condition] = []
    updates: dict[str, int] = {}
    for name, count in stats.items():
        if name.startswith("blocked|") and name.count("|") >= 2:
            wf, reason = name[len("blocked|") :].rsplit("|", 1)
        elif name.startswith("over_hold|"):
            wf, reason = name[len("over_hold|") :], None
        else:
            continue
        new = count - int(seen.get(name, "0") or 0)
        if (workflow_id is not None and wf != workflow_id) or new <= 0:
            continue
        updates[name] = count
        if reason is not None:
            blocks.append(rules.blocked(wf, reason, day, new))
        else:
            overruns.append(rules.over_hold(wf, new, count, stats.get(f"over_hold_nano|{wf}", 0), day))
    return blocks + overruns, updates


__all__ = ["Conditions", "counted", "fraction_of", "safe_id"]
