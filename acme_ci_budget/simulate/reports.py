"""The simulated month's report files: the monthly report taken at the month's end, in every format.

Owns when the report of a simulated month is taken (just after the month, or at the end of the
last simulated day) and the files it is written to. It must not run the simulation or compute a
figure itself: ``report.monthly`` builds the report and ``report.render`` renders it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from acme_ci_budget.core.clock import Clock
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from acme_ci_budget.simulate.results import SimulationResult

REPORT_FILES = {"text": "report.txt", "markdown": "report.md", "json": "report.json", "html": "report.html"}


def report_clock(result: SimulationResult) -> Clock:
    """The moment the report is taken: just after the month for a full run, else the last simulated day's end."""
    year, mon = (int(x) for x in result.month.split("-"))
    tz = result.config.tz
    if result.days_simulated >= result.days_in_month:
        nxt = date(year + (mon == 12), mon % 12 + 1, 1)
        when = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    else:
        when = datetime(year, mon, result.days_simulated, 23, 59, 59, tzinfo=tz)
    moment = when.astimezone(UTC)
    return lambda: moment


def build_simulation_report(result: SimulationResult, redis: Any) -> Any:
    """The monthly report (``acme_ci_budget.report.monthly.Report``) of the simulated month."""

    return build_report(result.config, redis, result.month, clock=report_clock(result))


def write_reports(report: Any, report_dir: Any) -> dict[str, str]:
    """The report in every format under ``report_dir``; returns format -> path."""
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt, name in REPORT_FILES.items():
        path = folder / name
        path.write_text(render(report, fmt), encoding="utf-8")
        paths[fmt] = str(path)
    return paths
