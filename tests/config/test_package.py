"""The config package keeps every name the single ``config.py`` module exported, each from one home."""

from __future__ import annotations

import dataclasses

import pytest

import acme_ci_budget.config as config

# Every public name of the old acme_ci_budget/config.py (issue 18 split it into a package).
OLD_NAMES = {
    "AlertSettings", "CONFIG_ENV", "ClientSettings", "Config", "ConfigError", "Inventory", "LEVELS",
    "LOCAL_CONFIG", "LedgerSettings", "MAX_FILE_BYTES", "MAX_HOLD_TTL_SECONDS", "MAX_HOURLY_RATE_USD",
    "MAX_HOURS_SAVED", "MAX_HOURS_SAVED_PER_MONTH", "MAX_LOOP_STEPS", "MAX_MONTHLY_TASKS", "MAX_PRICE_PER_MTOK",
    "MAX_RETENTION_DAYS", "MAX_TOKENS", "MAX_USD", "MIN_HOLD_TTL_SECONDS", "PriceOverride", "ROI_BASES",
    "ReviewSettings", "Roi", "RoiRole", "RoiWorkflow", "Routing", "SECRET_FIELDS", "TIERS", "TokenLimits",
    "Workflow", "hold_margin_seconds", "load_config", "parse_config", "resolve_config_path",
}


@pytest.mark.parametrize("name", sorted(OLD_NAMES))
def test_every_old_name_is_importable_from_the_package(name):
    value = getattr(config, name)
    home = getattr(value, "__module__", None)
    if home is not None and callable(value):
        assert home.startswith("acme_ci_budget.config."), home


def test_all_lists_the_old_names_and_the_dataclasses_stay_frozen():
    assert set(config.__all__) >= OLD_NAMES
    for name in ("Config", "Workflow", "Routing", "Inventory", "TokenLimits", "LedgerSettings", "ClientSettings",
                 "AlertSettings", "PriceOverride", "Roi", "RoiRole", "RoiWorkflow", "ReviewSettings"):
        assert dataclasses.fields(getattr(config, name))
        assert getattr(config, name).__dataclass_params__.frozen, name
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        config.Nope  # noqa: B018
