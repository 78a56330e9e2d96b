"""Budget configuration: find, parse and validate the YAML into frozen dataclasses.

Owns the config schema, the search order (argument, ``ACME_BUDGET_CONFIG``,
``./.github/acme-budget.yml``, the packaged default) and every validation
rule. A bad file raises ``ConfigError`` naming the file and the dotted path of
the field. It must not touch Redis or the network, and it expands environment
references only in secret fields, so a config cannot read arbitrary variables. It sits between
``catalog`` (it validates prices and model ids) and ``budget``: it imports only ``catalog`` and
``core`` (globs from ``core.globs``), never ``diffs``, the ledger or the client.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acme_ci_budget.catalog import model_ids
from acme_ci_budget.catalog.pricing import UnknownModelError, price_for
from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.files import MAX_CONFIG_BYTES, read_bounded
from acme_ci_budget.core.globs import GlobError, glob_regex
from acme_ci_budget.core.money import usd_to_nano
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.strict_yaml import load_yaml

CONFIG_ENV = "ACME_BUDGET_CONFIG"
LOCAL_CONFIG = Path(".github") / "acme-budget.yml"
TIERS = ("simple", "default", "complex")
LEVELS = ("INFO", "WARNING", "CRITICAL")
SECRET_FIELDS = frozenset({"alerts.slack_webhook_url", "alerts.pagerduty_routing_key"})
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Bounds on every number, checked at load: a value past them is a typo or an attack, and the Lua
# scripts must never receive a figure that fails half-way through a write (Redis does not roll back).
MAX_USD = Decimal(10_000_000)  # per month (and so per day) for the org and each workflow
MAX_TOKENS = 10_000_000  # any token figure: limits, thresholds, max_tokens, inventory averages
MAX_LOOP_STEPS = 10_000
MIN_HOLD_TTL_SECONDS, MAX_HOLD_TTL_SECONDS = 1, 86_400  # below 2 s the deadline cross-check refuses it, saying why
MAX_RETENTION_DAYS = 3_650  # 10 years
MAX_PRICE_PER_MTOK = Decimal(10_000)  # USD per million tokens
MAX_MONTHLY_TASKS = 10_000_000
MAX_HOURLY_RATE_USD = Decimal(100_000)
MAX_HOURS_SAVED = Decimal(1_000)
MAX_HOURS_SAVED_PER_MONTH = Decimal(100_000)  # a role's hours saved in a month (the lab: 40 to 180)
MAX_RUN_USD = Decimal(1_000_000)  # one agent run's hold: the ledger's ceiling for one hold
DEFAULT_RUN_TIMEOUT_SECONDS, MAX_RUN_TIMEOUT_SECONDS = 1_800, 86_000  # an agent run's; its hold lives <= a day
MAX_FILE_BYTES = 20 * 1024 * 1024  # one file's patch cannot exceed the whole diff's read limit


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
    # Agent runs (Claude Code, `acme-ci-budget run` / the action's reserve): the most one run may hold
    # (None: the caller must say, --max-usd), and how long one may take (its hold covers that).
    per_run_nano: int | None = None
    run_timeout_seconds: int = DEFAULT_RUN_TIMEOUT_SECONDS

    @property
    def monthly_usd(self) -> float:
        return self.monthly_nano / 1e9

    @property
    def daily_usd(self) -> float:
        return self.daily_nano / 1e9


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


ROI_BASES = ("monthly_hours", "per_task")


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


# --- finding and reading ------------------------------------------------------------------------


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to load: the argument, ``$ACME_BUDGET_CONFIG``, the local file, or the packaged default."""
    if path:
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if LOCAL_CONFIG.is_file():
        return LOCAL_CONFIG
    return default_config_path()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the budget config; ``None`` follows the search order."""

    resolved = resolve_config_path(path)
    text = read_bounded(resolved, MAX_CONFIG_BYTES, str(resolved), kind="config file", error=ConfigError)
    return parse_config(text, str(resolved))


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate YAML text into a ``Config``; ``source`` names the file in errors."""
    import yaml


    # The same bound as a file read: text fetched from a branch is as untrusted as a file.
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: config file is larger than the {MAX_CONFIG_BYTES:,}-byte limit")

    try:
        # Strict: a duplicate key or a `1:30` would otherwise change a limit without a word.
        raw = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = exc.problem or exc.context or "invalid YAML"
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ConfigError(f"{source}: {kind} at {where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None
    return _Validator(source).config(raw)


# --- validation ---------------------------------------------------------------------------------


class _Validator:
    """Walks the raw YAML; each method validates one section and names the dotted path on error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where or "top level", f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where or "top level", f"keys must be strings, got {key!r}")
            if key not in allowed:
                hint = _closest(key, allowed)
                suffix = f" (did you mean {hint!r}?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
                raise self.fail(_join(where, key), f"unknown key{suffix}")
        for key in sorted(required):
            if key not in value:
                raise self.fail(_join(where, key), "missing required field")
        return value

    def number(
        self,
        value: Any,
        where: str,
        *,
        minimum: float | None = 0,
        maximum: float | Decimal | None = None,
        integer: bool = False,
    ) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.fail(where, f"expected a number, got {_kind(value)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(where, f"expected a number, got {value!r}") from None
        if not number.is_finite():
            raise self.fail(where, f"expected a finite number, got {value!r}")
        if integer and number != number.to_integral_value():
            raise self.fail(where, f"expected a whole number, got {value!r}")
        if minimum is not None and number < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {value!r}")
        if maximum is not None and number > maximum:
            raise self.fail(where, f"must be <= {maximum:,}, got {value!r}")
        return number

    def integer(self, value: Any, where: str, minimum: int = 0, maximum: int | None = None) -> int:
        return int(self.number(value, where, minimum=minimum, maximum=maximum, integer=True))

    def usd(self, value: Any, where: str) -> int:
        """A budget in USD, as nano-USD."""
        return usd_to_nano(self.number(value, where, maximum=MAX_USD))

    def tokens(self, value: Any, where: str, minimum: int = 1) -> int:
        return self.integer(value, where, minimum, MAX_TOKENS)

    def fraction(self, value: Any, where: str) -> Decimal:
        """A share in [0, 1]."""
        return self.number(value, where, maximum=1)

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {_kind(value)}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of strings, got {_kind(value)}")
        return tuple(self.string(item, f"{where}[{i}]") for i, item in enumerate(value))

    def globs(self, value: Any, where: str) -> tuple[str, ...]:
        """A list of path globs (``core.globs`` semantics), each one checked to compile."""

        patterns = self.strings(value, where)
        for i, pattern in enumerate(patterns):
            try:
                re.compile(glob_regex(pattern))
            except (GlobError, re.error) as exc:
                raise self.fail(f"{where}[{i}]", f"bad glob {pattern!r} ({exc})") from None
        return patterns

    def secret(self, value: Any, where: str) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(where, "expected a string")
        expanded = _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), value).strip()
        return expanded or None

    # sections

    def config(self, raw: Any) -> Config:
        if raw is None:
            raise self.fail("top level", "the file is empty")
        top = self.mapping(
            raw,
            "",
            {"org", "timezone", "namespace", "ledger", "client", "pricing", "workflows", "alerts", "roi", "review"},
            {"org", "workflows"},
        )
        org = self.mapping(top["org"], "org", {"monthly_usd", "reserve_pct"}, {"monthly_usd"})
        org_nano = self.usd(org["monthly_usd"], "org.monthly_usd")
        reserve = self.number(org.get("reserve_pct", 0), "org.reserve_pct")
        if not Decimal(0) <= reserve < 1:
            raise self.fail("org.reserve_pct", f"must be in [0, 1), got {org.get('reserve_pct')!r}")
        timezone = self.string(top.get("timezone", "UTC"), "timezone")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("timezone", f"unknown timezone {timezone!r} (use an IANA name like 'UTC')") from None
        namespace = self.string(top.get("namespace", "default"), "namespace")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", namespace):
            raise self.fail("namespace", "use letters, digits, '_', '.' or '-' only")
        pricing = self.pricing(top.get("pricing") or {})
        workflows_raw = top["workflows"]
        if not isinstance(workflows_raw, dict) or not workflows_raw:
            raise self.fail("workflows", "expected a mapping with at least one workflow")
        workflows = {wid: self.workflow(wid, body) for wid, body in workflows_raw.items()}
        total = sum(wf.monthly_nano for wf in workflows.values())
        if total > org_nano:
            raise self.fail(
                "workflows",
                f"monthly budgets add up to ${total / 1e9:,.2f}, above org.monthly_usd ${org_nano / 1e9:,.2f}",
            )
        config = Config(
            path=self.source,
            org_monthly_nano=org_nano,
            reserve_pct=float(reserve),
            timezone=timezone,
            namespace=namespace,
            ledger=self.ledger(top.get("ledger") or {}),
            pricing=pricing,
            workflows=workflows,
            alerts=self.alerts(top.get("alerts") or {}),
            roi=self.roi(top.get("roi"), workflows),
            review=self.review(top.get("review") or {}),
            client=self.client(top.get("client") or {}),
        )
        self.check_deadline(config)
        self.check_models(config)
        return config

    def workflow(self, wid: Any, body: Any) -> Workflow:
        if not isinstance(wid, str) or not re.fullmatch(r"[a-z0-9_]+", wid):
            raise self.fail(f"workflows.{wid}", "workflow ids use lowercase letters, digits and '_'")
        where = f"workflows.{wid}"
        body = self.mapping(
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
        monthly = self.usd(body["monthly_usd"], f"{where}.monthly_usd")
        daily = self.usd(body["daily_usd"], f"{where}.daily_usd")
        if daily > monthly:
            raise self.fail(
                f"{where}.daily_usd",
                f"daily ${daily / 1e9:,.2f} is above monthly_usd ${monthly / 1e9:,.2f}",
            )
        email = body.get("alert_email")
        return Workflow(
            id=wid,
            label=self.string(body.get("label", wid), f"{where}.label"),
            monthly_nano=monthly,
            daily_nano=daily,
            per_task_tokens=self.limits(body["per_task_tokens"], f"{where}.per_task_tokens"),
            per_session_tokens=self.limits(body["per_session_tokens"], f"{where}.per_session_tokens"),
            max_loop_steps=self.integer(body.get("max_loop_steps", 10), f"{where}.max_loop_steps", 1, MAX_LOOP_STEPS),
            alert_email=self.string(email, f"{where}.alert_email") if email is not None else None,
            routing=self.routing(body["routing"], f"{where}.routing"),
            inventory=self.inventory(body.get("inventory"), f"{where}.inventory", body["routing"]),
            cache_system_prompt=self.boolean(body.get("cache_system_prompt", False), f"{where}.cache_system_prompt"),
            per_run_nano=self.per_run(body.get("per_run_usd"), f"{where}.per_run_usd"),
            run_timeout_seconds=self.integer(
                body.get("run_timeout_seconds", DEFAULT_RUN_TIMEOUT_SECONDS),
                f"{where}.run_timeout_seconds",
                1,
                MAX_RUN_TIMEOUT_SECONDS,
            ),
        )

    def per_run(self, value: Any, where: str) -> int | None:
        """One agent run's most (USD, as nano-USD); at least a cent, at most the ledger's one-hold ceiling."""
        if value is None:
            return None
        return usd_to_nano(self.number(value, where, minimum=Decimal("0.01"), maximum=MAX_RUN_USD))

    def limits(self, value: Any, where: str) -> TokenLimits:
        body = self.mapping(value, where, {"soft", "hard"}, {"soft", "hard"})
        soft = self.tokens(body["soft"], f"{where}.soft")
        hard = self.tokens(body["hard"], f"{where}.hard")
        if soft > hard:
            raise self.fail(f"{where}.soft", f"soft limit {soft} is above the hard limit {hard}")
        return TokenLimits(soft, hard)

    def routing(self, value: Any, where: str) -> Routing:
        body = self.mapping(
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
        default = self.string(body["default_model"], f"{where}.default_model")
        max_tokens_raw = self.mapping(body.get("max_tokens") or {}, f"{where}.max_tokens", set(TIERS))
        max_tokens = {tier: 1024 for tier in TIERS}
        for tier, value_ in max_tokens_raw.items():
            max_tokens[tier] = self.tokens(value_, f"{where}.max_tokens.{tier}")
        pressure = self.fraction(body.get("budget_pressure_pct", "0.9"), f"{where}.budget_pressure_pct")
        keywords = self.strings(body.get("complexity_keywords"), f"{where}.complexity_keywords")
        return Routing(
            default_model=default,
            complex_model=self.string(body.get("complex_model", default), f"{where}.complex_model"),
            simple_model=self.string(body.get("simple_model", default), f"{where}.simple_model"),
            threshold_tokens=self.tokens(body.get("threshold_tokens", 8000), f"{where}.threshold_tokens"),
            complexity_keywords=tuple(k.lower() for k in keywords),
            max_tokens=max_tokens,
            budget_pressure_pct=float(pressure),
            complex_paths=self.globs(body["complex_paths"], f"{where}.complex_paths")
            if body.get("complex_paths") is not None
            else None,
        )

    def inventory(self, value: Any, where: str, routing_raw: dict) -> Inventory | None:
        if value is None:
            return None
        body = self.mapping(
            value,
            where,
            {"model", "monthly_tasks", "avg_input_tokens", "avg_output_tokens", "avg_turns", "cacheable_input_tokens"},
            {"monthly_tasks", "avg_input_tokens", "avg_output_tokens"},
        )
        turns = body.get("avg_turns")
        return Inventory(
            model=self.string(body.get("model", routing_raw.get("default_model")), f"{where}.model"),
            monthly_tasks=self.integer(body["monthly_tasks"], f"{where}.monthly_tasks", 0, MAX_MONTHLY_TASKS),
            avg_input_tokens=self.tokens(body["avg_input_tokens"], f"{where}.avg_input_tokens", 0),
            avg_output_tokens=self.tokens(body["avg_output_tokens"], f"{where}.avg_output_tokens", 0),
            avg_turns=self.integer(turns, f"{where}.avg_turns", 1, MAX_LOOP_STEPS) if turns is not None else None,
            cacheable_input_tokens=self.tokens(
                body.get("cacheable_input_tokens", 0), f"{where}.cacheable_input_tokens", 0
            ),
        )

    def ledger(self, value: Any) -> LedgerSettings:
        body = self.mapping(value, "ledger", {"hold_ttl_seconds", "fail_open", "retention_days"})
        return LedgerSettings(
            hold_ttl_seconds=self.integer(
                body.get("hold_ttl_seconds", 600), "ledger.hold_ttl_seconds", MIN_HOLD_TTL_SECONDS, MAX_HOLD_TTL_SECONDS
            ),
            fail_open=self.boolean(body.get("fail_open", False), "ledger.fail_open"),
            retention_days=self.integer(
                body.get("retention_days", 400), "ledger.retention_days", 1, MAX_RETENTION_DAYS
            ),
        )

    def client(self, value: Any) -> ClientSettings:
        body = self.mapping(value, "client", {"request_timeout_seconds", "max_retries", "deadline_seconds"})
        seconds: dict[str, float] = {}
        for key, high in (("request_timeout_seconds", 3600), ("deadline_seconds", 86400)):
            if key not in body:
                continue
            number = self.number(body[key], f"client.{key}", minimum=Decimal("0.1"))
            if number > high:
                raise self.fail(f"client.{key}", f"must be <= {high}, got {body[key]!r}")
            seconds[key] = float(number)
        retries = self.integer(body.get("max_retries", ClientSettings.max_retries), "client.max_retries")
        if retries > 10:
            raise self.fail("client.max_retries", f"must be <= 10, got {body['max_retries']!r}")
        return ClientSettings(max_retries=retries, **seconds)

    def check_deadline(self, config: Config) -> None:
        """A hold that expires while its call still runs frees room that is sold again: refuse that TTL."""
        ttl, deadline = config.ledger.hold_ttl_seconds, config.client.deadline_seconds
        margin = hold_margin_seconds(ttl)
        if deadline is None and ttl - margin < 1:
            raise self.fail("ledger.hold_ttl_seconds", f"{ttl} s leaves no time for a model call; use >= 2")
        if deadline is not None and deadline + margin > ttl:
            raise self.fail(
                "ledger.hold_ttl_seconds",
                f"{ttl} s cannot cover a model call: client.deadline_seconds is {deadline:g} s and a hold must "
                f"outlive its call by {margin:g} s; raise hold_ttl_seconds to >= {math.ceil(deadline + margin)} "
                "or lower client.deadline_seconds",
            )

    def pricing(self, value: Any) -> dict[str, PriceOverride]:
        body = self.mapping(value, "pricing", set(value) if isinstance(value, dict) else set())
        prices = {}
        for model, entry in body.items():
            where = f"pricing.{model}"
            entry = self.mapping(entry, where, {"input", "output", "cache_write", "cache_read"}, {"input", "output"})
            optional = {
                key: self.number(entry[key], f"{where}.{key}", maximum=MAX_PRICE_PER_MTOK) if key in entry else None
                for key in ("cache_write", "cache_read")
            }
            prices[model] = PriceOverride(
                input=self.number(entry["input"], f"{where}.input", maximum=MAX_PRICE_PER_MTOK),
                output=self.number(entry["output"], f"{where}.output", maximum=MAX_PRICE_PER_MTOK),
                **optional,
            )
        return prices

    def alerts(self, value: Any) -> AlertSettings:
        body = self.mapping(
            value, "alerts", {"slack_webhook_url", "pagerduty_routing_key", "warn_pct", "critical_pct", "min_level"}
        )
        warn = self.fraction(body.get("warn_pct", "0.8"), "alerts.warn_pct")
        critical = self.fraction(body.get("critical_pct", "1.0"), "alerts.critical_pct")
        if warn > critical:
            raise self.fail("alerts.warn_pct", f"warn_pct {warn} is above critical_pct {critical}")
        level = str(body.get("min_level", "INFO")).upper()
        if level not in LEVELS:
            raise self.fail("alerts.min_level", f"expected one of {', '.join(LEVELS)}, got {body['min_level']!r}")
        return AlertSettings(
            slack_webhook_url=self.secret(body.get("slack_webhook_url"), "alerts.slack_webhook_url"),
            pagerduty_routing_key=self.secret(body.get("pagerduty_routing_key"), "alerts.pagerduty_routing_key"),
            warn_pct=float(warn),
            critical_pct=float(critical),
            min_level=level,
        )

    def roi(self, value: Any, workflows: Mapping[str, Workflow]) -> Roi | None:
        """``roi:``: roles with rates (and monthly hours), workflows mapped to a role (and hours per task).

        ``basis`` says which hours count; omitted, it is inferred only when the file gives one kind of hours.
        """
        if value is None:
            return None
        body = self.mapping(value, "roi", {"basis", "roles", "workflows"}, {"roles"})
        roles_raw = self.mapping(
            body["roles"], "roi.roles", set(body["roles"]) if isinstance(body["roles"], dict) else set()
        )
        if not roles_raw:
            raise self.fail("roi.roles", "expected at least one role (e.g. engineer: {hourly_rate_usd: 90})")
        roles = {}
        for role, entry in roles_raw.items():
            where = f"roi.roles.{role}"
            entry = self.mapping(entry, where, {"hourly_rate_usd", "hours_saved_per_month"}, {"hourly_rate_usd"})
            monthly = entry.get("hours_saved_per_month")
            roles[role] = RoiRole(
                hourly_rate_usd=self.number(
                    entry["hourly_rate_usd"], f"{where}.hourly_rate_usd", maximum=MAX_HOURLY_RATE_USD
                ),
                hours_saved_per_month=(
                    self.number(monthly, f"{where}.hours_saved_per_month", maximum=MAX_HOURS_SAVED_PER_MONTH)
                    if monthly is not None
                    else None
                ),
            )
        wfs_raw = self.mapping(body.get("workflows") or {}, "roi.workflows", set(workflows))
        mapped = {}
        for wid, entry in wfs_raw.items():
            where = f"roi.workflows.{wid}"
            entry = self.mapping(entry, where, {"role", "hours_saved_per_task"}, {"role"})
            role = self.string(entry["role"], f"{where}.role")
            if role not in roles:
                raise self.fail(f"{where}.role", f"unknown role {role!r} (defined: {', '.join(sorted(roles))})")
            per_task = entry.get("hours_saved_per_task")
            mapped[wid] = RoiWorkflow(
                role,
                self.number(per_task, f"{where}.hours_saved_per_task", maximum=MAX_HOURS_SAVED)
                if per_task is not None
                else None,
            )
        basis = self.roi_basis(body.get("basis"), roles, mapped)
        if basis == "monthly_hours":
            for role, entry in roles.items():
                if entry.hours_saved_per_month is None:
                    raise self.fail(
                        f"roi.roles.{role}.hours_saved_per_month", "missing required field (roi.basis is monthly_hours)"
                    )
        else:
            if not mapped:
                raise self.fail("roi.workflows", "missing required field (roi.basis is per_task)")
            for wid, entry in mapped.items():
                if entry.hours_saved_per_task is None:
                    raise self.fail(
                        f"roi.workflows.{wid}.hours_saved_per_task", "missing required field (roi.basis is per_task)"
                    )
        return Roi(basis=basis, roles=roles, workflows=mapped)

    def roi_basis(self, value: Any, roles: Mapping[str, RoiRole], mapped: Mapping[str, RoiWorkflow]) -> str:
        if value is not None:
            basis = self.string(value, "roi.basis")
            if basis not in ROI_BASES:
                raise self.fail("roi.basis", f"expected one of {', '.join(ROI_BASES)}, got {value!r}")
            return basis
        monthly = any(r.hours_saved_per_month is not None for r in roles.values())
        per_task = any(w.hours_saved_per_task is not None for w in mapped.values())
        if monthly != per_task:
            return "monthly_hours" if monthly else "per_task"
        given = "both hours_saved_per_month and hours_saved_per_task" if monthly else "no hours saved"
        raise self.fail("roi.basis", f"missing: the file gives {given}; set monthly_hours or per_task")

    def review(self, value: Any) -> ReviewSettings:
        body = self.mapping(
            value,
            "review",
            {"skip_label", "exclude", "include", "escalate_globs", "max_file_bytes", "inline_comments"},
        )
        return ReviewSettings(
            skip_label=self.string(body.get("skip_label", "no-ai-review"), "review.skip_label"),
            exclude=self.strings(body.get("exclude"), "review.exclude"),
            include=self.strings(body.get("include"), "review.include"),
            escalate_globs=self.strings(body.get("escalate_globs"), "review.escalate_globs"),
            max_file_bytes=self.integer(
                body.get("max_file_bytes", 200_000), "review.max_file_bytes", 1, MAX_FILE_BYTES
            ),
            inline_comments=self.boolean(body.get("inline_comments", False), "review.inline_comments"),
        )

    def check_models(self, config: Config) -> None:
        """Every named model has a price: a config override of its family, or a known id (or a dated snapshot of one).

        A name the snapshot would only match by prefix (``claude-3-5-haiku-20241022-typo``) is an error.
        """

        self.check_override_families(config.pricing)
        for wf in config.workflows.values():
            named = [
                (f"workflows.{wf.id}.routing.{t}", getattr(wf.routing, t))
                for t in ("default_model", "complex_model", "simple_model")
            ]
            if wf.inventory:
                named.append((f"workflows.{wf.id}.inventory.model", wf.inventory.model))
            for where, model in named:
                try:
                    # price_for refuses unknown ids itself; through its cache, so a warm start skips genai-prices
                    price_for(model, config.pricing)
                except UnknownModelError:
                    hint = model_ids.suggest(model, config.pricing)
                    did_you_mean = f"did you mean {hint!r}? " if hint else ""
                    raise self.fail(
                        where,
                        f"model {model!r} has no price: not a known model id or a dated snapshot of one "
                        f"({did_you_mean}add it under pricing: or fix the name)",
                    ) from None

    def check_override_families(self, pricing: Mapping[str, PriceOverride]) -> None:
        """Two dated overrides of one family need an alias override too, or an alias reply's price is a guess."""

        families: dict[str, list[str]] = {}
        for key in pricing:
            families.setdefault(model_ids.family(key), []).append(key)
        for fam, keys in sorted(families.items()):
            if len(keys) > 1 and not any(model_ids.is_alias(k) for k in keys):
                raise self.fail(
                    f"pricing.{keys[1]}",
                    f"{' and '.join(sorted(keys))} both price the {fam} family; add pricing.{fam} "
                    "for replies that name the alias",
                )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"{value!r}"
    return type(value).__name__ if not isinstance(value, (int, float)) else repr(value)


def _closest(key: str, allowed: set[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.7)
    return matches[0] if matches else None
