"""Lazy re-exports for the package ``__init__`` files (PEP 562).

Owns the one helper that lets a layer package (``ledger``, ``client`` ...)
re-export its public names without importing its modules up front, so importing ``ledger.store``
or ``--help`` does not pay for Redis, Jinja or the model SDK. It must not import any project module itself:
it only resolves the names it is given, when they are first asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``; ``exports`` maps a public name to the
    submodule (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(import_module(package).__dict__))

    return __getattr__, __dir__, list(exports)
