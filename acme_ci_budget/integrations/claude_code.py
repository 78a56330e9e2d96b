"""Claude Code's outputs and command line, read and written as plain data.

Owns what this project knows of Claude Code (``claude``) and claude-code-action: the result object
``claude -p --output-format json`` prints (``type: result``, ``subtype``, ``is_error``,
``total_cost_usd``, per-model ``modelUsage`` with ``inputTokens``, ``outputTokens``,
``cacheReadInputTokens``, ``cacheCreationInputTokens``, ``costUSD``), which is also the last line of
``--output-format stream-json`` and the last element of claude-code-action's ``execution_file`` (a
JSON array of the run's messages); and the ``--max-budget-usd`` flag: finding a given one, adding one.
Standard library only, no domain imports: results come out as frozen dataclasses of numbers and
strings (USD as ``Decimal``, exactly as printed). It must not price, hold or settle anything, nor
start a process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

BUDGET_FLAG = "--max-budget-usd"
EXECUTABLES = frozenset({"claude", "claude.exe"})
# The result line is kept whole up to this size; a longer last line cannot be a result worth parsing.
MAX_RESULT_BYTES = 64 * 1024 * 1024


class ClaudeCodeError(ValueError):
    """A Claude Code command line or file this module cannot read (the message says where)."""


@dataclass(frozen=True)
class ModelTokens:
    """One model's usage in a run, as ``modelUsage`` reports it."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cost_usd: Decimal | None  # Claude Code's own estimate (costUSD); None when absent


@dataclass(frozen=True)
class RunResult:
    """A Claude Code result object (the fields the budget needs)."""

    subtype: str
    is_error: bool
    total_cost_usd: Decimal | None
    models: tuple[ModelTokens, ...]
    num_turns: int | None
    duration_ms: int | None
    session_id: str


# --- the command line -------------------------------------------------------------------------


def is_claude(argv: Sequence[str]) -> bool:
    """True when the command runs Claude Code itself (``claude ...``, by any path)."""
    return bool(argv) and os.path.basename(argv[0]) in EXECUTABLES


def given_budget(argv: Sequence[str]) -> Decimal | None:
    """The ``--max-budget-usd`` the command line gives (the last one wins), or None.

    A flag without a value, or a value that is not a positive number, is a ``ClaudeCodeError``.
    """
    found: Decimal | None = None
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == BUDGET_FLAG:
            if i + 1 >= len(args):
                raise ClaudeCodeError(f"{BUDGET_FLAG} is given without a value")
            found = _usd(args[i + 1])
        elif arg.startswith(BUDGET_FLAG + "="):
            found = _usd(arg[len(BUDGET_FLAG) + 1 :])
    return found


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ClaudeCodeError(f"{BUDGET_FLAG} {text[:40]!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ClaudeCodeError(f"{BUDGET_FLAG} {text[:40]!r} must be a positive amount of USD")
    return value


def with_budget(argv: Sequence[str], usd: str) -> list[str]:
    """``argv`` with ``--max-budget-usd usd`` added right after the executable (before any ``--``)."""
    return [argv[0], BUDGET_FLAG, usd, *argv[1:]]


# --- the result object ------------------------------------------------------------------------


def parse_result(obj: Any) -> RunResult | None:
    """A result object (a decoded JSON value) as a ``RunResult``; None when it is not one, or its
    ``modelUsage`` is malformed (a count that is not a non-negative integer)."""
    if not isinstance(obj, dict) or obj.get("type") != "result":
        return None
    usage = obj.get("modelUsage")
    models: list[ModelTokens] = []
    if isinstance(usage, dict):
        for model, entry in usage.items():
            tokens = _model_tokens(model, entry)
            if tokens is None:
                return None
            models.append(tokens)
    elif usage is not None:
        return None
    return RunResult(
        subtype=str(obj.get("subtype") or ""),
        is_error=obj.get("is_error") is True,
        total_cost_usd=_cost(obj.get("total_cost_usd")),
        models=tuple(models),
        num_turns=_count(obj.get("num_turns")),
        duration_ms=_count(obj.get("duration_ms")),
        session_id=str(obj.get("session_id") or ""),
    )


def _model_tokens(model: Any, entry: Any) -> ModelTokens | None:
    if not isinstance(model, str) or not model or not isinstance(entry, dict):
        return None
    counts = [_count(entry.get(name, 0)) for name in
              ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheCreationInputTokens")]
    if any(c is None for c in counts):
        return None
    i, o, cr, cw = (int(c or 0) for c in counts)
    return ModelTokens(model, i, o, cr, cw, _cost(entry.get("costUSD")))


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _cost(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    cost = Decimal(str(value))  # as printed: str() of a float is its shortest round-trip text
    return cost if cost.is_finite() and cost >= 0 else None


def parse_output(text: str) -> RunResult | None:
    """The result object in what ``claude -p`` printed: ``--output-format json`` (the whole output)
    or ``stream-json`` (its last line). None when there is none (``text`` format, a crash)."""
    lines = [line for line in text.splitlines() if line.strip()]
    candidates = [lines[-1]] if lines else []
    if len(lines) > 1:
        candidates.append(text)  # a pretty-printed object spans lines
    for candidate in candidates:
        try:
            result = parse_result(json.loads(candidate))
        except ValueError:
            continue
        if result is not None:
            return result
    return None


def read_execution_file(path: str | os.PathLike[str]) -> tuple[RunResult | None, str]:
    """The result in claude-code-action's ``execution_file`` (a JSON array of messages, the result
    last): (result, "") or (None, why there is none: missing, empty, not JSON, no result)."""
    file = Path(path)
    if not file.is_file():
        return None, f"no execution file at {file}"
    raw = file.read_bytes()
    if not raw.strip():
        return None, f"the execution file {file} is empty"
    try:
        messages = json.loads(raw)
    except ValueError:
        return None, f"the execution file {file} is not JSON"
    if not isinstance(messages, list):
        return None, f"the execution file {file} is not a JSON array"
    for message in reversed(messages):  # the last element; a trailing non-result message is skipped
        result = parse_result(message)
        if result is not None:
            return result, ""
    return None, f"the execution file {file} holds no result object"


class LastLine:
    """The last non-empty line of a byte stream fed in chunks (what a tee keeps of ``claude``'s stdout)."""

    def __init__(self) -> None:
        self._current = bytearray()
        self._last = b""
        self._overflow = False

    def feed(self, chunk: bytes) -> None:
        parts = chunk.split(b"\n")
        for i, part in enumerate(parts):
            if not self._overflow:
                self._current += part
                if len(self._current) > MAX_RESULT_BYTES:
                    self._current.clear()
                    self._overflow = True
            if i < len(parts) - 1:  # a newline ended this line
                self._end_line()

    def _end_line(self) -> None:
        if self._current.strip() and not self._overflow:
            self._last = bytes(self._current)
        self._current.clear()
        self._overflow = False

    def result(self) -> RunResult | None:
        """The result object on the last line, if it is one."""
        self._end_line()
        return parse_output(self._last.decode("utf-8", "replace"))
