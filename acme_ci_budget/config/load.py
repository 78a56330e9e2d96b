"""Finding and reading the config: the search order, the size bound, strict YAML, then ``validate``.

Owns the search order (argument, ``ACME_BUDGET_CONFIG``, ``./.github/acme-budget.yml``, the packaged
default) and turning YAML errors into one ``ConfigError`` line with the file, line and column. It must
not touch Redis or the network, and it validates nothing itself (``validate`` does).
"""

from __future__ import annotations

import os
from pathlib import Path

from acme_ci_budget.config.model import Config, ConfigError
from acme_ci_budget.config.validate import validate
from acme_ci_budget.core.files import MAX_CONFIG_BYTES, read_bounded
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.strict_yaml import load_yaml

CONFIG_ENV = "ACME_BUDGET_CONFIG"
LOCAL_CONFIG = Path(".github") / "acme-budget.yml"


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
    return validate(raw, source)
