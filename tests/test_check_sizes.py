"""scripts/check_sizes.py: modules over 400 lines and classes over 250 are listed, and the exit code says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_sizes.py"


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args, str(root)], capture_output=True, text=True)


def test_a_long_module_and_a_long_class_are_listed_with_their_sizes(tmp_path):
    package = tmp_path / "acme_ci_budget" / "sub"
    package.mkdir(parents=True)
    (package / "long.py").write_text("x = 1\n" * 401)
    body = "".join(f"    a{i} = {i}\n" for i in range(249))
    (package / "classes.py").write_text(f"@decorator\nclass Big:\n{body}\n\nclass Small:\n    pass\n")
    out = _run(tmp_path)
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "acme_ci_budget/sub/classes.py:1: class Big (251 lines > 250)",
        "acme_ci_budget/sub/long.py:1: module (401 lines > 400)",
    ]
    assert "2 over the size limits" in out.stderr


def test_at_the_limits_is_fine_and_the_limits_can_be_set(tmp_path):
    package = tmp_path / "acme_ci_budget"
    package.mkdir()
    (package / "edge.py").write_text("x = 1\n" * 400)
    assert _run(tmp_path).returncode == 0
    out = _run(tmp_path, "--max-module", "399")
    assert out.returncode == 1 and "edge.py:1: module (400 lines > 399)" in out.stdout


def test_no_module_is_excused(tmp_path):
    # simulate/replay.py and report/monthly.py were excused while being split (issue 18); no longer
    for rel in ("simulate/replay.py", "report/monthly.py", "report/other.py"):
        path = tmp_path / "acme_ci_budget" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * 500)
    out = _run(tmp_path)
    assert out.stdout.splitlines() == [
        "acme_ci_budget/report/monthly.py:1: module (500 lines > 400)",
        "acme_ci_budget/report/other.py:1: module (500 lines > 400)",
        "acme_ci_budget/simulate/replay.py:1: module (500 lines > 400)",
    ]


def test_the_package_is_within_its_sizes():
    out = _run(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
