"""``acme-ci-budget estimate``: the Phase 1 baseline, or a model what-if, in text, JSON or Markdown.

Figures are printed exactly (every significant digit of the nano-USD amount, at least cents), so the
workflow lines add up to the printed total; only the headline total is also shown rounded to cents.
"""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load
from acme_ci_budget.core.money import fmt_usd, nano_to_decimal, nano_to_usd
from acme_ci_budget.report.render import md_escape


@click.command()
@config_option
@format_option("text", "json", "markdown")
@click.option(
    "--growth",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="N",
    help="Add an adoption scenario at N times today's tasks: --growth 10 100 (or --growth 10 --growth 100).",
)
@click.option(
    "--models",
    metavar="MODEL,MODEL,...",
    help="What-if: price the same inventory on each of these models, side by side with the configured ones.",
)
@click.argument("more_growth", nargs=-1, metavar="")
def estimate(
    config_path: str | None, fmt: str, growth: tuple[int, ...], models: str | None, more_growth: tuple[str, ...]
) -> None:
    """Each workflow's monthly tokens and cost from the config's inventory, against the org budget.

    Every cost is printed exactly and the total is the exact sum of the lines,
    so the figures always reconcile; the headline total is also rounded to cents.
    Growth scenarios say what each workflow's daily and monthly limits would let it spend.
    """
    from acme_ci_budget.budget.estimate import build_estimate, build_what_if

    # `--growth 10 100`: the numbers after the first belong to --growth too (the README's form).
    growth = tuple(dict.fromkeys(growth + _growth_factors(more_growth, bool(growth))))
    config = load(config_path)
    if models is not None:
        what_if = build_what_if(config, _parse_models(models, config), tuple(growth))
        if fmt == "json":
            echo_json(_what_if_json(what_if))
        else:
            click.echo(_what_if_markdown(what_if) if fmt == "markdown" else _what_if_text(what_if))
        return
    est = build_estimate(config, tuple(growth))
    if fmt == "json":
        echo_json(_as_json(est))
    elif fmt == "markdown":
        click.echo(_markdown(est))
    else:
        click.echo(_text(est))


def _growth_factors(extra: tuple[str, ...], after_growth: bool) -> tuple[int, ...]:
    """The bare numbers after ``--growth N`` as more factors; anything else is a usage error naming it."""
    for text in extra:
        if not after_growth or not text.isdigit() or int(text) < 1:
            raise click.UsageError(
                f"unexpected argument {text!r}: growth factors are whole numbers after --growth (--growth 10 100)"
            )
    return tuple(int(text) for text in extra)


def fmt_exact(nano: int) -> str:
    """``$0.41472``: the exact amount, trailing zeros dropped but never fewer than two decimals."""
    amount = nano_to_decimal(nano)
    places = max(2, -amount.normalize().as_tuple().exponent)
    return fmt_usd(nano, min(places, 9))


def _parse_models(spec: str, config) -> tuple[str, ...]:
    from acme_ci_budget.catalog.pricing import UnknownModelError, price_for

    models = tuple(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    if not models:
        raise UnknownModelError("--models: expected a comma-separated list of model ids, got nothing")
    for model in models:
        try:
            price_for(model, config.pricing)
        except UnknownModelError:
            raise UnknownModelError(
                f"--models: no price for model {model!r} (a model id like claude-haiku-5-5, or add it under pricing:)"
            ) from None
    return models


# --- the baseline ---------------------------------------------------------------------------------


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
                "workflows_over_daily_limit": list(s.over_daily),
                "allowed_monthly_usd": nano_to_usd(s.allowed_nano),
            }
            for s in est.scenarios
        ],
    }


def _text(est) -> str:
    width = 104
    lines = [
        "PHASE 1: BASELINE COST ESTIMATE (monthly)",
        "=" * width,
        f"{'Workflow':<28}{'Model':<28}{'Calls':>7}{'Input tok':>12}{'Output tok':>12}{'Cost':>17}",
        "-" * width,
    ]
    for w in est.workflows:
        lines.append(
            f"{w.label:<28}{w.model:<28}{w.calls:>7,}{w.input_tokens:>12,}{w.output_tokens:>12,}"
            f"{fmt_exact(w.cost_nano):>17}"
        )
        lines.append(f"{'':<28}input {fmt_exact(w.input_cost_nano)} + output {fmt_exact(w.output_cost_nano)}")
    lines += [
        "-" * width,
        f"TOTAL MONTHLY ESTIMATE: {fmt_usd(est.total_nano)}  (exact {fmt_exact(est.total_nano)})",
        f"Budget: {fmt_usd(est.budget_nano)}   Headroom: {fmt_usd(est.headroom_nano)}   "
        f"Utilization: {est.utilization_pct:.1f}%",
        _caching_line(est),
    ]
    for s in est.scenarios:
        lines.append(f"At {s.growth}x adoption: {_scenario(s)}")
        lines += [f"  - {note}" for note in _scenario_notes(s)]
    return "\n".join(lines)


def _scenario(s) -> str:
    head = f"{fmt_usd(s.total_nano)}/month of work, {s.utilization_pct:.1f}% of the org budget"
    if s.allowed_nano < s.total_nano:
        return f"{head}; the workflows' limits let {fmt_usd(s.allowed_nano)} of it run"
    return f"{head}; every workflow stays within its daily and monthly limits"


def _scenario_notes(s) -> list[str]:
    """Each workflow a limit would hold back at this growth, by label, with the limit and the figure."""
    notes = []
    for line in s.lines:
        if line.over_daily:
            notes.append(
                f"{line.label}: about {fmt_usd(line.busy_day_nano)} a working day, over its "
                f"{fmt_usd(line.daily_nano)} daily limit"
            )
        if line.over_monthly:
            notes.append(
                f"{line.label}: {fmt_usd(line.cost_nano)}/month, over its {fmt_usd(line.monthly_budget_nano)} "
                "monthly budget"
            )
    return notes


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
    return line + "".join(f"\n  - not cached, {note}" for note in skipped)


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
            f"{fmt_exact(w.cost_nano)} |"
        )
    lines += [
        f"| **Total** | | | | | **{fmt_exact(est.total_nano)}** |",
        "",
        f"Total {fmt_usd(est.total_nano)} · budget {fmt_usd(est.budget_nano)} · "
        f"headroom {fmt_usd(est.headroom_nano)} · utilization {est.utilization_pct:.1f}%",
        "",
        # A blank line before each list, or GitHub folds the items into the paragraph above.
        _caching_line(est).replace("\n  - ", "\n\n- ", 1).replace("\n  - ", "\n- "),
    ]
    if est.scenarios:
        lines += ["", "#### Growth scenarios", ""]
    for s in est.scenarios:
        lines.append(f"- **{s.growth}x**: {_scenario(s)}")
        lines += [f"  - {md_escape(note)}" for note in _scenario_notes(s)]
    return "\n".join(lines)


# --- the what-if ----------------------------------------------------------------------------------


def _what_if_json(w) -> dict:
    totals = w.totals_nano
    return {
        "models": list(w.models),
        "pricing": "list prices, no prompt caching; the long-context tier of one average call",
        "workflows": {
            line.workflow_id: {
                "label": line.label,
                "calls": line.calls,
                "input_tokens": line.input_tokens,
                "output_tokens": line.output_tokens,
                "configured_model": line.configured_model,
                "configured_cost_usd": nano_to_usd(line.configured_cost_nano),
                "cost_usd": {m: nano_to_usd(c) for m, c in zip(w.models, line.cost_nano, strict=True)},
            }
            for line in w.lines
        },
        "configured_total_monthly_usd": nano_to_usd(w.configured_total_nano),
        "total_monthly_usd": {m: nano_to_usd(t) for m, t in zip(w.models, totals, strict=True)},
        "budget_usd": nano_to_usd(w.budget_nano),
        "utilization_pct": {m: w.utilization_pct(t) for m, t in zip(w.models, totals, strict=True)},
        "scenarios": [
            {
                "growth": g,
                "configured_total_monthly_usd": nano_to_usd(g * w.configured_total_nano),
                "total_monthly_usd": {m: nano_to_usd(g * t) for m, t in zip(w.models, totals, strict=True)},
            }
            for g in w.growths
        ],
    }


def _what_if_text(w) -> str:
    col = max(18, *(len(m) + 2 for m in w.models))
    width = 28 + 7 + 12 + 12 + 18 + col * len(w.models)
    head = "".join(f"{m:>{col}}" for m in w.models)
    lines = [
        "WHAT-IF: THE SAME INVENTORY ON EACH MODEL (monthly, list prices, no prompt caching)",
        "=" * width,
        f"{'Workflow':<28}{'Calls':>7}{'Input tok':>12}{'Output tok':>12}{'As configured':>18}{head}",
        "-" * width,
    ]
    for line in w.lines:
        costs = "".join(f"{fmt_exact(c):>{col}}" for c in line.cost_nano)
        lines.append(
            f"{line.label:<28}{line.calls:>7,}{line.input_tokens:>12,}{line.output_tokens:>12,}"
            f"{fmt_exact(line.configured_cost_nano):>18}{costs}"
        )
    totals = w.totals_nano
    lines += [
        "-" * width,
        f"{'TOTAL (exact)':<59}{fmt_exact(w.configured_total_nano):>18}"
        + "".join(f"{fmt_exact(t):>{col}}" for t in totals),
        f"{'TOTAL':<59}{fmt_usd(w.configured_total_nano):>18}" + "".join(f"{fmt_usd(t):>{col}}" for t in totals),
        f"{'Share of the org budget':<59}{_pct(w, w.configured_total_nano):>18}"
        + "".join(f"{_pct(w, t):>{col}}" for t in totals),
    ]
    for g in w.growths:
        lines.append(
            f"{f'At {g}x adoption':<59}{fmt_usd(g * w.configured_total_nano):>18}"
            + "".join(f"{fmt_usd(g * t):>{col}}" for t in totals)
        )
    lines.append("As configured: each workflow on its inventory.model (" + _configured(w) + ").")
    return "\n".join(lines)


def _what_if_markdown(w) -> str:
    head = "".join(f" `{m}` |" for m in w.models)
    lines = [
        "### What-if: the same inventory on each model (monthly, list prices, no prompt caching)",
        "",
        f"| Workflow | Calls | Input tokens | Output tokens | As configured |{head}",
        "|---|---:|---:|---:|---:|" + "---:|" * len(w.models),
    ]
    for line in w.lines:
        costs = "".join(f" {fmt_exact(c)} |" for c in line.cost_nano)
        lines.append(
            f"| {line.label} | {line.calls:,} | {line.input_tokens:,} | {line.output_tokens:,} | "
            f"{fmt_exact(line.configured_cost_nano)} (`{line.configured_model}`) |{costs}"
        )
    totals = w.totals_nano
    lines.append(
        f"| **Total** | | | | **{fmt_exact(w.configured_total_nano)}** |"
        + "".join(f" **{fmt_exact(t)}** |" for t in totals)
    )
    lines.append(
        f"| Share of the {fmt_usd(w.budget_nano)} budget | | | | {_pct(w, w.configured_total_nano)} |"
        + "".join(f" {_pct(w, t)} |" for t in totals)
    )
    for g in w.growths:
        lines.append(
            f"| At {g}x adoption | | | | {fmt_usd(g * w.configured_total_nano)} |"
            + "".join(f" {fmt_usd(g * t)} |" for t in totals)
        )
    return "\n".join(lines)


def _pct(w, total_nano: int) -> str:
    return f"{w.utilization_pct(total_nano):.1f}%"


def _configured(w) -> str:
    return ", ".join(f"{line.workflow_id}: {line.configured_model}" for line in w.lines)
