"""Where packaged data lives: the default config, the Jinja templates, the Lua scripts, the lifecycle table.

In a wheel, ``templates/`` and the default config are copied inside the package;
in a source checkout (editable install) they sit at the repository root. This
module hides that difference and must not read or parse the files itself.
"""

from __future__ import annotations

from pathlib import Path

# this module sits in acme_ci_budget/core/; the data hangs off the package root
PACKAGE_DIR = Path(__file__).resolve().parent.parent
_REPO_ROOT = PACKAGE_DIR.parent


def templates_dir() -> Path:
    packaged = PACKAGE_DIR / "templates"
    return packaged if packaged.is_dir() else _REPO_ROOT / "templates"


def default_config_path() -> Path:
    packaged = PACKAGE_DIR / "default_config.yml"
    return packaged if packaged.is_file() else _REPO_ROOT / ".github" / "acme-budget.yml"


def starter_config_path() -> Path:
    """The commented starter config (``config init`` writes it; a review without a config runs on it)."""
    return templates_dir() / "starter-budget.yml"


def lua_path(name: str) -> Path:
    return PACKAGE_DIR / "ledger" / "lua" / name


def lifecycle_table_path() -> Path:
    """The bundled model lifecycle table (``catalog/model_lifecycle.json``)."""
    return PACKAGE_DIR / "catalog" / "model_lifecycle.json"
