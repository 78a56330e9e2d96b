"""Rendering the report model: the Jinja environment and one renderer per format.

Owns the templates' environment (loader on ``templates/``, strict undefined,
autoescaping for HTML templates only), the filters the templates use to show
money, percentages and counts, and the escaping of text for Markdown/Slack.
Text, Markdown and HTML come from ``templates/report.*.j2``; JSON is the
model's own ``to_json``. Money arrives as integer nano-USD and is formatted
here, rounded once from the exact amount. It must not read Redis or compute
report figures: anything a template shows is already in the model.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from acme_ci_budget.budget.roi import fmt_multiple
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.resources import templates_dir
from acme_ci_budget.report import charts
from acme_ci_budget.report.monthly import Report

_MD_SPECIAL = re.compile(r"([\\*_`~|\[\]])")
FORMATS = ("text", "markdown", "html", "json")
MD_FLAVORS = ("github", "slack")
HEALTH_ICONS = {"OK": "🟢", "WARN": "🟡", "CRIT": "🔴"}
BLOCK_REASONS = {
    "total_org_budget_exceeded": "org budget",
    "monthly_limit_exceeded": "monthly limit",
    "daily_limit_exceeded": "daily limit",
    "task_token_limit_exceeded": "task tokens",
    "session_token_limit_exceeded": "session tokens",
    "loop_step_limit_exceeded": "loop steps",
}


def _autoescape(name: str | None) -> bool:
    # select_autoescape looks at the last extension only, and ours is always ".j2".
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The report templates' environment (cached: templates compile once per process)."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        usd=lambda nano, places=2: "n/a" if nano is None else fmt_usd(nano, places),
        pct=_pct,
        num=lambda n: f"{n:,}",
        code=lambda s: "`" + str(s).replace("`", "'") + "`",
        md=md_escape,
        reason=lambda r: BLOCK_REASONS.get(r, r.replace("_", " ")),
        icon=lambda h: HEALTH_ICONS.get(h, ""),
        ljust=lambda s, w: str(s).ljust(w),
        rjust=lambda s, w: str(s).rjust(w),
        hours=lambda d: f"{d:,.1f}",
        signed_pct=lambda v: "n/a" if v is None else f"{v:+,.1f}%",
        multiple=fmt_multiple,
    )
    return env


def _pct(value: float | None, places: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{places}f}%"


def md_escape(text: Any) -> str:
    """Text safe inside Markdown and Slack mrkdwn: no HTML, no link or mention syntax, no emphasis surprises."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", out)


def _slack_escape(text: Any) -> str:
    # Slack mrkdwn has no backslash escapes: only &, < and > need (and can) be escaped.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_text(report: Report) -> str:
    return environment().get_template("report.txt.j2").render(r=report)


def render_markdown(report: Report, flavor: str = "github", artifact_url: str | None = None) -> str:
    """Markdown for the GitHub job summary (``github``) or Slack mrkdwn (``slack``: no tables or headings)."""
    if flavor not in MD_FLAVORS:
        raise ValueError(f"markdown flavor must be one of {', '.join(MD_FLAVORS)}, got {flavor!r}")
    env = environment()
    template = env.get_template("report.md.j2")
    if flavor == "slack":
        # Same template, Slack's escaping: a backslash would show literally in Slack.
        return template.render(r=report, slack=True, artifact_url=artifact_url, esc=_slack_escape)
    return template.render(r=report, slack=False, artifact_url=artifact_url, esc=md_escape)


def render_html(report: Report) -> str:
    """The self-contained dashboard: inline CSS and SVG, no scripts, fonts, images or URLs."""
    return environment().get_template("report.html.j2").render(r=report, charts=html_charts(report))


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "text":
        return render_text(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def html_charts(report: Report) -> dict[str, Any]:
    """Every chart of the dashboard as SVG markup, keyed for the template."""
    days_shown = report.days_elapsed
    colors = charts.model_colors([m.model for m in report.model_mix])
    out: dict[str, Any] = {
        "org_meter": charts.meter(
            "org-meter",
            "Organisation budget used",
            report.org.pct,
            [((1 - _reserve_share(report)) * 100, "reserve starts")] if _reserve_share(report) else [],
        ),
        "spend": charts.spend_bars(
            "spend-by-workflow",
            "Spend by workflow against its monthly budget",
            [(w.label, w.monthly_spend_nano, w.monthly_limit_nano, w.health) for w in report.workflows],
        ),
        "models": charts.share_bars(
            "model-mix",
            "Model mix: share of spend per model",
            [("All workflows", [(m.model, m.cost_nano) for m in report.model_mix])]
            + [(w.label, [(m.model, m.cost_nano) for m in w.models]) for w in report.workflows],
            colors,
        ),
        "workflows": {
            w.id: charts.cumulative_chart(
                f"cum-{w.id}",
                w.label,
                w.daily_nano,
                report.days_in_month,
                w.monthly_limit_nano,
                days_shown,
                w.forecast_nano,
            )
            for w in report.workflows
        },
        "org_cumulative": charts.cumulative_chart(
            "cum-org",
            "All workflows",
            _org_daily(report),
            report.days_in_month,
            report.org.budget_nano,
            days_shown,
            report.org.forecast_nano,
        ),
        "roi": None,
        "colors": colors,
    }
    if report.roi is not None and report.roi.lines:
        out["roi"] = charts.roi_bars(
            "roi-chart",
            f"Value created and AI spend per {'role' if report.roi.basis == 'monthly_hours' else 'workflow'}",
            [(line.label, line.value_nano, line.spend_nano) for line in report.roi.lines],
        )
    return out


def _reserve_share(report: Report) -> float:
    budget = report.org.budget_nano
    return 1 - report.org.reserve_threshold_nano / budget if budget else 0.0


def _org_daily(report: Report) -> list[int]:
    return [sum(w.daily_nano[i] for w in report.workflows) for i in range(report.days_in_month)]
