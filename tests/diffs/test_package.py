"""The diffs package re-exports every public name, each from its one module (issue 18 split diffs/unified.py)."""

from __future__ import annotations

import pytest

import acme_ci_budget.diffs as diffs

# The names the package exported before the split, and where each lives now.
HOMES = {
    "DiffError": "change", "FileChange": "change", "parse_unified_diff": "parse", "render_diff": "render",
    "render_file": "render", "added_lines": "hunks", "right_side_lines": "hunks", "DiffPolicy": "policy",
    "path_matches": "core", "glob_regex": "policy", "ClippedDiff": "clip", "clip_diff": "clip",
    "restrict_to_pull": "scope",
}


@pytest.mark.parametrize("name", sorted(HOMES))
def test_each_name_comes_from_its_module(name):
    value = getattr(diffs, name)
    package = "acme_ci_budget.core." if HOMES[name] == "core" else f"acme_ci_budget.diffs.{HOMES[name]}"
    assert value.__module__.startswith(package)
    assert name in diffs.__all__


def test_the_constants_are_re_exported():
    assert "**/auth/**" in diffs.SECURITY_GLOBS
    assert diffs.REASON_BUDGET == "did not fit token budget"
    assert diffs.CLASS_SOURCE < diffs.CLASS_TEST < diffs.CLASS_DOCS
    with pytest.raises(AttributeError, match="has no attribute 'unified'"):
        diffs.unified  # noqa: B018
