"""Diffs, pure: the changed-file model (``FileChange``), unified-diff parsing, the diff policy, clipping
to a token budget (``unified``), and the incremental review's scope (``scope``).

No I/O, no config, no model: it imports only ``core``. It sits low (just above ``core``) because the
GitHub integration speaks in ``FileChange``s and comment lines; everything above may use it.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DiffError": "unified",
        "FileChange": "unified",
        "ClippedDiff": "unified",
        "DiffPolicy": "unified",
        "SECURITY_GLOBS": "unified",
        "added_lines": "unified",
        "clip_diff": "unified",
        "parse_unified_diff": "unified",
        "render_diff": "unified",
        "render_file": "unified",
        "restrict_to_pull": "scope",
    },
)
