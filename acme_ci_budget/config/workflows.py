"""The ``workflows:`` section: each workflow's budgets, token limits, loop cap, routing and inventory.

Owns the rules of one workflow entry (daily within monthly, soft within hard, routing tiers and their
``max_tokens``, the inventory's model defaulting to the routing's). It must not check models against the
price catalogue (``pricing.check_models`` does, once the whole file is read) nor the org-wide sum (``validate``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from acme_ci_budget.config.fields import MAX_LOOP_STEPS, MAX_MONTHLY_TASKS, MAX_RUN_TIMEOUT_SECONDS, MAX_RUN_USD, Fields
from acme_ci_budget.config.model import TIERS, Inventory, Routing, TokenLimits, Workflow
from acme_ci_budget.core.money import usd_to_nano


def workflow_section(v: Fields, wid: Any, body: Any) -> Workflow:
    if not isinstance(wid, str) or not re.fullmatch(r"[a-z0-9_]+", wid):
        raise v.fail(f"workflows.{wid}", "workflow ids use lowercase letters, digits and '_'")
    where = f"workflows.{wid}"
    body = v.mapping(
        body,
        where,
        {
            "label",
            "monthly_usd",
            "daily_usd",
            "per_task_tokens",
            "per_session_tokens",
            "max_loop_steps",
            "alert_email",
            "routing",
            "inventory",
            "cache_system_prompt",
            "per_run_usd",
            "run_timeout_seconds",
        },
        {"monthly_usd", "daily_usd", "per_task_tokens", "per_session_tokens", "routing"},
    )
    monthly = v.usd(body["monthly_usd"], f"{where}.monthly_usd")
    daily = v.usd(body["daily_usd"], f"{where}.daily_usd")
    if daily > monthly:
        raise v.fail(
            f"{where}.daily_usd",
            f"daily ${daily / 1e9:,.2f} is above monthly_usd ${monthly / 1e9:,.2f}",
        )
    email = body.get("alert_email")
    return Workflow(
        id=wid,
        label=v.string(body.get("label", wid), f"{where}.label"),
        monthly_nano=monthly,
        daily_nano=daily,
        per_task_tokens=limits(v, body["per_task_tokens"], f"{where}.per_task_tokens"),
        per_session_tokens=limits(v, body["per_session_tokens"], f"{where}.per_session_tokens"),
        max_loop_steps=v.integer(body.get("max_loop_steps", 10), f"{where}.max_loop_steps", 1, MAX_LOOP_STEPS),
        alert_email=v.string(email, f"{where}.alert_email") if email is not None else None,
        routing=routing(v, body["routing"], f"{where}.routing"),
        inventory=inventory(v, body.get("inventory"), f"{where}.inventory", body["routing"]),
        cache_system_prompt=v.boolean(body.get("cache_system_prompt", False), f"{where}.cache_system_prompt"),
        per_run_nano=per_run(v, body.get("per_run_usd"), f"{where}.per_run_usd"),
        run_timeout_seconds=v.integer(
            body.get("run_timeout_seconds", Workflow.run_timeout_seconds),
            f"{where}.run_timeout_seconds",
            1,
            MAX_RUN_TIMEOUT_SECONDS,
        ),
    )


def per_run(v: Fields, value: Any, where: str) -> int | None:
    """One agent run's most (USD, as nano-USD): at least a cent, at most the ledger's one-hold ceiling."""
    if value is None:
        return None
    return usd_to_nano(v.number(value, where, minimum=Decimal("0.01"), maximum=MAX_RUN_USD))


def limits(v: Fields, value: Any, where: str) -> TokenLimits:
    body = v.mapping(value, where, {"soft", "hard"}, {"soft", "hard"})
    soft = v.tokens(body["soft"], f"{where}.soft")
    hard = v.tokens(body["hard"], f"{where}.hard")
    if soft > hard:
        raise v.fail(f"{where}.soft", f"soft limit {soft} is above the hard limit {hard}")
    return TokenLimits(soft, hard)


def routing(v: Fields, value: Any, where: str) -> Routing:
    body = v.mapping(
        value,
        where,
        {
            "default_model",
            "complex_model",
            "simple_model",
            "threshold_tokens",
            "complexity_keywords",
            "max_tokens",
            "budget_pressure_pct",
            "complex_paths",
        },
        {"default_model"},
    )
    default = v.string(body["default_model"], f"{where}.default_model")
    max_tokens_raw = v.mapping(body.get("max_tokens") or {}, f"{where}.max_tokens", set(TIERS))
    max_tokens = {tier: 1024 for tier in TIERS}
    for tier, value_ in max_tokens_raw.items():
        max_tokens[tier] = v.tokens(value_, f"{where}.max_tokens.{tier}")
    pressure = v.fraction(body.get("budget_pressure_pct", "0.9"), f"{where}.budget_pressure_pct")
    keywords = v.strings(body.get("complexity_keywords"), f"{where}.complexity_keywords")
    return Routing(
        default_model=default,
        complex_model=v.string(body.get("complex_model", default), f"{where}.complex_model"),
        simple_model=v.string(body.get("simple_model", default), f"{where}.simple_model"),
        threshold_tokens=v.tokens(body.get("threshold_tokens", 8000), f"{where}.threshold_tokens"),
        complexity_keywords=tuple(k.lower() for k in keywords),
        max_tokens=max_tokens,
        budget_pressure_pct=float(pressure),
        complex_paths=v.globs(body["complex_paths"], f"{where}.complex_paths")
        if body.get("complex_paths") is not None
        else None,
    )


def inventory(v: Fields, value: Any, where: str, routing_raw: dict) -> Inventory | None:
    if value is None:
        return None
    body = v.mapping(
        value,
        where,
        {"model", "monthly_tasks", "avg_input_tokens", "avg_output_tokens", "avg_turns", "cacheable_input_tokens"},
        {"monthly_tasks", "avg_input_tokens", "avg_output_tokens"},
    )
    turns = body.get("avg_turns")
    return Inventory(
        model=v.string(body.get("model", routing_raw.get("default_model")), f"{where}.model"),
        monthly_tasks=v.integer(body["monthly_tasks"], f"{where}.monthly_tasks", 0, MAX_MONTHLY_TASKS),
        avg_input_tokens=v.tokens(body["avg_input_tokens"], f"{where}.avg_input_tokens", 0),
        avg_output_tokens=v.tokens(body["avg_output_tokens"], f"{where}.avg_output_tokens", 0),
        avg_turns=v.integer(turns, f"{where}.avg_turns", 1, MAX_LOOP_STEPS) if turns is not None else None,
        cacheable_input_tokens=v.tokens(body.get("cacheable_input_tokens", 0), f"{where}.cacheable_input_tokens", 0),
    )
