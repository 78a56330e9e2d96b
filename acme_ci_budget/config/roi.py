"""The ``roi:`` section: roles with hourly rates, workflows mapped to a role, and the basis of the hours.

Owns the two ROI bases (``monthly_hours``, the lab's, and ``per_task``), inferring the basis when the file
gives one kind of hours only, and the hours each basis requires. It must not compute any ROI figure:
``budget.roi`` does, from the ``Roi`` this returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acme_ci_budget.config.fields import MAX_HOURLY_RATE_USD, MAX_HOURS_SAVED, MAX_HOURS_SAVED_PER_MONTH, Fields
from acme_ci_budget.config.model import ROI_BASES, Roi, RoiRole, RoiWorkflow, Workflow


def roi_section(v: Fields, value: Any, workflows: Mapping[str, Workflow]) -> Roi | None:
    """``roi:``: roles with rates (and monthly hours), workflows mapped to a role (and hours per task).

    ``basis`` says which hours count; omitted, it is inferred only when the file gives one kind of hours.
    """
    if value is None:
        return None
    body = v.mapping(value, "roi", {"basis", "roles", "workflows"}, {"roles"})
    roles_raw = v.mapping(body["roles"], "roi.roles", set(body["roles"]) if isinstance(body["roles"], dict) else set())
    if not roles_raw:
        raise v.fail("roi.roles", "expected at least one role (e.g. engineer: {hourly_rate_usd: 90})")
    roles = {}
    for role, entry in roles_raw.items():
        where = f"roi.roles.{role}"
        entry = v.mapping(entry, where, {"hourly_rate_usd", "hours_saved_per_month"}, {"hourly_rate_usd"})
        monthly = entry.get("hours_saved_per_month")
        roles[role] = RoiRole(
            hourly_rate_usd=v.number(entry["hourly_rate_usd"], f"{where}.hourly_rate_usd", maximum=MAX_HOURLY_RATE_USD),
            hours_saved_per_month=(
                v.number(monthly, f"{where}.hours_saved_per_month", maximum=MAX_HOURS_SAVED_PER_MONTH)
                if monthly is not None
                else None
            ),
        )
    wfs_raw = v.mapping(body.get("workflows") or {}, "roi.workflows", set(workflows))
    mapped = {}
    for wid, entry in wfs_raw.items():
        where = f"roi.workflows.{wid}"
        entry = v.mapping(entry, where, {"role", "hours_saved_per_task"}, {"role"})
        role = v.string(entry["role"], f"{where}.role")
        if role not in roles:
            raise v.fail(f"{where}.role", f"unknown role {role!r} (defined: {', '.join(sorted(roles))})")
        per_task = entry.get("hours_saved_per_task")
        mapped[wid] = RoiWorkflow(
            role,
            v.number(per_task, f"{where}.hours_saved_per_task", maximum=MAX_HOURS_SAVED)
            if per_task is not None
            else None,
        )
    basis = roi_basis(v, body.get("basis"), roles, mapped)
    if basis == "monthly_hours":
        for role, entry in roles.items():
            if entry.hours_saved_per_month is None:
                raise v.fail(
                    f"roi.roles.{role}.hours_saved_per_month", "missing required field (roi.basis is monthly_hours)"
                )
    else:
        if not mapped:
            raise v.fail("roi.workflows", "missing required field (roi.basis is per_task)")
        for wid, entry in mapped.items():
            if entry.hours_saved_per_task is None:
                raise v.fail(
                    f"roi.workflows.{wid}.hours_saved_per_task", "missing required field (roi.basis is per_task)"
                )
    return Roi(basis=basis, roles=roles, workflows=mapped)


def roi_basis(v: Fields, value: Any, roles: Mapping[str, RoiRole], mapped: Mapping[str, RoiWorkflow]) -> str:
    if value is not None:
        basis = v.string(value, "roi.basis")
        if basis not in ROI_BASES:
            raise v.fail("roi.basis", f"expected one of {', '.join(ROI_BASES)}, got {value!r}")
        return basis
    monthly = any(r.hours_saved_per_month is not None for r in roles.values())
    per_task = any(w.hours_saved_per_task is not None for w in mapped.values())
    if monthly != per_task:
        return "monthly_hours" if monthly else "per_task"
    given = "both hours_saved_per_month and hours_saved_per_task" if monthly else "no hours saved"
    raise v.fail("roi.basis", f"missing: the file gives {given}; set monthly_hours or per_task")
