"""Diffs, pure: the changed-file model, unified-diff parsing and rendering, the diff policy, clipping to a
token budget, comment lines, and the incremental review's scope.

The modules: ``change`` (``FileChange``, ``DiffError``), ``parse`` (a local unified diff into
``FileChange``s), ``render`` (``FileChange``s back into diff text), ``hunks`` (splitting a patch, the lines
an inline comment may target), ``policy`` (what is excluded, security paths, priority classes), ``clip``
(fitting the files into a token budget) and ``scope`` (the PR's own part of an incremental compare).

No I/O, no config, no model: it imports only ``core``. It sits low (just above ``core``) because the
GitHub integration speaks in ``FileChange``s and comment lines; everything above may use it.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DiffError": "change",
        "FileChange": "change",
        "STATUSES": "change",
        "parse_unified_diff": "parse",
        "render_diff": "render",
        "render_file": "render",
        "added_lines": "hunks",
        "right_side_lines": "hunks",
        "DiffPolicy": "policy",
        "SECURITY_GLOBS": "policy",
        "LOCK_GLOBS": "policy",
        "GENERATED_GLOBS": "policy",
        "BINARY_EXTENSIONS": "policy",
        "TEST_GLOBS": "policy",
        "DOCS_GLOBS": "policy",
        "CLASS_SOURCE": "policy",
        "CLASS_TEST": "policy",
        "CLASS_DOCS": "policy",
        "REASON_LOCK": "policy",
        "REASON_GENERATED": "policy",
        "REASON_EXCLUDED": "policy",
        "REASON_BINARY": "policy",
        "REASON_NO_PATCH": "policy",
        "REASON_SIZE": "policy",
        "glob_regex": "policy",
        "path_matches": "policy",
        "ClippedDiff": "clip",
        "REASON_REMOVED": "clip",
        "REASON_DELETION_ONLY": "clip",
        "REASON_BUDGET": "clip",
        "clip_diff": "clip",
        "restrict_to_pull": "scope",
    },
)
