"""A settable clock for the tests: the ledger, alerts, report and events read time only through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Returns ``now`` (an aware datetime) when called; tests move it with ``advance`` or ``at``."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def at(self, when: datetime) -> Clock:
        self.now = when.astimezone(UTC)
        return self
