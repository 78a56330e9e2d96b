"""The ledger tests' shared fixtures: one ledger clock, and the enforcer on both backends (standalone and
the three-master cluster, through ``ledger_backend``). A module that needs another clock or one backend
only defines its own fixture of the same name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 10, 15, 0, tzinfo=UTC))


@pytest.fixture
def enforcer(ledger_backend, default_config, clock) -> BudgetEnforcer:
    return BudgetEnforcer(default_config, redis_url=ledger_backend, clock=clock)
