"""Diff shaping for the PR review: parse, filter, clip to a token budget, map comment lines.

Owns the pure transformation from a pull request's changed files (as the GitHub
API lists them, or parsed from a local unified diff) to the diff text the review
model sees, together with the record of every file left out and why, whether the
change touches security-sensitive paths, and which new-file lines an inline
review comment may target.

It must not call GitHub or the model, read configuration files, or estimate
tokens any other way than acme_ci_budget.core.tokens (the one shared estimator).

Clipping (after pr-agent's compression), given a token budget:

1. Files the policy excludes are omitted (lock files, generated or vendored
   files, user ``exclude`` globs, binaries, patches over the size cap). A user
   ``include`` glob wins over every name-based rule; it cannot conjure a patch
   for a binary, and it does not lift the size cap.
2. If the rest does not fit: hunks with no added line are dropped, removed files
   are omitted, files left with no hunk are omitted (a rename keeps its header).
3. If it still does not fit: whole files are taken by priority (source and
   security-sensitive files, then tests, then docs/config; most changed first;
   then path) while they fit; the others are omitted. A file larger than the
   whole budget on its own is the one exception: its leading hunks are kept, as
   many as fit, followed by a ``\\ acme-ci-budget: N more hunks ...`` marker line.
   A hunk is never split, so line numbers in what is sent stay true.
4. The estimate of the final text never exceeds the budget; if the estimator is
   ever changed so that pieces cost less than their sum, the lowest-priority
   files are dropped until it fits.

The text lists the chosen files in input order; the choice itself does not
depend on input order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The module, not the function: one estimator, and a test that swaps it for a
# stranger one reaches the clipper too.
from acme_ci_budget.core import globs as _globs
from acme_ci_budget.core import tokens as _tokens

STATUSES = ("added", "modified", "removed", "renamed")

REASON_LOCK = "lock file"
REASON_GENERATED = "generated or vendored"
REASON_EXCLUDED = "excluded by pattern"
REASON_BINARY = "binary"
# GitHub leaves out the patch of a text file whose diff is too large to show.
REASON_NO_PATCH = "no patch available"
REASON_SIZE = "over size cap"
REASON_REMOVED = "file removed"
REASON_DELETION_ONLY = "deletion-only hunks dropped"
REASON_BUDGET = "did not fit token budget"

LOCK_GLOBS: tuple[str, ...] = (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock",
    "deno.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "go.sum", "go.work.sum",
    "composer.lock", "Gemfile.lock", "mix.lock", "pubspec.lock", "Podfile.lock", "Package.resolved",
    "packages.lock.json", "gradle.lockfile", "flake.lock", "conan.lock", "*.terraform.lock.hcl",
)

GENERATED_GLOBS: tuple[str, ...] = (
    "**/vendor/**", "**/node_modules/**", "**/dist/**", "build/**", "**/__snapshots__/**",
    "**/__generated__/**", "*.min.js", "*.min.css", "*.min.mjs", "*.js.map", "*.css.map", "*.snap",
    "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go", "*.pb.gw.go", "*.pb.h", "*.pb.cc",
    "*.generated.*", "*.g.dart", "*.freezed.dart", "*.Designer.cs", "*.designer.cs",
)

BINARY_EXTENSIONS: tuple[str, ...] = (
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff", "psd", "pdf",
    "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "jar", "war", "ear", "whl", "egg",
    "so", "dylib", "dll", "exe", "bin", "o", "a", "lib", "obj", "class", "pyc", "pyo", "wasm",
    "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "m4a", "mov", "avi", "wav", "ogg", "flac",
    "webm", "mkv", "sqlite", "sqlite3", "db", "parquet", "avro", "npy", "npz", "pkl", "pickle",
    "h5", "onnx", "pt", "pth", "ckpt", "safetensors", "lockb", "keystore", "p12", "pfx", "jks", "der",
)

SECURITY_GLOBS: tuple[str, ...] = (
    "**/auth/**", "**/authn/**", "**/authz/**", "**/oauth/**", "**/security/**", "**/crypto/**",
    "**/secrets/**", "**/iam/**", "auth.*", "authentication.*", "authorization.*", "permissions.*",
    "*.pem", "*.key", "*.crt", "*.cer", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa*", "id_ed25519*",
    ".env", ".env.*", "Dockerfile", "Dockerfile.*", "*.dockerfile", "docker-compose*.yml",
    "docker-compose*.yaml", ".github/workflows/**", ".github/actions/**", "action.yml", "action.yaml",
    "CODEOWNERS", ".github/CODEOWNERS", ".gitlab-ci.yml", "Jenkinsfile", "*.tf", "*.tfvars",
)

TEST_GLOBS: tuple[str, ...] = (
    "**/tests/**", "**/test/**", "**/__tests__/**", "**/spec/**", "**/testdata/**", "**/testing/**",
    "test_*.py", "*_test.py", "conftest.py", "*_test.go", "*.test.*", "*.spec.*", "*Test.java",
    "*Tests.java", "*Test.kt", "*Tests.kt", "*Tests.cs", "*Test.cs", "*_spec.rb", "*_test.rb",
    "*Tests.swift", "*Test.php",
)

DOCS_GLOBS: tuple[str, ...] = (
    "*.md", "*.mdx", "*.rst", "*.txt", "*.adoc", "**/docs/**", "**/doc/**", "LICENSE*", "CHANGELOG*",
    "*.json", "*.yaml", "*.yml", "*.toml", "*.ini", "*.cfg", "*.conf", "*.properties", "*.csv",
    ".editorconfig", ".gitignore", ".gitattributes", ".dockerignore",
)

# Priority classes for step 3 (lower is kept first).
CLASS_SOURCE, CLASS_TEST, CLASS_DOCS = 0, 1, 2


class DiffError(ValueError):
    """Bad diff input or diff policy. The message is one line naming what is wrong and where."""


# ---------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class FileChange:
    """One changed file. ``patch`` holds hunks only (from the first ``@@``), as GitHub sends it;
    None means no text diff (binary, or too large for GitHub to show); "" means a change with no
    hunks (mode change, empty new file, pure rename)."""

    path: str
    status: str
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    previous_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise DiffError(f"file change has an empty or non-text path: {self.path!r}")
        if self.status not in STATUSES:
            raise DiffError(
                f"file {self.path!r}: unknown status {self.status!r} (expected one of {', '.join(STATUSES)})"
            )
        for name in ("additions", "deletions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DiffError(f"file {self.path!r}: {name} must be a non-negative integer, got {value!r}")
        if self.patch is not None and not isinstance(self.patch, str):
            kind = type(self.patch).__name__
            raise DiffError(f"file {self.path!r}: patch must be text or None, got {kind}")
        if self.status == "renamed" and not self.previous_path:
            raise DiffError(f"file {self.path!r}: status 'renamed' needs previous_path")

    @property
    def changes(self) -> int:
        return self.additions + self.deletions

    @classmethod
    def from_github(cls, data: Mapping[str, Any]) -> FileChange:
        """From one entry of GitHub's "list pull request files" response (a JSON object)."""
        status = str(data.get("status", ""))
        mapped = _GITHUB_STATUS.get(status)
        filename = data.get("filename")
        if mapped is None:
            raise DiffError(f"GitHub file {filename!r}: unknown status {status!r}")
        previous = data.get("previous_filename") if status in ("renamed", "copied") else None
        patch = data.get("patch")
        return cls(
            path=str(filename or ""),
            status=mapped,
            additions=int(data.get("additions") or 0),
            deletions=int(data.get("deletions") or 0),
            patch=None if patch is None else str(patch),
            previous_path=None if previous is None else str(previous),
        )


# A copy is a new file that happens to start from another; "changed" is a mode-only change.
_GITHUB_STATUS = {
    "added": "added", "removed": "removed", "modified": "modified", "renamed": "renamed",
    "copied": "added", "changed": "modified", "unchanged": "modified",
}


@dataclass(frozen=True)
class ClippedDiff:
    """What to send, and an account of what was not sent.

    ``omitted`` holds (path, reason) in input order; every input path is in exactly one of
    ``included`` and ``omitted``. ``trimmed`` lists included paths sent only in part (hunks
    dropped in step 2 or 3). ``changed_lines`` counts additions + deletions of the files that
    survived the policy filter (step 1): the size of the reviewable change, before the budget.
    ``touches_security`` looks at every input file, excluded ones too (a changed ``*.pem`` matters
    even though it is never sent).
    """

    text: str
    included: tuple[str, ...]
    omitted: tuple[tuple[str, str], ...]
    tokens: int
    touches_security: bool
    changed_lines: int
    trimmed: tuple[str, ...] = ()
    security_paths: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Globs


def glob_regex(pattern: str) -> str:
    """``core.globs.glob_regex``, raising ``DiffError`` (diff policy input) for an empty pattern."""
    try:
        return _globs.glob_regex(pattern)
    except _globs.GlobError as exc:
        raise DiffError(str(exc)) from None


_compiled = _globs.compiled
path_matches = _globs.path_matches


# ---------------------------------------------------------------------------
# Policy

_GLOB_FIELDS = ("exclude", "include", "lock_globs", "generated_globs", "security_globs", "test_globs",
                "docs_globs")


@dataclass(frozen=True)
class DiffPolicy:
    """What the review never sees, what counts as security-sensitive, and how files rank.

    ``exclude``/``include`` are the user's extra globs; ``include`` wins over every name-based
    exclusion. ``max_file_bytes`` caps a single file's patch (UTF-8 bytes; None: no cap).
    Lists are accepted and stored as tuples; a bare string is refused (it would be read as
    one glob per character).
    """

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    max_file_bytes: int | None = 100_000
    lock_globs: tuple[str, ...] = LOCK_GLOBS
    generated_globs: tuple[str, ...] = GENERATED_GLOBS
    binary_extensions: tuple[str, ...] = BINARY_EXTENSIONS
    security_globs: tuple[str, ...] = SECURITY_GLOBS
    test_globs: tuple[str, ...] = TEST_GLOBS
    docs_globs: tuple[str, ...] = DOCS_GLOBS

    def __post_init__(self) -> None:
        for name in (*_GLOB_FIELDS, "binary_extensions"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Iterable):
                raise DiffError(f"DiffPolicy.{name} must be a list of strings, got {type(value).__name__}")
            items = tuple(value)
            for item in items:
                if not isinstance(item, str) or not item.strip("/."):
                    raise DiffError(f"DiffPolicy.{name}: empty or non-text entry {item!r}")
            if name == "binary_extensions":
                items = tuple(item.lower().lstrip(".") for item in items)
            object.__setattr__(self, name, items)
            if name != "binary_extensions":
                try:
                    _compiled(items)
                except re.error as exc:
                    raise DiffError(f"DiffPolicy.{name}: bad glob ({exc})") from None
        cap = self.max_file_bytes
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0):
            raise DiffError(f"DiffPolicy.max_file_bytes must be a positive integer or None, got {cap!r}")

    def is_binary_path(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return "." in name and name.rsplit(".", 1)[-1].lower() in self.binary_extensions

    def exclusion_reason(self, change: FileChange) -> str | None:
        """Why step 1 leaves this file out, or None if it is reviewable."""
        path = change.path
        if not path_matches(path, self.include):
            if path_matches(path, self.lock_globs):
                return REASON_LOCK
            if path_matches(path, self.generated_globs):
                return REASON_GENERATED
            if path_matches(path, self.exclude):
                return REASON_EXCLUDED
            if self.is_binary_path(path) and change.patch is not None:
                return REASON_BINARY  # a text patch of an image or archive is noise to a reviewer
        if change.patch is None:
            if change.status == "renamed" and change.changes == 0:
                return None  # a pure rename: the header alone says it all
            if change.changes == 0 or self.is_binary_path(path):
                return REASON_BINARY
            return REASON_NO_PATCH
        if self.max_file_bytes is not None and _over_bytes(change.patch, self.max_file_bytes):
            return REASON_SIZE
        return None

    def is_security(self, change: FileChange) -> bool:
        if path_matches(change.path, self.security_globs):
            return True
        return change.previous_path is not None and path_matches(change.previous_path, self.security_globs)

    def priority_class(self, change: FileChange) -> int:
        """CLASS_SOURCE, CLASS_TEST or CLASS_DOCS. Security-sensitive files rank with source:
        a changed workflow or Dockerfile deserves the reviewer's attention first."""
        if self.is_security(change):
            return CLASS_SOURCE
        if path_matches(change.path, self.test_globs):
            return CLASS_TEST
        if path_matches(change.path, self.docs_globs):
            return CLASS_DOCS
        return CLASS_SOURCE


def _over_bytes(text: str, cap: int) -> bool:
    # A character is 1 to 4 UTF-8 bytes, so most patches are decided without encoding them.
    if len(text) > cap:
        return True
    if len(text) * 4 <= cap:
        return False
    return len(text.encode("utf-8", "replace")) > cap


# ---------------------------------------------------------------------------
# Rendering

_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
              '"': '\\"', "\\": "\\\\"}


def _quote(path: str) -> str:
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


def _header(change: FileChange, has_hunks: bool) -> str:
    old = change.previous_path or change.path
    new = change.path
    lines = [f"diff --git {_quote('a/' + old)} {_quote('b/' + new)}"]
    if change.status == "added" and change.previous_path:
        lines += [f"copy from {_quote(old)}", f"copy to {_quote(new)}"]
    elif change.status == "added":
        lines.append("new file mode 100644")
    elif change.status == "removed":
        lines.append("deleted file mode 100644")
    elif change.status == "renamed":
        lines += [f"rename from {_quote(old)}", f"rename to {_quote(new)}"]
    if has_hunks:
        new_file = change.status == "added" and not change.previous_path
        lines.append("--- " + ("/dev/null" if new_file else _quote("a/" + old)))
        lines.append("+++ " + ("/dev/null" if change.status == "removed" else _quote("b/" + new)))
    return "\n".join(lines) + "\n"


def _strip_final_newline(patch: str) -> str:
    return patch[:-1] if patch.endswith("\n") else patch


def render_file(change: FileChange, patch: str | None = None) -> str:
    """One file as a ``diff --git`` block ending in a newline; ``patch`` overrides change.patch."""
    if patch is None and change.patch is None and not (change.status == "renamed" and change.changes == 0):
        old = "/dev/null" if change.status == "added" and not change.previous_path else "a/" + (
            change.previous_path or change.path)
        new = "/dev/null" if change.status == "removed" else "b/" + change.path
        return _header(change, False) + f"Binary files {_quote(old)} and {_quote(new)} differ\n"
    body = _strip_final_newline((change.patch if patch is None else patch) or "")
    return _header(change, bool(body)) + (body + "\n" if body else "")


def render_diff(files: Iterable[FileChange]) -> str:
    """Files as one unified diff (``parse_unified_diff`` reads it back)."""
    return "".join(render_file(f) for f in files)


# ---------------------------------------------------------------------------
# Hunks

_HUNK_RE = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)\Z", re.DOTALL)


def _split_hunks(patch: str) -> list[list[str]]:
    """Hunks as lists of lines (header first). A line starting with "@@" is always a header:
    hunk body lines start with ' ', '+', '-' or '\\'. Anything before the first header is kept
    as a chunk of its own so that nothing is silently lost."""
    hunks: list[list[str]] = []
    for line in _strip_final_newline(patch).split("\n"):
        if line.startswith("@@") or not hunks:
            hunks.append([line])
        else:
            hunks[-1].append(line)
    return hunks


def _has_addition(hunk: list[str]) -> bool:
    return any(line.startswith("+") for line in hunk[1:])


def _new_side_lines(patch: str | None, with_context: bool) -> set[int]:
    if not patch:
        return set()
    found: set[int] = set()
    for n, hunk in enumerate(_split_hunks(patch), 1):
        m = _HUNK_RE.match(hunk[0].rstrip("\r"))
        if m is None:
            raise DiffError(f"patch hunk {n}: malformed hunk header {hunk[0][:60]!r}")
        line_no = int(m.group(3))
        for line in hunk[1:]:
            c = line[:1]
            if c == "+":
                found.add(line_no)
                line_no += 1
            elif c == " " or line in ("", "\r"):
                if with_context:
                    found.add(line_no)
                line_no += 1
            elif c not in ("-", "\\"):
                raise DiffError(f"patch hunk {n}: line starting with {c!r} is not a diff line")
    return found


def added_lines(patch: str | None) -> set[int]:
    """New-file line numbers of the added ('+') lines: where an inline review comment about the
    change belongs (side RIGHT)."""
    return _new_side_lines(patch, with_context=False)


def right_side_lines(patch: str | None) -> set[int]:
    """Every new-file line number the diff shows (added and context lines): all the lines GitHub
    accepts for a comment on side RIGHT."""
    return _new_side_lines(patch, with_context=True)


# ---------------------------------------------------------------------------
# Parsing a local diff

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
        first = _HUNK_RE.match(patch.split("\n", 1)[0].rstrip("\r"))
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
            m = _HUNK_RE.match(header.rstrip("\r"))
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


# ---------------------------------------------------------------------------
# Clipping


def _truncation_marker(dropped: int) -> str:
    plural = "hunk" if dropped == 1 else "hunks"
    return f"\\ acme-ci-budget: {dropped} more {plural} of this file omitted to fit the token budget\n"


def _truncate(change: FileChange, patch: str, budget: int) -> str | None:
    """The header and as many leading hunks as fit ``budget`` with the marker; None if none fit."""
    estimate = _tokens.estimate_tokens
    hunks = _split_hunks(patch)
    header = _header(change, True)
    used = estimate(header)
    kept: list[str] = []
    for hunk in hunks:
        text = "\n".join(hunk) + "\n"
        cost = estimate(text)
        left_after = len(hunks) - len(kept) - 1
        marker_cost = estimate(_truncation_marker(left_after)) if left_after else 0
        if used + cost + marker_cost > budget:
            break
        kept.append(text)
        used += cost
    if not kept:
        return None
    dropped = len(hunks) - len(kept)
    return header + "".join(kept) + (_truncation_marker(dropped) if dropped else "")


def clip_diff(files: Iterable[FileChange], max_tokens: int, policy: DiffPolicy | None = None) -> ClippedDiff:
    """Fit a PR's files into ``max_tokens`` (see the module docstring for the strategy)."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise DiffError(f"max_tokens must be a non-negative integer, got {max_tokens!r}")
    policy = policy or DiffPolicy()
    estimate = _tokens.estimate_tokens
    changes = list(files)
    seen: set[str] = set()
    for change in changes:
        if not isinstance(change, FileChange):
            raise DiffError(f"clip_diff takes FileChange items, got {type(change).__name__}")
        if change.path in seen:
            raise DiffError(f"duplicate path {change.path!r} in the file list")
        seen.add(change.path)

    security_paths = tuple(c.path for c in changes if policy.is_security(c))
    omitted: dict[int, str] = {}
    patches: dict[int, str] = {}
    for idx, change in enumerate(changes):
        reason = policy.exclusion_reason(change)
        if reason is not None:
            omitted[idx] = reason
        else:
            patches[idx] = change.patch or ""
    changed_lines = sum(changes[i].changes for i in patches)
    blocks = {i: render_file(changes[i], patches[i]) for i in patches}
    cost = {i: estimate(blocks[i]) for i in blocks}
    trimmed: set[int] = set()

    def total() -> int:
        return sum(cost[i] for i in blocks)

    # Step 2: deletions are the cheapest thing to give up; the reviewer mostly needs new code.
    if total() > max_tokens:
        for i in list(blocks):
            change = changes[i]
            if change.status == "removed":
                omitted[i] = REASON_REMOVED
                del blocks[i]
                continue
            if not patches[i]:
                continue
            hunks = _split_hunks(patches[i])
            kept = [h for h in hunks if _has_addition(h)]
            if len(kept) == len(hunks):
                continue
            if not kept and change.status != "renamed":
                omitted[i] = REASON_DELETION_ONLY
                del blocks[i]
                continue
            patches[i] = "\n".join("\n".join(h) for h in kept)
            blocks[i] = render_file(change, patches[i]) if kept else _header(change, False)
            cost[i] = estimate(blocks[i])
            trimmed.add(i)

    def priority(i: int) -> tuple[int, int, str]:
        return (policy.priority_class(changes[i]), -changes[i].changes, changes[i].path)

    order = sorted(blocks, key=priority)

    # Step 3: whole files by priority while they fit.
    if total() > max_tokens:
        remaining = max_tokens
        for i in order:
            if cost[i] <= remaining:
                remaining -= cost[i]
                continue
            too_big = cost[i] > max_tokens and bool(patches[i])
            block = _truncate(changes[i], patches[i], remaining) if too_big else None
            if block is not None:
                blocks[i] = block
                cost[i] = estimate(block)
                remaining -= cost[i]
                trimmed.add(i)
                continue
            omitted[i] = REASON_BUDGET
            del blocks[i]
        order = [i for i in order if i in blocks]

    # Step 4: the sum of the pieces bounds the whole for a sub-additive estimator (ours is);
    # this only trims if that ever stops being true.
    chosen = sorted(blocks)
    text = "".join(blocks[i] for i in chosen)
    tokens = estimate(text)
    while tokens > max_tokens and order:
        drop = order.pop()
        omitted[drop] = REASON_BUDGET
        del blocks[drop]
        chosen = sorted(blocks)
        text = "".join(blocks[i] for i in chosen)
        tokens = estimate(text)

    return ClippedDiff(
        text=text,
        included=tuple(changes[i].path for i in chosen),
        omitted=tuple((changes[i].path, omitted[i]) for i in sorted(omitted)),
        tokens=tokens,
        touches_security=bool(security_paths),
        changed_lines=changed_lines,
        trimmed=tuple(changes[i].path for i in chosen if i in trimmed),
        security_paths=security_paths,
    )
