"""Input files are read at most limit + 1 bytes: /dev/zero and oversized files are one-line exit-2 errors."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from acme_ci_budget.config import ConfigError
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.files import (
    MAX_CONFIG_BYTES,
    MAX_DIFF_BYTES,
    MAX_EVENT_BYTES,
    MAX_TICKET_BYTES,
    read_bounded,
)

# A run that read /dev/zero whole would grow without end; this cap turns that into a failure, not a dead box.
_MEMORY_CAP = 1024 * 1024 * 1024


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_CAP, _MEMORY_CAP))


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ACME_BUDGET_CONFIG": "", "ANTHROPIC_API_KEY": "k"}
    return subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=tmp_path,
        timeout=120,
        preexec_fn=_cap_memory,
    )


def _oversized(tmp_path: Path, name: str, limit: int) -> Path:
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(limit + 1)  # sparse: limit + 1 bytes on a few disk blocks
    return path


def _one_line_exit_2(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert result.stderr.strip() == f"Error: {expected}"


CASES = [
    # (command line given the file, limit, message after the path)
    (lambda f: ["qa-testgen", "--ticket-file", f, "--dry-run"], MAX_TICKET_BYTES, "--ticket-file {f}: file"),
    (lambda f: ["review", "--diff-file", f, "--dry-run"], MAX_DIFF_BYTES, "--diff-file {f}: file"),
    (lambda f: ["config", "validate", f], MAX_CONFIG_BYTES, "{f}: config file"),
    (lambda f: ["estimate", "--config", f], MAX_CONFIG_BYTES, "{f}: config file"),
]


@pytest.mark.parametrize(("argv", "limit", "prefix"), CASES, ids=["ticket", "diff", "config-validate", "config"])
@pytest.mark.parametrize("source", ["/dev/zero", "oversized"])
def test_too_big_input_is_refused_after_a_bounded_read(tmp_path, argv, limit, prefix, source):
    path = "/dev/zero" if source == "/dev/zero" else str(_oversized(tmp_path, "big.txt", limit))
    result = _cli(tmp_path, *argv(path))
    _one_line_exit_2(result, prefix.format(f=path) + f" is larger than the {limit:,}-byte limit")


def test_event_payload_is_bounded(tmp_path):
    result = _cli(tmp_path, "review", GITHUB_EVENT_PATH="/dev/zero", GITHUB_ACTIONS="true", REDIS_URL="redis://x:1")
    _one_line_exit_2(
        result, f"GITHUB_EVENT_PATH /dev/zero: event file is larger than the {MAX_EVENT_BYTES:,}-byte limit"
    )


def test_read_bounded_reads_exactly_up_to_the_limit(tmp_path):
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"a" * 10)
    assert read_bounded(exact, 10, "x") == "a" * 10
    with pytest.raises(UsageError, match=r"^x: file is larger than the 9-byte limit$"):
        read_bounded(exact, 9, "x")
    with pytest.raises(ConfigError, match=r"^c: config file not found$"):
        read_bounded(tmp_path / "missing", 10, "c", kind="config file", error=ConfigError)
    with pytest.raises(UsageError, match=r"cannot read file \(IsADirectoryError\)"):
        read_bounded(tmp_path, 10, "d")
    binary = tmp_path / "bin"
    binary.write_bytes(b"ok\xff")
    with pytest.raises(UsageError, match=r"not UTF-8 text \(byte 2\)"):
        read_bounded(binary, 10, "b")


def test_config_text_from_a_branch_is_bounded_too():
    from acme_ci_budget.config import parse_config

    with pytest.raises(ConfigError, match=r"^base:x.yml: config file is larger than the 1,048,576-byte limit$"):
        parse_config("#" * (MAX_CONFIG_BYTES + 1), "base:x.yml")
