"""Rendering changed files back into unified-diff text, quoting paths the way git does.

Owns the ``diff --git`` header of each kind of change (new, deleted, renamed, copied, binary) and the
C-style quoting of unusual paths, so ``parse`` reads back what this writes. It must not decide what
is sent (``policy``, ``clip``) nor estimate tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

from acme_ci_budget.diffs.change import FileChange

_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
              '"': '\\"', "\\": "\\\\"}


def quote_path(path: str) -> str:
    """Quote a path the way git does when it holds characters a diff line cannot carry raw."""
    if not any(c in _C_ESCAPES or ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return path
    out = []
    for c in path:
        if c in _C_ESCAPES:
            out.append(_C_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def file_header(change: FileChange, has_hunks: bool) -> str:
    old = change.previous_path or change.path
    new = change.path
    lines = [f"diff --git {quote_path('a/' + old)} {quote_path('b/' + new)}"]
    if change.status == "added" and change.previous_path:
        lines += [f"copy from {quote_path(old)}", f"copy to {quote_path(new)}"]
    elif change.status == "added":
        lines.append("new file mode 100644")
    elif change.status == "removed":
        lines.append("deleted file mode 100644")
    elif change.status == "renamed":
        lines += [f"rename from {quote_path(old)}", f"rename to {quote_path(new)}"]
    if has_hunks:
        new_file = change.status == "added" and not change.previous_path
        lines.append("--- " + ("/dev/null" if new_file else quote_path("a/" + old)))
        lines.append("+++ " + ("/dev/null" if change.status == "removed" else quote_path("b/" + new)))
    return "\n".join(lines) + "\n"


def strip_final_newline(patch: str) -> str:
    return patch[:-1] if patch.endswith("\n") else patch


def render_file(change: FileChange, patch: str | None = None) -> str:
    """One file as a ``diff --git`` block ending in a newline; ``patch`` overrides change.patch."""
    if patch is None and change.patch is None and not (change.status == "renamed" and change.changes == 0):
        old = "/dev/null" if change.status == "added" and not change.previous_path else "a/" + (
            change.previous_path or change.path)
        new = "/dev/null" if change.status == "removed" else "b/" + change.path
        return file_header(change, False) + f"Binary files {quote_path(old)} and {quote_path(new)} differ\n"
    body = strip_final_newline((change.patch if patch is None else patch) or "")
    return file_header(change, bool(body)) + (body + "\n" if body else "")


def render_diff(files: Iterable[FileChange]) -> str:
    """Files as one unified diff (``parse_unified_diff`` reads it back)."""
    return "".join(render_file(f) for f in files)

