"""The one clock type: ``Clock`` (a callable returning an aware UTC ``datetime``) and ``utc_now``.

Owns what "now" means to every component that takes a clock (the ledger, the alerts, the report,
the simulator's offline model): they accept a ``Clock`` and default to ``utc_now``, so tests and the
simulator hand in their own (``simulate``'s ``SimClock`` is one). It must not keep time itself or
know any timezone but UTC: local days are the config's business.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current moment, aware, in UTC."""
    return datetime.now(UTC)
