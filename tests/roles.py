"""The models tests call by role: ``CHEAP`` and ``STRONG``, read from the shipped config.

Why: the project names only models the Claude API serves today, and tests refer to them by role (the
cheap model, the strong model), so a model retirement is a config change, not a code change. A test
that needs "a cheap call" or "a dear call" imports these instead of writing a model id, and works out
any dollar figure it asserts from the role's price (``catalog.pricing.cost_nano`` / ``price_for``),
never from a price copied by hand, so a new model in the config moves the figures with it.

This module only reads the config; it must not name a model id itself. Tests that use an id as data
on purpose (a retired id's lifecycle, a misspelt id, the lab's own figures) keep their literal ids.
"""

from __future__ import annotations

from acme_ci_budget.config import parse_config
from acme_ci_budget.core.resources import default_config_path

# dev_assistant is the workflow whose routing carries both roles: its default is the cheap model,
# its complex tier the strong one (every workflow's complex model in the shipped config).
_ROUTING = parse_config(default_config_path().read_text(), str(default_config_path())).workflows[
    "dev_assistant"
].routing

CHEAP: str = _ROUTING.default_model
"""The cheap role's model (the lab's Haiku role)."""

STRONG: str = _ROUTING.complex_model
"""The strong role's model (the lab's Sonnet role)."""
