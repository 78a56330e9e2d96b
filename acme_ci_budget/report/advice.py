"""The report's optimization opportunities: rules that read a month's figures and say what to change.

Owns the thresholds (one place, so the wording and the maths agree), each rule, and their order
(most urgent first). A rule fires only when the data supports its advice. It must not read Redis,
build the report's figures (``monthly`` does) or render.
"""

from __future__ import annotations

from decimal import Decimal

from acme_ci_budget.catalog.pricing import min_cacheable_tokens
from acme_ci_budget.config import Config, Workflow
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.report.model import Opportunity, WorkflowReport

NANO = 1_000_000_000

# Rule thresholds for the optimization opportunities (one place, so the wording and the maths agree).
MIN_CALLS_FOR_RULES = 20  # below this a share or a rate says nothing
COMPLEX_SHARE_PCT = 50.0  # the complex model takes at least this share of a workflow's spend
LOW_CACHE_HIT_PCT = 30.0  # a cacheable multi-call workflow reading less than this from the cache
MULTI_CALL_RATIO = 1.5  # calls per task or session above which a cached prompt is re-read
BUDGET_SLACK_PCT = 30.0  # month (or its forecast) below this share of the monthly limit
NEAR_LIMIT_PCT = 90.0  # a day at or above this share of the daily limit "binds"
ESTIMATE_OFF_RATIO = Decimal("1.5")  # actual above 1.5x, or below 1/1.5, of the estimate to date
OPPORTUNITY_ORDER = (
    "monthly_limit_binding",
    "daily_limit_binding",
    "not_in_config",
    "complex_model_share",
    "low_cache_hit",
    "estimate_off",
    "budget_slack",
)
# Words most requests contain: a complexity keyword from this list routes routine work to the big model.
COMMON_WORDS = frozenset(
    {
        "bug",
        "change",
        "code",
        "debug",
        "design",
        "error",
        "fix",
        "help",
        "improve",
        "issue",
        "optimize",
        "refactor",
        "review",
        "test",
        "update",
    }
)


def opportunities(
    config: Config, workflows: tuple[WorkflowReport, ...], state: str, elapsed: int, n_days: int
) -> list[Opportunity]:

    found: list[Opportunity] = []
    for wf in workflows:
        cfg = config.workflows.get(wf.id)
        if cfg is None:
            if wf.calls:
                found.append(
                    Opportunity(
                        wf.id,
                        "not_in_config",
                        f"{wf.id} spent {fmt_usd(wf.stats_cost_nano)} but is not in the config",
                        "Its calls were settled under an id the current config does not define; add it back with "
                        "a budget or find what still sends that id.",
                    )
                )
            continue
        found += _complex_share_rule(cfg, wf)
        found += _cache_rule(cfg, wf)
        found += _budget_rules(cfg, wf, state, elapsed, n_days)
        found += _estimate_rule(wf)
    # Most urgent first: refused work, then money going to the wrong place, then planning hygiene.
    order = {kind: i for i, kind in enumerate(OPPORTUNITY_ORDER)}
    return sorted(found, key=lambda o: order.get(o.kind, len(order)))


def _complex_share_rule(cfg: Workflow, wf: WorkflowReport) -> list[Opportunity]:
    routing = cfg.routing
    if routing.complex_model == routing.default_model or wf.calls < MIN_CALLS_FOR_RULES:
        return []
    share = next((m for m in wf.models if m.model == routing.complex_model), None)
    if share is None or share.share_pct < COMPLEX_SHARE_PCT:
        return []
    common = [k for k in routing.complexity_keywords if k in COMMON_WORDS]
    if common:
        why = (
            f"its complexity keywords include common words ({', '.join(common)}) that most requests contain, "
            "so routine work is routed to the complex model"
        )
        fix = "Drop or narrow those keywords, or require a keyword and a prompt above the size threshold."
    else:
        why = "the complex model takes most of its spend"
        fix = f"Check which requests its routing sends there (keywords, threshold_tokens {routing.threshold_tokens})."
    return [
        Opportunity(
            wf.id,
            "complex_model_share",
            f"{wf.label}: {share.share_pct:.0f}% of spend on {routing.complex_model}",
            f"{why[0].upper()}{why[1:]}. {fix}",
        )
    ]


def _cache_rule(cfg: Workflow, wf: WorkflowReport) -> list[Opportunity]:
    cacheable = cfg.cache_system_prompt or (cfg.inventory is not None and cfg.inventory.cacheable_input_tokens > 0)
    hit = wf.cache_hit_pct
    if not cacheable or hit is None or wf.calls < MIN_CALLS_FOR_RULES or not wf.units:
        return []
    # A single-call task cannot read its own cache entry back; only repeated calls can gain.
    if wf.calls < wf.units * MULTI_CALL_RATIO or hit >= LOW_CACHE_HIT_PCT:
        return []
    inv = cfg.inventory
    minimum = min_cacheable_tokens(cfg.routing.default_model)
    if inv is not None and 0 < inv.cacheable_input_tokens < minimum:
        detail = (
            f"The stable prompt (about {inv.cacheable_input_tokens:,} tokens) is below {cfg.routing.default_model}'s "
            f"{minimum:,}-token cache minimum, so the API never caches it: cache a longer stable prefix "
            "(instructions, examples, repository context) or stop paying attention to this line."
        )
    elif wf.tokens["cache_write"] == 0 and wf.tokens["cache_read"] == 0:
        detail = "No call wrote or read the prompt cache: check that the client marks the stable system prompt "
        detail += "with cache_control."
    else:
        detail = "The stable prompt is written but rarely read back: keep it byte-identical across turns "
        detail += "(no timestamps or per-request text before the cache breakpoint)."
    return [
        Opportunity(
            wf.id,
            "low_cache_hit",
            f"{wf.label}: cache hit rate {hit:.0f}% on a cacheable prompt "
            f"({wf.calls / wf.units:.1f} calls per {wf.unit_name})",
            detail,
        )
    ]


def _budget_rules(cfg: Workflow, wf: WorkflowReport, state: str, elapsed: int, n_days: int) -> list[Opportunity]:

    found = []
    # Judge a month by its forecast once a week of it has passed; a finished month by its spend.
    month_nano = wf.monthly_spend_nano if state == "complete" else wf.forecast_nano
    if (
        month_nano is not None
        and (state == "complete" or elapsed >= 7)
        and cfg.monthly_nano
        and month_nano * 100 < cfg.monthly_nano * BUDGET_SLACK_PCT
    ):
        found += _slack_rule(cfg, wf, month_nano, "spent" if state == "complete" else "forecast for the month")
    days = elapsed if state != "future" else 0
    daily_blocks = wf.blocked.get("daily_limit_exceeded", 0)
    most_days = wf.days_near_limit >= max(3, (days + 1) // 2)
    if days and most_days:
        extra = f"; {daily_blocks:,} requests blocked by it" if daily_blocks else ""
        found.append(
            Opportunity(
                wf.id,
                "daily_limit_binding",
                f"{wf.label}: daily limit binding on {wf.days_near_limit} of {days} days{extra}",
                f"The {fmt_usd(cfg.daily_nano)} daily limit is reached (>= {NEAR_LIMIT_PCT:.0f}%) on most days: "
                "raise it if the work is wanted, or cut per-call cost (cheaper model, shorter context).",
            )
        )
    elif days and daily_blocks:
        # Blocks without days near the limit: a request's worst case (input + max_tokens) did not fit in
        # what was left of the day, so the advice is about the request's size, not the day's spend.
        near = f"spend reached {NEAR_LIMIT_PCT:.0f}% of it on {wf.days_near_limit} of {days} days"
        found.append(
            Opportunity(
                wf.id,
                "daily_limit_binding",
                f"{wf.label}: {daily_blocks:,} requests blocked by the {fmt_usd(cfg.daily_nano)} daily limit ({near})",
                "Each request is checked at its worst case (input plus max_tokens) against what is left of the "
                "day: lower max_tokens for this workflow, or raise the daily limit if the refused work is wanted.",
            )
        )
    monthly_blocks = wf.blocked.get("monthly_limit_exceeded", 0)
    if monthly_blocks:
        found.append(
            Opportunity(
                wf.id,
                "monthly_limit_binding",
                f"{wf.label}: {monthly_blocks:,} requests blocked by the monthly limit",
                "The month's budget ran out before the month did: review the budget against the work it must cover.",
            )
        )
    return found


def _slack_rule(cfg: Workflow, wf: WorkflowReport, month_nano: int, basis: str) -> list[Opportunity]:
    """A budget far above use: how far it can come down, and why that figure."""
    if month_nano == 0:
        # Nothing to size a budget on: "twice the use" would be $0. Say what the data does show.
        return [
            Opportunity(
                wf.id,
                "budget_slack",
                f"{wf.label}: no spend against its {fmt_usd(cfg.monthly_nano)} budget ({basis} $0.00)",
                "Nothing ran under this workflow id: check that its runs use it (the action's `workflow` input, "
                "the client's workflow_id), or move its budget to a workflow that runs.",
            )
        ]
    twice = month_nano * 2
    target = _round_up_budget(max(twice, cfg.daily_nano))
    if target >= cfg.monthly_nano:
        return []
    why = "twice the use" if twice >= cfg.daily_nano else "one day's limit, the least a month can hold"
    return [
        Opportunity(
            wf.id,
            "budget_slack",
            f"{wf.label}: budget far above use ({fmt_usd(month_nano)} {basis} of {fmt_usd(cfg.monthly_nano)})",
            f"Lowering the monthly budget to about {fmt_usd(target, 0)} ({why}) would free "
            f"{fmt_usd(cfg.monthly_nano - target, 0)} for other workflows.",
        )
    ]


def _estimate_rule(wf: WorkflowReport) -> list[Opportunity]:
    est = wf.estimate_to_date_nano
    if not est or wf.calls < MIN_CALLS_FOR_RULES:
        return []
    actual = Decimal(wf.monthly_spend_nano)
    if actual <= est * ESTIMATE_OFF_RATIO and actual * ESTIMATE_OFF_RATIO >= est:
        return []
    ratio = actual / est
    capped = wf.capped_blocks
    if actual < est and capped:
        # Spend below the estimate because the budget refused work says nothing about the inventory.
        return [
            Opportunity(
                wf.id,
                "estimate_off",
                f"{wf.label}: spend is {ratio:.1f}x the Phase 1 estimate to date, held down by "
                f"{capped:,} budget blocks",
                "The budget refused work the estimate counts on, so the spend understates demand: keep the "
                "inventory, and weigh the budget against the estimate instead.",
            )
        ]
    return [
        Opportunity(
            wf.id,
            "estimate_off",
            f"{wf.label}: actual spend is {ratio:.1f}x the Phase 1 estimate to date",
            "Update the workflow's inventory (tasks, tokens per call, turns) so the estimate and the budget "
            "reflect real use.",
        )
    ]


def _round_up_budget(nano: int) -> int:
    """A budget figure people would write down: up to $5 below $100, $10 below $1,000, else $50."""
    step = 5 if nano < 100 * NANO else 10 if nano < 1000 * NANO else 50
    step_nano = step * NANO
    return -(-nano // step_nano) * step_nano
