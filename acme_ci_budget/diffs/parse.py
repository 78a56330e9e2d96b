"""Parsing a local unified diff (``git diff``, ``git show``, ``format-patch``, ``diff -u``) into ``FileChange``s.

Owns reading git's extended headers, C-quoted names, binary markers, plain ``diff -u`` sections and
hunks whose line counts must match their headers; malformed input raises ``DiffError`` naming the
line, never showing hunk content. It must not filter, clip or render (``policy``, ``clip``, ``render``).
"""

from __future__ import annotations

import re

from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.hunks import HUNK_RE

_GIT_BINARY = "GIT binary patch"
_IGNORED_GIT_HEADERS = ("old mode ", "new mode ", "index ", "similarity index ", "dissimilarity index ")
_NOT_PLAIN_DIFF = ("diff --git ", "diff --cc ", "diff --combined ")
_CHATTER = ("Index: ", "====", "Only in ", "Common subdirectories: ", "Property changes on: ")
_BINARY_RE = re.compile(r"Binary files (.+?) and (.+) differ\Z")
_QUOTED_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(text: str, where: int) -> tuple[str, str]:
    """Read one C-quoted path from the start of ``text``; return (path, rest after it)."""
    raw = bytearray()
    i = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return raw.decode("utf-8", "surrogateescape"), text[i + 1 :]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _QUOTED_ESCAPES:
                raw.append(_QUOTED_ESCAPES[nxt])
                i += 2
                continue
            if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                raw.append(int(text[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            raise DiffError(f"diff line {where}: bad escape '\\{nxt}' in quoted path")
        raw += c.encode("utf-8", "surrogateescape")
        i += 1
    raise DiffError(f"diff line {where}: quoted path has no closing quote")


def _path_field(text: str, where: int) -> str:
    """A path on a ---/+++/rename/copy line: quoted, or raw up to a tab (git and GNU diff put a
    tab, and maybe a timestamp, after a name)."""
    text = text.rstrip("\r")
    if text.startswith('"'):
        return _unquote(text, where)[0]
    return text.split("\t", 1)[0]


def _strip_prefix(path: str, prefix: str) -> str:
    return path[len(prefix) :] if path.startswith(prefix) else path


def _git_header_paths(rest: str, where: int) -> tuple[str, str] | None:
    """(old, new) from what follows ``diff --git ``; None when spaces make it ambiguous (a
    rename with spaces): the rename and ---/+++ lines then say."""
    if rest.startswith('"'):
        old, tail = _unquote(rest, where)
        tail = tail.lstrip(" ")
        new = _unquote(tail, where)[0] if tail.startswith('"') else tail
        return _strip_prefix(old, "a/"), _strip_prefix(new, "b/")
    if rest.endswith('"'):
        cut = rest.find(' "')
        if cut == -1:
            return None
        return _strip_prefix(rest[:cut], "a/"), _strip_prefix(_unquote(rest[cut + 1 :], where)[0], "b/")
    # Same name on both sides (the usual case): the line is "<p>X <q>X" with halves of equal length.
    if len(rest) % 2 == 1 and rest[len(rest) // 2] == " ":
        left, right = rest[: len(rest) // 2], rest[len(rest) // 2 + 1 :]
        if left == right:
            return left, right
        if left[1:2] == "/" and right[1:2] == "/" and left[2:] == right[2:]:
            return left[2:], right[2:]
    cut = rest.find(" b/")
    if rest.startswith("a/") and cut != -1 and rest.find(" b/", cut + 1) == -1:
        return rest[2:cut], rest[cut + 3 :]
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.lines = lines
        self.i = 0
        self.files: list[FileChange] = []

    def error(self, line_no: int, what: str) -> DiffError:
        return DiffError(f"diff line {line_no}: {what}")

    def parse(self) -> list[FileChange]:
        lines = self.lines
        while self.i < len(lines):
            line = lines[self.i].rstrip("\r")
            if line.startswith("diff --git "):
                self.git_section()
            elif line.startswith(("diff --cc ", "diff --combined ")):
                raise self.error(self.i + 1, "combined (merge) diffs are not supported")
            elif line.startswith("--- ") and self.i + 1 < len(lines) and lines[self.i + 1].startswith("+++ "):
                self.plain_section()
            elif line.startswith("Binary files ") and (m := _BINARY_RE.match(line)):
                self.plain_binary(m)
            elif not self.files or _between_files(line):
                self.i += 1  # preamble (commit message, diffstat) or diff/svn chatter between files
            elif line == "-- ":
                break  # git format-patch signature: the version line follows
            elif line[:1] in ("+", "-", " "):
                raise self.error(self.i + 1, "diff line outside any hunk (the hunk header before it may "
                                             "declare too few lines)")
            else:
                raise self.error(self.i + 1, "unexpected text outside a hunk "
                                             "(expected 'diff --git', '@@' or the end of the diff)")
        if not self.files and any(line.strip() for line in lines):
            if any("\x1b[" in line for line in lines[:50]):
                raise DiffError("diff line 1: no file header found; the diff looks coloured (use --no-color)")
            raise DiffError("diff line 1: no file header found (expected 'diff --git' or '---'/'+++' lines)")
        return self.files

    def git_section(self) -> None:
        lines = self.lines
        start = self.i + 1
        paths = _git_header_paths(lines[self.i].rstrip("\r")[len("diff --git ") :], start)
        self.i += 1
        new_file = deleted = binary = False
        rename_from = rename_to = copy_from = copy_to = None
        while self.i < len(lines):
            line = lines[self.i].rstrip("\r")
            where = self.i + 1
            if line.startswith(("diff --git ", "--- ", "@@", "diff --cc ", "diff --combined ")):
                break
            if line.startswith("new file mode "):
                new_file = True
            elif line.startswith("deleted file mode "):
                deleted = True
            elif line.startswith("rename from "):
                rename_from = _path_field(line[len("rename from ") :], where)
            elif line.startswith("rename to "):
                rename_to = _path_field(line[len("rename to ") :], where)
            elif line.startswith("copy from "):
                copy_from = _path_field(line[len("copy from ") :], where)
            elif line.startswith("copy to "):
                copy_to = _path_field(line[len("copy to ") :], where)
            elif line.startswith("Binary files ") and line.endswith(" differ"):
                binary = True
            elif line == _GIT_BINARY:
                binary = True
                # literal/delta blocks of base85 lines, each closed by a blank line
                self.i += 1
                while self.i < len(lines) and not lines[self.i].startswith("diff --git "):
                    self.i += 1
                break
            elif line.startswith(_IGNORED_GIT_HEADERS) or not line.strip():
                pass
            else:
                if self.after_file_boundary(line):
                    break
                raise self.error(where, "unexpected line in the header of the diff that starts at line "
                                        f"{start} (expected git extended header lines, '---' or '@@')")
            self.i += 1
        minus = plus = None
        patch: str | None = None if binary else ""
        additions = deletions = 0
        if self.i < len(lines) and lines[self.i].startswith("--- "):
            minus, plus = self.minus_plus()
            patch, additions, deletions = self.hunks(self.i)
        elif self.i < len(lines) and lines[self.i].startswith("@@"):
            raise self.error(self.i + 1, "hunk without '---'/'+++' lines before it")
        old, new = paths if paths is not None else (None, None)
        if paths is None and minus not in (None, "/dev/null"):
            old = _strip_prefix(minus, "a/")
        if paths is None and plus not in (None, "/dev/null"):
            new = _strip_prefix(plus, "b/")
        previous = None
        if rename_from is not None or rename_to is not None:
            status, previous, new = "renamed", rename_from or old, rename_to or new
        elif copy_from is not None or copy_to is not None:
            status, previous, new = "added", copy_from or old, copy_to or new
        elif new_file or minus == "/dev/null":
            status = "added"
        elif deleted or plus == "/dev/null":
            status, new = "removed", old or new
        else:
            status = "modified"
        path = new or old
        if not path:
            raise self.error(start, "cannot tell the file path from the 'diff --git' header")
        if status == "renamed" and not previous:
            raise self.error(start, "rename without a 'rename from' path")
        self.files.append(FileChange(path, status, additions, deletions, patch, previous))

    def after_file_boundary(self, line: str) -> bool:
        # A git section with no hunks may be followed by a plain section or a format-patch signature.
        nxt = self.lines[self.i + 1] if self.i + 1 < len(self.lines) else ""
        return line == "-- " or (line.startswith("--- ") and nxt.startswith("+++ "))

    def minus_plus(self) -> tuple[str, str]:
        lines = self.lines
        where = self.i + 1
        minus = _path_field(lines[self.i][4:], where)
        if self.i + 1 >= len(lines) or not lines[self.i + 1].startswith("+++ "):
            raise self.error(where, "'---' line not followed by a '+++' line")
        plus = _path_field(lines[self.i + 1][4:], where + 1)
        self.i += 2
        return minus, plus

    def plain_section(self) -> None:
        """A ``---``/``+++`` pair with no ``diff --git`` line (``diff -ruN``, svn, hand-made)."""
        start = self.i + 1
        minus, plus = self.minus_plus()
        patch, additions, deletions = self.hunks(start + 1)
        old, new = minus, plus
        if minus == "/dev/null":
            new = _strip_prefix(plus, "b/")
        elif plus == "/dev/null":
            old = _strip_prefix(minus, "a/")
        elif "/" in minus and "/" in plus and minus.split("/", 1)[1] == plus.split("/", 1)[1]:
            # a/x b/x, or old/x new/x from `diff -ruN old new`: drop the side names, as `patch -p1` does
            old = new = plus.split("/", 1)[1]
        # `diff -N` shows a missing side as an empty file rather than /dev/null
        first = HUNK_RE.match(patch.split("\n", 1)[0].rstrip("\r"))
        if minus == "/dev/null" or (first is not None and first.group(1) == "0" and first.group(2) == "0"):
            status, path = "added", new
        elif plus == "/dev/null" or (first is not None and first.group(3) == "0" and first.group(4) == "0"):
            status, path = "removed", old
        else:
            status, path = "modified", new
        if not path:
            raise self.error(start, "empty file name on the '---'/'+++' lines")
        self.files.append(FileChange(path, status, additions, deletions, patch))

    def plain_binary(self, m: re.Match[str]) -> None:
        old, new = m.group(1), m.group(2)
        if old == "/dev/null":
            status, path = "added", _strip_prefix(new, "b/")
        elif new == "/dev/null":
            status, path = "removed", _strip_prefix(old, "a/")
        else:
            status, path = "modified", _strip_prefix(new, "b/")
        self.files.append(FileChange(path, status, 0, 0, None))
        self.i += 1

    def hunks(self, plus_line: int) -> tuple[str, int, int]:
        """Read the hunks that follow a '+++' line; return (patch, additions, deletions)."""
        lines = self.lines
        body: list[str] = []
        additions = deletions = 0
        if self.i >= len(lines) or not lines[self.i].startswith("@@"):
            raise self.error(plus_line, "'+++' line not followed by a hunk ('@@ -a,b +c,d @@')")
        while self.i < len(lines) and lines[self.i].startswith("@@"):
            header_no = self.i + 1
            header = lines[self.i]
            m = HUNK_RE.match(header.rstrip("\r"))
            if m is None:
                raise self.error(header_no, f"malformed hunk header {header[:60]!r} "
                                            "(expected '@@ -a,b +c,d @@')")
            old_len = 1 if m.group(2) is None else int(m.group(2))
            new_len = 1 if m.group(4) is None else int(m.group(4))
            body.append(header)
            self.i += 1
            old_seen = new_seen = 0
            while old_seen < old_len or new_seen < new_len:
                if self.i >= len(lines):
                    raise self.error(header_no, f"hunk declares {old_len} old and {new_len} new lines but "
                                                f"the diff ends after {old_seen} old and {new_seen} new")
                line = lines[self.i]
                c = line[:1]
                if c == " " or line in ("", "\r"):
                    old_seen += 1
                    new_seen += 1
                elif c == "-":
                    old_seen += 1
                    deletions += 1
                elif c == "+":
                    new_seen += 1
                    additions += 1
                elif c != "\\":
                    raise self.error(self.i + 1, f"line starting with {c!r} inside the hunk at line "
                                                 f"{header_no} (which declares {old_len} old and {new_len} "
                                                 f"new lines; {old_seen} old and {new_seen} new seen)")
                if old_seen > old_len or new_seen > new_len:
                    raise self.error(self.i + 1, f"more lines than the hunk at line {header_no} declares "
                                                 f"({old_len} old, {new_len} new)")
                body.append(line)
                self.i += 1
            while self.i < len(lines) and lines[self.i].startswith("\\"):
                body.append(lines[self.i])
                self.i += 1
        return "\n".join(body), additions, deletions


def _between_files(line: str) -> bool:
    """Chatter that `diff -r`, svn and friends print between files, and blank lines."""
    return (
        not line.strip()
        or (line.startswith("diff ") and not line.startswith(_NOT_PLAIN_DIFF))
        or line.startswith(_CHATTER)
    )


def parse_unified_diff(text: str) -> list[FileChange]:
    """Files of a ``git diff`` (or ``git show`` / ``format-patch`` / ``diff -u``) output, in order.

    New, deleted, renamed, copied and mode-changed files, binaries (patch None), several hunks,
    "\\ No newline at end of file" markers and C-quoted names are understood. Text before the
    first file (a commit message) is skipped. Empty input gives []. Malformed input raises
    DiffError naming the line.
    """
    if not isinstance(text, str):
        raise DiffError(f"diff must be text, got {type(text).__name__}")
    return _Parser(text).parse()

