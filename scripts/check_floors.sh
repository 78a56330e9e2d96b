#!/usr/bin/env bash
# Run the test suite on the dependency floors: a throwaway virtualenv with every direct dependency at
# the lowest release pyproject.toml allows (constraints/lowest.txt), the test tools at their latest.
#
#   scripts/check_floors.sh                  # the whole suite except the browser test
#   scripts/check_floors.sh tests/integrations/test_github.py -x   # or any pytest arguments
#
# Needs Python 3.11 (the lowest Python the project supports; PYTHON=python3.12 to try another) and
# the package index. The virtualenv is removed afterwards unless KEEP_VENV=1.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3.11}"
venv="$(mktemp -d "${TMPDIR:-/tmp}/acb-floors.XXXXXX")"
cleanup() { if [ "${KEEP_VENV:-0}" != 1 ]; then rm -rf "$venv"; else echo "kept $venv"; fi; }
trap cleanup EXIT

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet --constraint constraints/lowest.txt -e '.[test]'

# Show what was installed, so a floor that the resolver could not honour is visible at once.
echo "floors installed:"
"$venv/bin/python" - <<'PY'
import re
from importlib.metadata import version

for line in open("constraints/lowest.txt"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, pinned = re.split(r"==", line, maxsplit=1)
    got = version(name)
    print(f"  {name:<14} {got}" + ("" if got == pinned else f"  (NOT the floor {pinned})"))
    if got != pinned:
        raise SystemExit(f"{name}: installed {got}, floor is {pinned}")
PY

if [ "$#" -eq 0 ]; then
  set -- -m "not browser"
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
