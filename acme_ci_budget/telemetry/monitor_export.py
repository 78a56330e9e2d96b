"""Exporting the usage-event stream: time parsing, JSON Lines and CSV.

Owns how the events the ledger reads back (``ledger.events``: XRANGE in batches, oldest first,
decoded, filtered on the event's ledger-clock ``ts_ms``; ``BudgetEnforcer.events``) are written:
one JSON object per line, or CSV with a fixed column order then any extra fields; and how
``--since`` / ``--until`` are read. ``iter_events``, ``decode_event``, ``event_ms`` and
``INT_FIELDS`` are the ledger's, re-exported here. It must not touch Redis or change an event.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.money import NANO_PER_USD
from acme_ci_budget.ledger.events import INT_FIELDS, decode_event, event_ms
from acme_ci_budget.ledger.events import read_events as iter_events

__all__ = [
    "CSV_COLUMNS",
    "EVENT_TYPES",
    "INT_FIELDS",
    "decode_event",
    "event_ms",
    "iter_events",
    "parse_time",
    "write_csv",
    "write_jsonl",
]

EVENT_TYPES = ("call", "block", "failure", "hold_expired", "admin_reset", "adjustment")
CSV_COLUMNS = (
    "id",
    "time",
    "type",
    "outcome",
    "workflow",
    "model",
    "user",
    "session",
    "task",
    "loop_step",
    "reason",
    "route_reason",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "max_output_tokens",
    "cost_nano",
    "cost_usd",
    "held_nano",
    "latency_ms",
    "reservation",
    "ts_ms",
)
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime, tz: ZoneInfo, option: str = "--since") -> int:
    """Epoch milliseconds for ``text``: '90m', '24h', '7d', '2w' before ``now``; an ISO date
    (midnight in ``tz``) or datetime (naive ones read in ``tz``); or a raw epoch-ms number."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
        return int((now - delta).timestamp() * 1000)
    if value.isdigit() and len(value) >= 12:
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: cannot read {text!r} as a time (use 24h, 7d, 2026-11-01 or 2026-11-01T09:30)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return int(parsed.timestamp() * 1000)


def _with_time(event: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    out = dict(event)
    out["time"] = datetime.fromtimestamp(event_ms(event) / 1000, tz).isoformat(timespec="milliseconds")
    if isinstance(event.get("cost_nano"), int):
        out["cost_usd"] = _usd_text(event["cost_nano"])
    return out


def _usd_text(nano: int) -> str:
    # Exact decimal text, never a float: sums of exported costs must reconcile with the ledger.
    return format(Decimal(nano) / NANO_PER_USD, "f")


def write_jsonl(events: Iterable[dict[str, Any]], out: IO[str], tz: ZoneInfo) -> int:
    """One JSON object per line (``time`` in ``tz`` and an exact ``cost_usd`` string added); returns the count."""
    count = 0
    for event in events:
        out.write(json.dumps(_with_time(event, tz), sort_keys=False) + "\n")
        count += 1
    return count


def _csv_safe(value: Any) -> Any:
    # Text that a spreadsheet would run as a formula (user names, error texts) is quoted with a leading '.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(events: Iterable[dict[str, Any]], out: IO[str], tz: ZoneInfo) -> int:
    """CSV with ``CSV_COLUMNS`` then any other fields found (sorted); returns the row count."""
    rows = [_with_time(event, tz) for event in events]
    extra = sorted({key for row in rows for key in row} - set(CSV_COLUMNS))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *extra])
    for row in rows:
        writer.writerow([_csv_safe(row.get(column, "")) for column in (*CSV_COLUMNS, *extra)])
    return len(rows)
