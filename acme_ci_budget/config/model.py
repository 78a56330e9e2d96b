"""The config's shape: the frozen dataclasses a validated file becomes, ``ConfigError``, tiers and levels.

Owns what the rest of the package reads (``Config``, ``Workflow``, ``Routing`` ...) and the one rule that is
both a validation and a runtime figure (``hold_margin_seconds``). It must not read files, YAML or the
environment, nor validate anything: ``validate`` and its section modules build these values, ``load`` finds
the file. It imports only ``core``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from acme_ci_budget.core.errors import AcmeError

TIERS = ("simple", "default", "complex")
LEVELS = ("INFO", "WARNING", "CRITICAL")
SECRET_FIELDS = frozenset({"alerts.slack_webhook_url", "alerts.pagerduty_routing_key"})
ROI_BASES = ("monthly_hours", "per_task")


class ConfigError(AcmeError, ValueError):
    """The config file is missing, unreadable or invalid; the message names file and field."""


@dataclass(frozen=True)
class TokenLimits:
    soft: int
    hard: int


@dataclass(frozen=True)
class Routing:
    default_model: str
    complex_model: str
    simple_model: str
    threshold_tokens: int
    complexity_keywords: tuple[str, ...]
    max_tokens: Mapping[str, int]
    budget_pressure_pct: float = 0.9
    # Globs of changed paths that route a change (a review) to the complex model; None: the built-in
    # security paths (diffs.SECURITY_GLOBS), () : no path routing. See router.complex_path_globs.
    complex_paths: tuple[str, ...] | None = None

    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.default_model, self.complex_model, self.simple_model)))


@dataclass(frozen=True)
class Inventory:
    model: str
    monthly_tasks: int
    avg_input_tokens: int
    avg_output_tokens: int
    avg_turns: int | None = None
    cacheable_input_tokens: int = 0

    @property
    def calls_per_task(self) -> int:
        return self.avg_turns or 1


@dataclass(frozen=True)
class Workflow:
    id: str
    label: str
    monthly_nano: int
    daily_nano: int
    per_task_tokens: TokenLimits
    per_session_tokens: TokenLimits
    max_loop_steps: int
    alert_email: str | None
    routing: Routing
    inventory: Inventory | None
    cache_system_prompt: bool = False
    # Agent runs (Claude Code: `acme-ci-budget run`, the action's reserve): the most one run may hold
    # (None: the caller must say, --max-usd), and how long one may take (its hold covers that).
    per_run_nano: int | None = None
    run_timeout_seconds: int = 1_800

    @property
    def monthly_usd(self) -> float:
        return self.monthly_nano / 1e9

    @property
    def daily_usd(self) -> float:
        return self.daily_nano / 1e9


@dataclass(frozen=True)
class RepoBudget:
    """A repository's monthly cap (``repos: {owner/name: {monthly_usd: N}}``), enforced by the reserve script."""

    repo: str
    monthly_nano: int

    @property
    def monthly_usd(self) -> float:
        return self.monthly_nano / 1e9


@dataclass(frozen=True)
class LedgerSettings:
    hold_ttl_seconds: int = 600
    fail_open: bool = False
    retention_days: int = 400


@dataclass(frozen=True)
class ClientSettings:
    """How long one model call may take, retries and their waits included (``client:``).

    The call's hold must outlive it: without ``deadline_seconds`` the deadline is the hold's TTL
    less ``hold_margin_seconds``; a configured one above that is a config error.
    """

    request_timeout_seconds: float = 300.0
    max_retries: int = 2
    deadline_seconds: float | None = None


@dataclass(frozen=True)
class TelemetrySettings:
    """OpenTelemetry metrics (``telemetry:``); the standard ``OTEL_EXPORTER_OTLP_*`` variables win.

    ``otlp_endpoint``: the collector's OTLP/HTTP base URL (``/v1/metrics`` is appended, as for
    ``OTEL_EXPORTER_OTLP_ENDPOINT``); None: metrics only when those variables ask for them.
    """

    otlp_endpoint: str | None = field(default=None, repr=False)  # may carry a token in its query
    service_name: str = "acme-ci-budget"
    export_interval_seconds: float | None = None  # None: OTEL_METRIC_EXPORT_INTERVAL, else the SDK's 60 s
    timeout_seconds: float = 2.0  # one export, retries included, and the flush at exit


def hold_margin_seconds(hold_ttl_seconds: float) -> float:
    """How long a hold must outlive its call: the settle after it, and clock skew between runners.

    10% of the TTL, between 1 s and 30 s (30 s with the default TTL of 600 s).
    """
    return max(1.0, min(30.0, hold_ttl_seconds / 10))


@dataclass(frozen=True)
class AlertSettings:
    slack_webhook_url: str | None = field(default=None, repr=False)
    pagerduty_routing_key: str | None = field(default=None, repr=False)
    warn_pct: float = 0.8
    critical_pct: float = 1.0
    min_level: str = "INFO"


@dataclass(frozen=True)
class PriceOverride:
    """Per-million-token USD prices from the config's ``pricing:`` section."""

    input: Decimal
    output: Decimal
    cache_write: Decimal | None = None
    cache_read: Decimal | None = None


@dataclass(frozen=True)
class RoiRole:
    hourly_rate_usd: Decimal
    hours_saved_per_month: Decimal | None = None  # the monthly_hours basis (the lab's)


@dataclass(frozen=True)
class RoiWorkflow:
    role: str
    hours_saved_per_task: Decimal | None = None  # the per_task basis


@dataclass(frozen=True)
class Roi:
    """The ROI model: ``monthly_hours`` (fixed hours per role per month, the lab's) or ``per_task``."""

    basis: str
    roles: Mapping[str, RoiRole]
    workflows: Mapping[str, RoiWorkflow]

    @property
    def hourly_rates(self) -> Mapping[str, Decimal]:
        return {role: r.hourly_rate_usd for role, r in self.roles.items()}


@dataclass(frozen=True)
class ReviewSettings:
    skip_label: str = "no-ai-review"
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    escalate_globs: tuple[str, ...] = ()
    max_file_bytes: int = 200_000
    inline_comments: bool = False


@dataclass(frozen=True)
class ReconcileSettings:
    """``reconcile:``: which of the organisation's Anthropic usage is this product's (issue 13).

    ``api_key_ids`` / ``workspace_id`` name the keys and workspace the workflows use (none: the whole
    organisation is compared); ``key_workflows`` maps an API key id to the workflow its adjustments charge.
    """

    api_key_ids: tuple[str, ...] = ()
    workspace_id: str | None = None
    key_workflows: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: str
    org_monthly_nano: int
    reserve_pct: float
    timezone: str
    namespace: str
    ledger: LedgerSettings
    pricing: Mapping[str, PriceOverride]
    workflows: Mapping[str, Workflow]
    alerts: AlertSettings
    roi: Roi | None
    review: ReviewSettings
    client: ClientSettings = ClientSettings()
    repos: Mapping[str, RepoBudget] = field(default_factory=dict)
    telemetry: TelemetrySettings = TelemetrySettings()
    reconcile: ReconcileSettings = ReconcileSettings()

    @property
    def call_deadline_seconds(self) -> float:
        """The longest one model call may run: the configured deadline, and never past its hold's TTL."""
        ttl = self.ledger.hold_ttl_seconds
        covered = ttl - hold_margin_seconds(ttl)
        return covered if self.client.deadline_seconds is None else min(self.client.deadline_seconds, covered)

    @property
    def org_monthly_usd(self) -> float:
        return self.org_monthly_nano / 1e9

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def workflow(self, workflow_id: str) -> Workflow:
        try:
            return self.workflows[workflow_id]
        except KeyError:
            known = ", ".join(sorted(self.workflows))
            raise ConfigError(f"{self.path}: unknown workflow {workflow_id!r} (known: {known})") from None

    def model_uses(self, model: str) -> list[str]:
        """Dotted config paths that name ``model`` (for error messages about that model)."""
        uses = []
        for wf in self.workflows.values():
            for tier in ("default_model", "complex_model", "simple_model"):
                if getattr(wf.routing, tier) == model:
                    uses.append(f"workflows.{wf.id}.routing.{tier}")
            if wf.inventory and wf.inventory.model == model:
                uses.append(f"workflows.{wf.id}.inventory.model")
        return uses
