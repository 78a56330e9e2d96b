"""The dependency floors tell the truth: pyproject's lower bounds, constraints/lowest.txt and CI agree.

Whether the suite passes on the floors is what scripts/check_floors.sh and CI's "floors" job run
(installing from the package index, so not here); these checks keep the three places from drifting.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9][0-9A-Za-z.]*)", dep.replace(" ", ""))
        assert match, f"dependency {dep!r} has no plain >= floor"
        out[match.group(1).lower()] = match.group(2)
    return out


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints" / "lowest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _norm(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_every_dependency_floor_is_pinned_in_the_lowest_constraints() -> None:
    floors, pins = _floors(), _pins()
    assert set(pins) == set(floors)
    for name, floor in floors.items():
        assert _norm(pins[name]) == _norm(floor), f"{name}: pyproject says >={floor}, lowest.txt pins {pins[name]}"


def test_the_floors_known_to_matter_are_not_lowered() -> None:
    floors = {name: _norm(v) for name, v in _floors().items()}
    assert floors["anthropic"] >= (0, 87)  # APIStatusError.type
    assert floors["pygithub"] >= (2, 4)  # IssueComment.minimize (hide-and-new)
    assert floors["genai-prices"] >= (0, 1, 10)  # the first snapshot with the claude-*-5-5 prices


def test_ci_runs_the_suite_on_the_floors() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["floors"]
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version"] == "3.11"  # requires-python's lowest
    assert any("scripts/check_floors.sh" in s.get("run", "") for s in job["steps"])
    script = (ROOT / "scripts" / "check_floors.sh").read_text()
    assert "--constraint constraints/lowest.txt" in script and "pytest" in script
