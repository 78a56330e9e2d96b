"""The one Jinja environment: every template (report, prompts, review comment, Slack alert) renders through it.

Owns building the environment for a templates directory (the packaged ``templates/`` unless given
another, as a review's base-branch overrides are) and its rules, the same for every template:
sandboxed (a review renders templates a repository supplies, and no template needs Python
internals), strict about undefined names, HTML autoescaping for ``*.html.j2`` only (text, Markdown,
mrkdwn and JSON are escaped by filters: ``json`` here, the callers' own), block tags trimmed, the
trailing newline kept. One environment per directory, built once per process; a layer adds the
filters it owns through ``environment(filters=...)``. It must not import a project module above
``core`` nor know what a template shows; jinja2 is imported on first use, so importing this costs nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from acme_ci_budget.core.resources import templates_dir

_LOCK = threading.Lock()


def _autoescape(name: str | None) -> bool:
    # select_autoescape looks at the last extension only, and ours is always ".j2".
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


def _json(value: Any) -> str:
    """A value as a JSON literal (for templates whose output is JSON, such as the Slack alert)."""
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=8)
def _build(directory: str) -> Any:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(directory),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["json"] = _json
    return env


def environment(directory: str | Path | None = None, filters: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """The environment for ``directory`` (default: the packaged templates), with ``filters`` added.

    A filter name means one function for every caller: asking for a name already bound to another
    function is a programming error, raised as ``ValueError`` rather than silently changing how
    another layer's templates render.
    """
    env = _build(str(directory) if directory is not None else str(templates_dir()))
    if filters:
        with _LOCK:
            for name, func in filters.items():
                bound = env.filters.get(name)
                if bound is None:
                    env.filters[name] = func
                elif bound is not func:
                    raise ValueError(f"template filter {name!r} is already bound to another function")
    return env


__all__ = ["environment"]
