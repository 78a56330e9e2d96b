"""Check the package's sizes: every module under MAX_MODULE_LINES lines, every class under MAX_CLASS_LINES.

    python scripts/check_sizes.py [--max-module 400] [--max-class 250] [ROOT]

Lists each offender as ``path:line: what (N lines > limit)`` and exits 1 if there is any, 0 otherwise.
A module counts its physical lines; a class counts from its first decorator to its last line (nested
classes count inside their parent too). ``.ci/run`` runs it after ``lint-imports`` (issue 18: modules
under ~400 lines, classes under ~250; README, "Architecture").
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250

# No exceptions: every module of the package is held to the limits (issue 18).
EXCLUDED: frozenset[str] = frozenset()


def offenders(root: Path, max_module: int, max_class: int) -> Iterator[str]:
    """One line per module or class over its limit, in path order."""
    package = root / "acme_ci_budget"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in EXCLUDED:
            continue
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > max_module:
            yield f"{rel}:1: module ({lines} lines > {max_module})"
        for node in ast.walk(ast.parse(text, filename=rel)):
            if isinstance(node, ast.ClassDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                size = (node.end_lineno or node.lineno) - start + 1
                if size > max_class:
                    yield f"{rel}:{start}: class {node.name} ({size} lines > {max_class})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--max-module", type=int, default=MAX_MODULE_LINES)
    parser.add_argument("--max-class", type=int, default=MAX_CLASS_LINES)
    args = parser.parse_args(argv)
    found = list(offenders(args.root, args.max_module, args.max_class))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} over the size limits (modules {args.max_module} lines, classes {args.max_class})",
              file=sys.stderr)
        return 1
    print(f"sizes OK: every module <= {args.max_module} lines, every class <= {args.max_class}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
