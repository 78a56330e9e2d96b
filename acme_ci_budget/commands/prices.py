"""``acme-ci-budget prices [MODEL]``: what a model costs and where the price came from.

A model with no known price is reported on its own line (stderr, exit 2) after the others are printed;
every price is shown in one format (``core.money.fmt_price``).
"""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import config_option, echo_json, format_option, load
from acme_ci_budget.core.money import fmt_price


@click.command()
@click.argument("models", nargs=-1)
@config_option
@format_option("text", "json")
@click.pass_context
def prices(ctx: click.Context, models: tuple[str, ...], config_path: str | None, fmt: str) -> None:
    """Per-million-token prices for MODELS (default: every model the config routes to).

    Prices come from the config's pricing: section when it names the model,
    otherwise from the genai-prices snapshot bundled with the package (no network).
    """
    from acme_ci_budget.catalog.pricing import UnknownModelError, price_for

    cfg = load(config_path)
    if not models:
        models = tuple(dict.fromkeys(m for wf in cfg.workflows.values() for m in wf.routing.models()))
    rows, unknown = [], []
    for model in models:
        try:
            rows.append(price_for(model, cfg.pricing))
        except UnknownModelError as exc:
            uses = cfg.model_uses(model)
            unknown.append(f"{exc}" + (f" (used at {', '.join(uses)})" if uses else ""))
    _print(rows, fmt)
    for line in unknown:
        click.echo(f"Error: {line}", err=True)
    if unknown:
        ctx.exit(2)


def _print(rows: list, fmt: str) -> None:
    if fmt == "json":
        echo_json(
            {
                p.model: {
                    "input_per_mtok": float(p.input),
                    "output_per_mtok": float(p.output),
                    "cache_write_per_mtok": float(p.cache_write),
                    "cache_read_per_mtok": float(p.cache_read),
                    "tiers": [
                        {
                            "above_prompt_tokens": t.start,
                            "input_per_mtok": float(t.input),
                            "output_per_mtok": float(t.output),
                        }
                        for t in p.tiers
                    ],
                    "source": p.source,
                }
                for p in rows
            }
        )
        return
    if not rows:
        return
    click.echo(f"{'Model':<34}{'Input':>9}{'Output':>9}{'Cache W':>9}{'Cache R':>9}  Source (USD per million tokens)")
    for p in rows:
        click.echo(
            f"{p.model:<34}{_d(p.input):>9}{_d(p.output):>9}{_d(p.cache_write):>9}{_d(p.cache_read):>9}  {p.source}"
        )
        for t in p.tiers:
            click.echo(
                f"{'  prompt > ' + format(t.start, ','):<34}{_d(t.input):>9}{_d(t.output):>9}"
                f"{_d(t.cache_write):>9}{_d(t.cache_read):>9}  long-context tier"
            )


def _d(value: object) -> str:
    return fmt_price(str(value))
