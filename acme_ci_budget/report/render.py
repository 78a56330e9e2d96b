"""Rendering the report model: one renderer per format, through the one Jinja environment.

Owns the filters the report templates use to show money, percentages and counts (added to
``core.templating``'s environment, which owns the loader, strictness and autoescaping), and the
escaping of text for Markdown (Slack's is ``integrations.slack.slack_escape``).
Text, Markdown and HTML come from ``templates/report.*.j2``; JSON is the
model's own ``to_json``. Money arrives as integer nano-USD and is formatted
here, rounded once from the exact amount. It must not read Redis or compute
report figures: anything a template shows is already in the model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from acme_ci_budget.budget.roi import fmt_multiple
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.templating import environment as _template_environment
from acme_ci_budget.integrations.slack import slack_escape
from acme_ci_budget.report import charts
from acme_ci_budget.report.model import Report

_MD_SPECIAL = re.compile(r"([\\*_`~|\[\]])")
FORMATS = ("text", "markdown", "html", "json")
MD_FLAVORS = ("github", "slack")
HEALTH_ICONS = {"OK": "🟢", "WARN": "🟡", "CRIT": "🔴"}
BLOCK_REASONS = {
    "total_org_budget_exceeded": "org budget",
    "monthly_limit_exceeded": "monthly limit",
    "daily_limit_exceeded": "daily limit",
    "repo_limit_exceeded": "repository cap",
    "task_token_limit_exceeded": "task tokens",
    "session_token_limit_exceeded": "session tokens",
    "loop_step_limit_exceeded": "loop steps",
}


def _usd(nano: int | None, places: int = 2) -> str:
    return "n/a" if nano is None else fmt_usd(nano, places)


def _pct(value: float | None, places: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{places}f}%"


def _signed_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.1f}%"


def _code(text: Any) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def _reason(reason: str) -> str:
    return BLOCK_REASONS.get(reason, reason.replace("_", " "))


def _icon(health: str) -> str:
    return HEALTH_ICONS.get(health, "")


def _num(n: int) -> str:
    return f"{n:,}"


def _ljust(text: Any, width: int) -> str:
    return str(text).ljust(width)


def _rjust(text: Any, width: int) -> str:
    return str(text).rjust(width)


def _hours(value: float) -> str:
    return f"{value:,.1f}"


def _roi_pct(value: float | None) -> str:
    """Net ROI: whole percent, the one rounding every format uses (next to the multiple)."""
    return _pct(value, 0)


# The ROI table's columns, one list per basis, shared by the text, Markdown and HTML templates.
ROI_COLUMNS = {
    "per_task": ("Workflow", "Role", "Tasks", "Hours saved", "Rate/h", "Value", "AI spend"),
    "monthly_hours": ("Role", "Workflows", "Hours/month", "Rate/h", "Value/month", "Value", "AI spend"),
}


def md_escape(text: Any) -> str:
    """Text safe inside Markdown and Slack mrkdwn: no HTML, no link or mention syntax, no emphasis surprises."""
    return _MD_SPECIAL.sub(r"\\\1", slack_escape(text))


# Module-level functions, not lambdas: the one environment binds each filter name to one function.
FILTERS: dict[str, Any] = {
    "usd": _usd,
    "pct": _pct,
    "num": _num,
    "code": _code,
    "md": md_escape,
    "reason": _reason,
    "icon": _icon,
    "ljust": _ljust,
    "rjust": _rjust,
    "hours": _hours,
    "signed_pct": _signed_pct,
    "multiple": fmt_multiple,
    "roi_pct": _roi_pct,
}


def environment() -> Any:
    """The report templates' environment: ``core.templating``'s, with the report's filters."""
    return _template_environment(filters=FILTERS)


def render_text(report: Report) -> str:
    return environment().get_template("report.txt.j2").render(r=report, roi_columns=ROI_COLUMNS)


def render_markdown(report: Report, flavor: str = "github", artifact_url: str | None = None) -> str:
    """Markdown for the GitHub job summary (``github``) or Slack mrkdwn (``slack``: no tables or headings)."""
    if flavor not in MD_FLAVORS:
        raise ValueError(f"markdown flavor must be one of {', '.join(MD_FLAVORS)}, got {flavor!r}")
    env = environment()
    template = env.get_template("report.md.j2")
    if flavor == "slack":
        # Same template, Slack's escaping: a backslash would show literally in Slack.
        return template.render(
            r=report, slack=True, artifact_url=artifact_url, esc=slack_escape, roi_columns=ROI_COLUMNS
        )
    return template.render(r=report, slack=False, artifact_url=artifact_url, esc=md_escape, roi_columns=ROI_COLUMNS)


def render_html(report: Report) -> str:
    """The self-contained dashboard: inline CSS and SVG, no scripts, fonts, images or URLs."""
    charts_ = {} if report.is_empty else html_charts(report)  # an empty month draws no zero charts
    return environment().get_template("report.html.j2").render(r=report, charts=charts_, roi_columns=ROI_COLUMNS)


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
            report.daily_nano,
            report.days_in_month,
            report.org.budget_nano,
            days_shown,
            report.org.forecast_nano,
        ),
        "org_daily": charts.daily_bars("daily-org", "All workflows", report.daily_nano, days_shown),
        "daily": {
            w.id: charts.daily_bars(f"daily-{w.id}", w.label, w.daily_nano, days_shown, w.daily_limit_nano)
            for w in report.workflows
        },
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
