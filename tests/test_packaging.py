"""The wheel the action installs (`pip install "$ACTION_PATH"`) carries everything the code reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_templates_lua_scripts_and_the_default_config(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("acme_ci_budget-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for lua in ("reserve.lua", "settle.lua", "release.lua", "_purge.lua", "claim_cas.lua", "reset.lua", "adjust.lua",
                "reserve_run.lua", "settle_run.lua"):
        assert f"acme_ci_budget/ledger/lua/{lua}" in names
    templates = {p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert templates, "templates/ is empty"
    assert {f"acme_ci_budget/templates/{t}" for t in templates} <= names
    assert "acme_ci_budget/default_config.yml" in names
    packaged = zipfile.ZipFile(wheel).read("acme_ci_budget/default_config.yml").decode()
    assert packaged == (ROOT / ".github" / "acme-budget.yml").read_text()
    assert "acme_ci_budget/catalog/model_lifecycle.json" in names  # catalog/lifecycle.py reads it at run time
    assert any(n.endswith("entry_points.txt") for n in names)


def test_sdist_ships_the_examples_and_the_default_config(tmp_path):
    import tarfile

    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (sdist,) = tmp_path.glob("acme_ci_budget-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        example = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("examples/acme-lab-2024.yml")))
        assert example.read().decode() == (ROOT / "examples" / "acme-lab-2024.yml").read_text()
    assert {"examples/acme-lab-2024.yml", ".github/acme-budget.yml", "README.md"} <= names
    assert "examples/acme-lab-2024.yml" in (ROOT / "README.md").read_text()
