"""``acme-ci-budget estimate``: the Phase 1 baseline, in text, JSON or Markdown."""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load
from acme_ci_budget.money import fmt_usd, nano_to_usd


@click.command()
@config_option
@format_option("text", "json", "markdown")
@click.option(
    "--growth",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="N",
    help="Add an adoption scenario at N times today's tasks (repeatable: --growth 10 --growth 100).",
)
def estimate(config_path: str | None, fmt: str, growth: tuple[int, ...]) -> None:
    """Each workflow's monthly tokens and cost from the config's inventory, against the org budget.

    Line costs are shown to the cent-hundredth and the total is the exact sum of
    the unrounded lines, so the figures always reconcile.
    """
    from acme_ci_budget.estimate import build_estimate

    est = build_estimate(load(config_path), tuple(growth))
    if fmt == "json":
        echo_json(_as_json(est))
    elif fmt == "markdown":
        click.echo(_markdown(est))
    else:
        click.echo(_text(est))


def _as_json(est) -> dict:
    return {
        "workflows": {
            w.workflow_id: {
                "label": w.label,
                "model": w.model,
                "tasks": w.tasks,
                "calls": w.calls,
                "input_tokens": w.input_tokens,
                "output_tokens": w.output_tokens,
                "input_cost_usd": nano_to_usd(w.input_cost_nano),
                "output_cost_usd": nano_to_usd(w.output_cost_nano),
                "cost_usd": nano_to_usd(w.cost_nano),
                "monthly_budget_usd": nano_to_usd(w.monthly_budget_nano),
                "cost_with_prompt_caching_usd": nano_to_usd(w.cached_cost_nano),
                "prompt_caching_note": w.cache_note,
            }
            for w in est.workflows
        },
        "total_monthly_usd": nano_to_usd(est.total_nano),
        "budget_usd": nano_to_usd(est.budget_nano),
        "headroom_usd": nano_to_usd(est.headroom_nano),
        "utilization_pct": est.utilization_pct,
        "total_with_prompt_caching_usd": nano_to_usd(est.cached_total_nano),
        "scenarios": [
            {
                "growth": s.growth,
                "total_monthly_usd": nano_to_usd(s.total_nano),
                "utilization_pct": s.utilization_pct,
                "workflows_over_budget": list(s.over_budget),
            }
            for s in est.scenarios
        ],
    }


def _text(est) -> str:
    lines = [
        "PHASE 1: BASELINE COST ESTIMATE (monthly)",
        "=" * 96,
        f"{'Workflow':<28}{'Model':<28}{'Calls':>7}{'Input tok':>12}{'Output tok':>12}{'Cost':>9}",
        "-" * 96,
    ]
    for w in est.workflows:
        lines.append(
            f"{w.label:<28}{w.model:<28}{w.calls:>7,}{w.input_tokens:>12,}{w.output_tokens:>12,}"
            f"{fmt_usd(w.cost_nano, 4):>9}"
        )
        lines.append(f"{'':<28}input {fmt_usd(w.input_cost_nano, 4)} + output {fmt_usd(w.output_cost_nano, 4)}")
    lines += [
        "-" * 96,
        f"TOTAL MONTHLY ESTIMATE: {fmt_usd(est.total_nano)}  (exact {fmt_usd(est.total_nano, 5)})",
        f"Budget: {fmt_usd(est.budget_nano)}   Headroom: {fmt_usd(est.headroom_nano)}   "
        f"Utilization: {est.utilization_pct:.1f}%",
        _caching_line(est),
    ]
    for s in est.scenarios:
        over = ", ".join(s.over_budget) if s.over_budget else "none"
        lines.append(
            f"At {s.growth}x adoption: {fmt_usd(s.total_nano)}/month, {s.utilization_pct:.1f}% of the org budget; "
            f"workflow budgets exceeded: {over}"
        )
    return "\n".join(lines)


def _caching_line(est) -> str:
    saving = est.total_nano - est.cached_total_nano
    if saving >= 0:
        line = f"With the stable system prompts cached: {fmt_usd(est.cached_total_nano)} (saves {fmt_usd(saving)})"
    else:
        line = (
            f"With the stable system prompts cached: {fmt_usd(est.cached_total_nano)} "
            f"(costs {fmt_usd(-saving)} more: single-call tasks pay the cache-write premium)"
        )
    skipped = [f"{w.label}: {w.cache_note}" for w in est.workflows if w.cache_note]
    return line + "".join(f"\n  not cached, {note}" for note in skipped)


def _markdown(est) -> str:
    lines = [
        "### Phase 1 baseline estimate (monthly)",
        "",
        "| Workflow | Model | Calls | Input tokens | Output tokens | Cost |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for w in est.workflows:
        lines.append(
            f"| {w.label} | `{w.model}` | {w.calls:,} | {w.input_tokens:,} | {w.output_tokens:,} | "
            f"{fmt_usd(w.cost_nano, 4)} |"
        )
    lines += [
        f"| **Total** | | | | | **{fmt_usd(est.total_nano)}** |",
        "",
        f"Budget {fmt_usd(est.budget_nano)} · headroom {fmt_usd(est.headroom_nano)} · "
        f"utilization {est.utilization_pct:.1f}%",
        "",
        _caching_line(est),
    ]
    for s in est.scenarios:
        over = ", ".join(f"`{w}`" for w in s.over_budget) or "none"
        lines.append(
            f"- **{s.growth}x**: {fmt_usd(s.total_nano)}/month ({s.utilization_pct:.1f}%); over budget: {over}"
        )
    return "\n".join(lines)
