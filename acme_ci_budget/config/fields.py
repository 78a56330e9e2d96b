"""The config's field checks: one typed reader per kind of value, each naming the file and dotted path on error.

Owns ``Fields`` (mapping with unknown-key hints, bounded numbers, USD as nano-USD, tokens, shares,
strings, booleans, globs, secrets with ``${VAR}`` expansion) and the bounds on every number. The
section modules (``workflows``, ``pricing``, ``roi``, ``sections``) compose these; a new section uses
them rather than checking types itself. It must not know any section's keys, and it expands
environment references only in ``secret``, so a config cannot read arbitrary variables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Set as AbstractSet
from decimal import Decimal, InvalidOperation
from typing import Any

from acme_ci_budget.config.model import ConfigError
from acme_ci_budget.core.globs import GlobError, glob_regex
from acme_ci_budget.core.money import usd_to_nano

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
MAX_RUN_TIMEOUT_SECONDS = 86_000  # an agent run's: its hold (timeout + grace + margin) lives at most a day
MAX_FILE_BYTES = 20 * 1024 * 1024  # one file's patch cannot exceed the whole diff's read limit


class Fields:
    """Reads one file's raw YAML values; each method checks one kind of value and names the dotted path on error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def mapping(
        self, value: Any, where: str, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()
    ) -> dict:
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


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"{value!r}"
    return type(value).__name__ if not isinstance(value, (int, float)) else repr(value)


def _closest(key: str, allowed: AbstractSet[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.7)
    return matches[0] if matches else None
