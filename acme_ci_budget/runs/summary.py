"""What a run tells GitHub Actions: step outputs, the job summary, annotations, masks, and the budget gauge.

Owns the output names both commands set (``OUTPUT_NAMES``), exact USD text for outputs (``usd_text``),
the ``Report`` a run collects and writes once at its end, the ``Gauge`` (today's and this month's spend
against the tightest limit, read from one ledger status snapshot), what a PR's reviews cost so far
(``read_pr_spend``, the sum of its events) and the annotation levels. It must not
decide whether a run is skipped or blocked (the run modules do), must not write to the ledger, and must
not put model text in an annotation: the summary carries it only where the caller asks, escaped.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from acme_ci_budget.core.money import fmt_usd, nano_to_decimal, pct
from acme_ci_budget.integrations import gha
from acme_ci_budget.runs.options import Stop

# The logger name predates the runs/ package; operators filter on it.
log = logging.getLogger("acme_ci_budget.review_run")

OUTPUT_NAMES = (
    "model",
    "cost-usd",
    "input-tokens",
    "output-tokens",
    "cache-read-tokens",
    "cache-write-tokens",
    "blocked",
    "block-reason",
    "skipped-reason",
    "budget-pct",
    "budget-remaining-usd",
    "comment-url",
    "report-path",
)


def usd_text(nano: int) -> str:
    """Exact USD as a plain decimal string ("0.0012345"), for outputs."""
    text = format(nano_to_decimal(nano).quantize(Decimal(1).scaleb(-9)), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return text or "0"


def _bar(share_pct: float, width: int = 10) -> str:
    filled = max(0, min(width, round(share_pct / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def _pct_text(value: float) -> str:
    return f"{value:.1f}%"


def mask_secrets(*values: str | None, redis_url: str | None = None) -> None:
    """Mask the run's secrets in the Actions log before anything could print them."""
    for value in values:
        gha.add_mask(value)
    if redis_url:
        gha.mask_secret_url(redis_url)


def annotate(level: str, message: str, title: str) -> None:
    """One annotation at ``level`` ("notice", "warning" or "error")."""
    {"notice": gha.notice, "warning": gha.warning, "error": gha.error}[level](message, title=title)


class Console:
    """The run's stdout (or ``out``), keeping what it printed for the outcome."""

    def __init__(self, out: Any = None) -> None:
        self.out = out
        self.printed: list[str] = []

    def say(self, text: str, untrusted: bool = False) -> None:
        """Print a line; untrusted text (the PR's, the ticket's, the model's) goes inside ::stop-commands::."""
        out = self.out or sys.stdout
        if untrusted:
            gha.stop_commands(text, stream=out)
        else:
            out.write(text if text.endswith("\n") else text + "\n")
            out.flush()
        self.printed.append(text)

    def text(self) -> str:
        return "".join(self.printed)


# --- the budget gauge ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauge:
    """The workflow's budget after the run: today's and this month's spend, and the tightest limit."""

    daily_spent: int
    daily_limit: int
    monthly_spent: int
    monthly_limit: int
    org_spent: int
    org_limit: int

    def tightest(self) -> tuple[float, int]:
        """(percent used, nano left) of the limit closest to exhaustion."""
        limits = [
            (self.daily_spent, self.daily_limit),
            (self.monthly_spent, self.monthly_limit),
            (self.org_spent, self.org_limit),
        ]
        spent, limit = max(limits, key=lambda item: pct(*item))
        return pct(spent, limit), limit - spent

    def template(self) -> dict[str, Any]:
        def row(spent: int, limit: int) -> dict[str, str]:
            share = pct(spent, limit)
            return {"spent": fmt_usd(spent), "limit": fmt_usd(limit), "pct": _pct_text(share), "bar": _bar(share)}

        return {
            "daily": row(self.daily_spent, self.daily_limit),
            "monthly": row(self.monthly_spent, self.monthly_limit),
        }


def ledger_warnings(enforcer: Any) -> list[str]:
    """What in the ledger's Redis settings puts the budget at risk (an eviction policy that may forget spend),
    a line each; [] when it cannot be read (the warning is informative and must not fail the run)."""
    try:
        return enforcer.server_warnings()
    except Exception as exc:
        log.warning("could not read the ledger's settings (%s)", type(exc).__name__)
        return []


def read_gauge(enforcer: Any, workflow_id: str) -> Gauge | None:
    """The gauge from one ledger read; None when the ledger cannot be read (the run still reports)."""
    try:
        status = enforcer.status_snapshot()
    except Exception as exc:  # the gauge is informative; a read failure must not fail the run
        log.warning("could not read the budget gauge (%s)", type(exc).__name__)
        return None
    wf = enforcer.config.workflow(workflow_id)
    mine = status["workflows"][workflow_id]
    org = status["org"]
    return Gauge(
        daily_spent=int(mine["daily_spend_nano"]),
        daily_limit=wf.daily_nano,
        monthly_spent=int(mine["monthly_spend_nano"]),
        monthly_limit=wf.monthly_nano,
        org_spent=int(org["spend_nano"]),
        org_limit=int(org["budget_nano"]),
    )


# Stream ids are the Redis server's clock, the PR's creation GitHub's: read from a day before, so no
# clock skew between them can drop a review of the PR.
PR_READ_MARGIN_MS = 86_400_000


def read_pr_spend(enforcer: Any, workflow_id: str, task_prefix: str, created_ms: int | None) -> Any:
    """What the PR's reviews cost so far (a ``TaskSpend``: the sum of the ledger events of the tasks
    starting ``task_prefix``, this run's included); None when the ledger cannot be read."""
    since = created_ms - PR_READ_MARGIN_MS if created_ms is not None else None
    try:
        return enforcer.task_spend(task_prefix, workflow=workflow_id, not_before_ms=since)
    except Exception as exc:  # informative, as the gauge: a read failure must not fail the run
        log.warning("could not read the PR's cost so far (%s)", type(exc).__name__)
        return None


def pr_spend_text(spend: Any) -> str:
    """"$0.0031 (2 reviews)": the PR's cost so far, for the comment and the job summary."""
    return f"{fmt_usd(spend.cost_nano, 4)} ({spend.calls} review{'s' if spend.calls != 1 else ''})"


# --- the report ---------------------------------------------------------------------------------


class Report:
    """Outputs, summary lines and annotations collected during a run, written once at the end."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.outputs = {name: "" for name in OUTPUT_NAMES}
        self.outputs["blocked"] = "false"
        self.rows: list[tuple[str, str]] = []
        self.lines: list[str] = []
        self.extra_markdown = ""

    def result(self, result: Any) -> None:
        self.outputs.update(
            {
                "model": result.model,
                "cost-usd": usd_text(result.cost_nano),
                "input-tokens": str(result.input_tokens),
                "output-tokens": str(result.output_tokens),
                "cache-read-tokens": str(result.cache_read_input_tokens),
                "cache-write-tokens": str(result.cache_creation_input_tokens),
            }
        )
        self.rows += [
            ("Model", f"`{result.model}` ({result.route_reason})"),
            (
                "Tokens",
                f"{result.input_tokens:,} in / {result.output_tokens:,} out / "
                f"{result.cache_read_input_tokens:,} cache read / {result.cache_creation_input_tokens:,} cache write",
            ),
            ("Cost", fmt_usd(result.cost_nano, 4)),
        ]

    def gauge(self, gauge: Gauge | None) -> None:
        if gauge is None:
            return
        share, left = gauge.tightest()
        self.outputs["budget-pct"] = f"{share:.2f}"
        self.outputs["budget-remaining-usd"] = usd_text(left)
        view = gauge.template()
        self.rows += [
            ("Today", f"{view['daily']['spent']} of {view['daily']['limit']} ({view['daily']['pct']})"),
            ("This month", f"{view['monthly']['spent']} of {view['monthly']['limit']} ({view['monthly']['pct']})"),
        ]

    def charged(self, result: Any, gauge: Gauge | None) -> None:
        """A call that ran: its outputs and rows, the gauge, and the budget's warnings as annotations."""
        self.result(result)
        self.gauge(gauge)
        for warning in result.warnings:
            gha.warning(warning, title="acme-ci-budget budget")

    def pr_spend(self, spend: Any) -> None:
        """The PR's cost so far (``read_pr_spend``), next to this run's."""
        if spend is not None:
            self.rows.append(("This PR so far", pr_spend_text(spend)))

    def blocked(self, result: Any, gauge: Gauge | None) -> None:
        """A call the budget refused: the gauge, the blocked outputs and a summary line."""
        self.gauge(gauge)
        self.outputs.update({"blocked": "true", "block-reason": result.budget_reason, "model": result.model})
        self.lines.append(f"**Blocked by the budget ({result.budget_reason})**: {result.message}")

    def skipped(self, stop: Stop, title: str) -> None:
        """A run that ended early: the skipped-reason output, a summary line and an annotation."""
        self.outputs["skipped-reason"] = stop.reason
        self.lines.append(f"**Skipped ({stop.reason})**: {stop.message}")
        annotate(stop.level, stop.message, title)

    def markdown(self) -> str:
        parts = [f"### {self.title}", ""]
        parts += [f"- {line}" for line in self.lines]
        if self.rows:
            parts += ["", "| | |", "|---|---|"]
            parts += ["| " + k + " | " + v.replace("|", "\\|") + " |" for k, v in self.rows]
        if self.extra_markdown:
            parts += ["", self.extra_markdown]
        return "\n".join(parts) + "\n"

    def write(self) -> str:
        gha.set_outputs(self.outputs)
        summary = self.markdown()
        gha.append_summary(summary)
        return summary
