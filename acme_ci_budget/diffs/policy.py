"""The diff policy: what the review never sees, what is security-sensitive, and how files rank.

Owns the built-in globs (lock files, generated and vendored files, binaries, security paths, tests,
docs), the user's ``exclude``/``include`` on top of them, the per-file size cap, the step-1
exclusion reasons and the priority classes the clipper ranks by. It must not clip, render or parse
(``clip``, ``render``, ``parse`` do), and it matches paths only through ``core.globs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from acme_ci_budget.core import globs as _globs
from acme_ci_budget.diffs.change import DiffError, FileChange

REASON_LOCK = "lock file"
REASON_GENERATED = "generated or vendored"
REASON_EXCLUDED = "excluded by pattern"
REASON_BINARY = "binary"
# GitHub leaves out the patch of a text file whose diff is too large to show.
REASON_NO_PATCH = "no patch available"
REASON_SIZE = "over size cap"

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


def glob_regex(pattern: str) -> str:
    """``core.globs.glob_regex``, raising ``DiffError`` (diff policy input) for an empty pattern."""
    try:
        return _globs.glob_regex(pattern)
    except _globs.GlobError as exc:
        raise DiffError(str(exc)) from None


_compiled = _globs.compiled
path_matches = _globs.path_matches

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

