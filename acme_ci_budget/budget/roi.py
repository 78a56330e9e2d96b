"""Return on investment: the value the config's ``roi:`` section puts on the AI work, against the month's AI spend.

Owns the two bases and their arithmetic:

- ``monthly_hours`` (the lab's Phase 5): each role saves a fixed number of hours a month at its hourly
  rate (engineer 180 h x $90 = $16,200, ...). A month in progress counts the days elapsed so far
  (day 15 of 30 is half the month's hours), so its ROI is not set against half a month's spend; and a
  role counts only once its workflows ran that month (a role mapped to no workflow, once anything ran),
  so a workflow not rolled out yet (the lab's week 1 runs only the review) claims no hours.
- ``per_task``: each task or session of a workflow saves its ``hours_saved_per_task``, so value grows
  with use.

Net ROI is (value - spend) / spend, and the multiple is value / spend; both use the month's whole AI
spend (the org counter). Money is integer nano-USD, each line rounded once and the total their sum.
Pure: it takes the config and the workflows' month figures; it must not read Redis, render or print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from acme_ci_budget.config import Config
from acme_ci_budget.core.money import fmt_usd, nano_to_usd, usd_to_nano

BASIS_LABELS = {
    "monthly_hours": "fixed monthly hours per role",
    "per_task": "hours saved per task or session",
}


@dataclass(frozen=True)
class WorkflowMonth:
    """What the ROI needs of one workflow's month: its label, tasks + sessions and spend."""

    id: str
    label: str
    units: int
    spend_nano: int


@dataclass(frozen=True)
class RoiLine:
    key: str  # the role (monthly_hours) or the workflow id (per_task)
    label: str
    role: str
    hourly_rate: Decimal
    hours_saved: Decimal  # in the period the report covers (pro-rated for a month in progress)
    value_nano: int
    spend_nano: int  # the AI spend of the workflows this line covers
    workflow_ids: tuple[str, ...]
    month_value_nano: int = 0  # monthly_hours: a whole month's value; per_task: the value
    units: int | None = None  # per_task: tasks + sessions
    hours_saved_per_task: Decimal | None = None  # per_task
    hours_saved_per_month: Decimal | None = None  # monthly_hours: the configured month
    ran: bool = True  # monthly_hours: its workflows ran this month (else it counts no hours)

    @property
    def workflow_id(self) -> str:
        return self.key

    @property
    def net_roi_pct(self) -> float | None:
        return roi_pct(self.value_nano, self.spend_nano)

    @property
    def multiple(self) -> float | None:
        return roi_multiple(self.value_nano, self.spend_nano)


@dataclass(frozen=True)
class RoiSummary:
    basis: str  # monthly_hours | per_task
    lines: tuple[RoiLine, ...]
    value_nano: int
    spend_nano: int  # all AI spend of the month (the org counter), not only the mapped workflows
    month_value_nano: int  # monthly_hours: a whole month's value (the lab's $26,500); per_task: the value
    prorated: tuple[int, int] | None = None  # (days counted, days in the month) for a month in progress

    @property
    def net_nano(self) -> int:
        return self.value_nano - self.spend_nano

    @property
    def net_roi_pct(self) -> float | None:
        return roi_pct(self.value_nano, self.spend_nano)

    @property
    def multiple(self) -> float | None:
        return roi_multiple(self.value_nano, self.spend_nano)

    @property
    def hours_saved(self) -> Decimal:
        return sum((line.hours_saved for line in self.lines), Decimal(0))

    @property
    def basis_label(self) -> str:
        return BASIS_LABELS[self.basis]

    @property
    def basis_note(self) -> str:
        """One line saying how the value was reckoned, for every output format."""
        if self.basis == "per_task":
            return "per task (roi.basis: per_task): tasks and sessions x hours saved per task x hourly rate"
        note = (
            f"fixed monthly hours (roi.basis: monthly_hours): hours saved per month x hourly rate, "
            f"{fmt_usd(self.month_value_nano)}/month"
        )
        if self.prorated:
            days, n_days = self.prorated
            note += f", counted for day {days} of {n_days} so far"
        idle = [line.role for line in self.lines if not line.ran]
        if idle:
            note += f"; no hours for {', '.join(idle)}: {'its' if len(idle) == 1 else 'their'} workflows did not run"
        return note


def roi_pct(value_nano: int, spend_nano: int) -> float | None:
    return (value_nano - spend_nano) * 100.0 / spend_nano if spend_nano else None


def roi_multiple(value_nano: int, spend_nano: int) -> float | None:
    return value_nano / spend_nano if spend_nano else None


def fmt_multiple(multiple: float | None) -> str:
    """``x50``, ``x3,354``, ``x2.5``: whole above 10, one decimal below (n/a without spend)."""
    if multiple is None:
        return "n/a"
    return f"x{multiple:,.0f}" if multiple >= 10 else f"x{multiple:,.1f}"


def build_roi(
    config: Config,
    workflows: Sequence[WorkflowMonth],
    org_spend_nano: int,
    days_counted: int,
    days_in_month: int,
) -> RoiSummary | None:
    """The ROI block of a month (None without ``roi:``); ``days_counted < days_in_month`` pro-rates monthly hours."""
    roi = config.roi
    if roi is None:
        return None
    by_id = {wf.id: wf for wf in workflows}
    if roi.basis == "per_task":
        lines = _per_task_lines(config, by_id)
        value = sum(line.value_nano for line in lines)
        return RoiSummary("per_task", tuple(lines), value, org_spend_nano, value)
    share = Decimal(days_counted) / Decimal(days_in_month) if days_in_month else Decimal(0)
    anything_ran = any(wf.units or wf.spend_nano for wf in workflows)
    lines = []
    month_value = 0
    for role, entry in roi.roles.items():
        hours = entry.hours_saved_per_month or Decimal(0)
        wids = tuple(wid for wid, m in roi.workflows.items() if m.role == role)
        ran = any(by_id[w].units or by_id[w].spend_nano for w in wids if w in by_id) if wids else anything_ran
        counted = share if ran else Decimal(0)
        role_month = usd_to_nano(hours * entry.hourly_rate_usd)
        month_value += role_month
        lines.append(
            RoiLine(
                key=role,
                label=role,
                role=role,
                hourly_rate=entry.hourly_rate_usd,
                hours_saved=hours * counted,
                value_nano=usd_to_nano(hours * entry.hourly_rate_usd * counted),
                spend_nano=sum(by_id[w].spend_nano for w in wids if w in by_id),
                workflow_ids=wids,
                month_value_nano=role_month,
                hours_saved_per_month=hours,
                ran=ran,
            )
        )
    prorated = (days_counted, days_in_month) if days_counted != days_in_month else None
    value = sum(line.value_nano for line in lines)
    return RoiSummary("monthly_hours", tuple(lines), value, org_spend_nano, month_value, prorated)


def _per_task_lines(config: Config, by_id: Mapping[str, WorkflowMonth]) -> list[RoiLine]:
    lines = []
    for wid, mapping in config.roi.workflows.items():
        wf = by_id.get(wid)
        if wf is None:
            continue
        rate = config.roi.roles[mapping.role].hourly_rate_usd
        per_task = mapping.hours_saved_per_task or Decimal(0)
        value = usd_to_nano(Decimal(wf.units) * per_task * rate)
        lines.append(
            RoiLine(
                key=wid,
                label=wf.label,
                role=mapping.role,
                hourly_rate=rate,
                hours_saved=wf.units * per_task,
                value_nano=value,
                spend_nano=wf.spend_nano,
                workflow_ids=(wid,),
                month_value_nano=value,
                units=wf.units,
                hours_saved_per_task=per_task,
            )
        )
    return lines


def roi_json(roi: RoiSummary) -> dict:
    """The report JSON's ``roi`` object: lines keyed by role (monthly_hours) or by workflow (per_task)."""
    data: dict = {
        "basis": roi.basis,
        "basis_note": roi.basis_note,
        "value_usd": nano_to_usd(roi.value_nano),
        "month_value_usd": nano_to_usd(roi.month_value_nano),
        "prorated_days": list(roi.prorated) if roi.prorated else None,
        "spend_usd": nano_to_usd(roi.spend_nano),
        "net_usd": nano_to_usd(roi.net_nano),
        "net_roi_pct": roi.net_roi_pct,
        "multiple": roi.multiple,
        "hours_saved": float(roi.hours_saved),
    }
    lines = {}
    for line in roi.lines:
        entry = {
            "role": line.role,
            "hourly_rate_usd": float(line.hourly_rate),
            "hours_saved": float(line.hours_saved),
            "value_usd": nano_to_usd(line.value_nano),
            "spend_usd": nano_to_usd(line.spend_nano),
            "net_roi_pct": line.net_roi_pct,
            "multiple": line.multiple,
        }
        if roi.basis == "per_task":
            entry |= {"tasks": line.units, "hours_saved_per_task": float(line.hours_saved_per_task)}
        else:
            entry |= {
                "hours_saved_per_month": float(line.hours_saved_per_month),
                "month_value_usd": nano_to_usd(line.month_value_nano),
                "workflows": list(line.workflow_ids),
                "workflows_ran": line.ran,
            }
        lines[line.key] = entry
    data["roles" if roi.basis == "monthly_hours" else "workflows"] = lines
    return data
