"""Tests for acme_ci_budget.diffs.policy: globs, exclusions, the size cap, security paths."""

from __future__ import annotations

import pytest

from acme_ci_budget.diffs.change import DiffError, FileChange
from acme_ci_budget.diffs.policy import (
    REASON_BINARY,
    REASON_EXCLUDED,
    REASON_GENERATED,
    REASON_LOCK,
    REASON_NO_PATCH,
    REASON_SIZE,
    DiffPolicy,
    glob_regex,
    path_matches,
)
from tests.diffs.samples import added_file


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("package-lock.json", "package-lock.json", True),
        ("web/app/package-lock.json", "package-lock.json", True),  # no slash: any depth
        ("vendor/a/b.go", "vendor/**", True),
        ("src/vendor/a.go", "vendor/**", False),  # a slash anchors at the root
        ("src/vendor/a.go", "**/vendor/**", True),
        ("vendor.go", "**/vendor/**", False),
        ("a/b/c/d.py", "a/**/d.py", True),
        ("a/d.py", "a/**/d.py", True),  # ** is zero or more directories
        ("src/x.py", "*.py", True),
        ("src/x.py", "src/*.py", True),
        ("src/sub/x.py", "src/*.py", False),  # * stays within a segment
        ("docs/x.md", "docs/", True),  # trailing slash: everything below
        ("src/author.py", "**/auth/**", False),
        ("src/author.py", "auth.*", False),  # no substring matching
        ("f1.txt", "f[0-9].txt", True),
        ("fa.txt", "f[!0-9].txt", True),
        ("f1.txt", "f[!0-9].txt", False),
        ("a.txt", "?.txt", True),
        ("ab.txt", "?.txt", False),
        ("x[1.txt", "x[1.txt", True),  # an unclosed bracket is literal
        ("/abs.py", "/abs.py", False),
        ("abs.py", "/abs.py", True),
    ],
)
def test_glob_semantics(path: str, pattern: str, expected: bool) -> None:
    assert path_matches(path, [pattern]) is expected


def test_glob_rejects_empty_pattern() -> None:
    with pytest.raises(DiffError, match="empty glob"):
        glob_regex("")


@pytest.mark.parametrize(
    "path",
    ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Pipfile.lock", "uv.lock", "Cargo.lock",
     "go.sum", "composer.lock", "Gemfile.lock", "services/api/poetry.lock"],
)
def test_lock_files_are_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) == REASON_LOCK


@pytest.mark.parametrize(
    "path",
    ["vendor/github.com/x/y.go", "web/node_modules/left-pad/index.js", "dist/app.js", "packages/ui/dist/i.js",
     "build/out.js", "static/app.min.js", "static/site.min.css", "proto/api_pb2.py", "api/v1/api.pb.go",
     "src/schema.generated.ts", "src/__snapshots__/App.test.tsx.snap"],
)
def test_generated_and_vendored_files_are_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) == REASON_GENERATED


@pytest.mark.parametrize("path", ["src/builder.py", "src/build/steps.py", "lib/distance.js", "api/pb.go"])
def test_ordinary_source_is_not_excluded(path: str) -> None:
    assert DiffPolicy().exclusion_reason(added_file(path, 3)) is None


def test_binary_rules() -> None:
    policy = DiffPolicy()
    assert policy.exclusion_reason(FileChange("img/logo.png", "modified", 0, 0, None)) == REASON_BINARY
    assert policy.exclusion_reason(FileChange("data/blob", "added", 0, 0, None)) == REASON_BINARY
    # a binary extension is left out even if something produced a text patch for it
    assert policy.exclusion_reason(added_file("assets/Font.WOFF2", 2)) == REASON_BINARY
    # GitHub omits the patch of a text file too large to show: not a binary, still not sendable
    assert policy.exclusion_reason(FileChange("db/dump.sql", "modified", 9000, 10, None)) == REASON_NO_PATCH
    # a pure rename has no patch and needs none
    assert policy.exclusion_reason(FileChange("b.py", "renamed", 0, 0, None, previous_path="a.py")) is None


def test_size_cap_counts_utf8_bytes() -> None:
    policy = DiffPolicy(max_file_bytes=100)
    ascii_ok = FileChange("a.py", "added", 1, 0, "@@ -0,0 +1 @@\n+" + "a" * 60)
    wide = FileChange("b.py", "added", 1, 0, "@@ -0,0 +1 @@\n+" + "é" * 60)  # 60 chars, 120 bytes
    assert policy.exclusion_reason(ascii_ok) is None
    assert policy.exclusion_reason(wide) == REASON_SIZE
    assert DiffPolicy(max_file_bytes=None).exclusion_reason(wide) is None


def test_user_exclude_and_include_wins() -> None:
    policy = DiffPolicy(exclude=["migrations/**", "*.sql"], include=["migrations/important/**", "yarn.lock"])
    assert policy.exclusion_reason(added_file("migrations/0001_init.py", 2)) == REASON_EXCLUDED
    assert policy.exclusion_reason(added_file("db/seed.sql", 2)) == REASON_EXCLUDED
    assert policy.exclusion_reason(added_file("migrations/important/0002.py", 2)) is None
    assert policy.exclusion_reason(added_file("yarn.lock", 2)) is None  # include beats the lock rule
    # include cannot create a patch for a binary, and does not lift the size cap
    only_images = DiffPolicy(include=["*.png"], max_file_bytes=50)
    assert only_images.exclusion_reason(FileChange("a.png", "added", 0, 0, None)) == REASON_BINARY
    big = DiffPolicy(include=["big.py"], max_file_bytes=50)
    assert big.exclusion_reason(added_file("big.py", 10)) == REASON_SIZE


def test_policy_validation() -> None:
    assert DiffPolicy(exclude=["a", "b"]).exclude == ("a", "b")
    with pytest.raises(DiffError, match=r"DiffPolicy\.exclude must be a list of strings"):
        DiffPolicy(exclude="*.lock")  # type: ignore[arg-type]
    with pytest.raises(DiffError, match=r"DiffPolicy\.include: empty"):
        DiffPolicy(include=[""])
    with pytest.raises(DiffError, match="max_file_bytes"):
        DiffPolicy(max_file_bytes=0)


@pytest.mark.parametrize(
    ("path", "previous", "expected"),
    [
        ("src/auth/login.py", None, True),
        ("services/api/security/csrf.py", None, True),
        ("deploy/server.pem", None, True),
        ("Dockerfile", None, True),
        ("docker/Dockerfile.prod", None, True),
        (".github/workflows/release.yml", None, True),
        ("src/users/profile.py", "src/auth/profile.py", True),  # moved out of auth/
        ("src/author.py", None, False),
        ("docs/designated.md", None, False),
        ("src/authority/list.py", None, False),
    ],
)
def test_security_paths(path: str, previous: str | None, expected: bool) -> None:
    status = "renamed" if previous else "modified"
    fc = FileChange(path, status, 1, 0, "@@ -1 +1,2 @@\n x\n+y", previous_path=previous)
    assert DiffPolicy().is_security(fc) is expected

