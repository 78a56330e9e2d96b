"""Benchmark installing this package the action's way: pip vs uv, cold and warm caches.

    python scripts/bench_install.py [--runs 1] [--uv-version 0.11.12] [--uv PATH]

Each install goes into a fresh virtual environment (not timed) from a fresh copy of this source
tree (new mtimes, as a fresh checkout of the action has, so no tool can reuse a cached build of
the package itself), and only the install command is timed:

- pip cold: ``python -m pip install SRC`` with an empty PIP_CACHE_DIR;
- pip warm: the same, into another fresh environment, with the cache the cold run filled;
- uv cold / warm: ``uv pip install --python VENV/bin/python SRC`` with an empty / the filled
  UV_CACHE_DIR (what the action's setup-uv cache restores).

Both read the same package indexes: pip its own configuration (pip.conf, PIP_* variables), uv the
same index URLs and find-links passed on its command line, with pip's "best version across all
indexes" strategy. uv itself comes from the package index (``pip install uv==VERSION`` into a
private environment) unless --uv names a binary. Network and disk caches of the machine make the
absolute figures vary; both tools run back to back in one run so the ratio is what counts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "dist")


def pip_config() -> dict[str, list[str]]:
    """pip's effective index settings (``pip config list`` plus PIP_* variables), to hand to uv."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    found: dict[str, list[str]] = {"index-url": [], "extra-index-url": [], "find-links": []}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in found:
            found[name] += value.strip().strip("'\"").split()
    for name in found:
        env = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if env:
            found[name] += env.split()
    return {name: list(dict.fromkeys(values)) for name, values in found.items()}


def uv_index_args(config: dict[str, list[str]]) -> list[str]:
    args = ["--index-strategy", "unsafe-best-match"]  # pip picks the best version across all indexes
    for url in config["index-url"][:1]:
        args += ["--index-url", url]
    for url in config["extra-index-url"]:
        if url.startswith("file://") and not Path(url[len("file://"):]).is_dir():
            continue  # pip skips a missing local index with a warning; uv would stop
        args += ["--extra-index-url", url]
    for place in config["find-links"]:
        if "://" in place or Path(place).is_dir():
            args += ["--find-links", place]
    return args


def fresh_source(tmp: Path, tag: str) -> Path:
    src = tmp / f"src-{tag}"
    shutil.copytree(ROOT, src, ignore=SKIP)
    return src


def fresh_venv(tmp: Path, tag: str, with_pip: bool) -> Path:
    venv = tmp / f"venv-{tag}"
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(venv)], check=True)
    return venv / "bin" / "python"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def install_uv(tmp: Path, version: str) -> str:
    tools = tmp / "uv-tool"
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    subprocess.run(
        [str(tools / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={version}"], check=True
    )
    return str(tools / "bin" / "uv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="installs per figure (median printed)")
    parser.add_argument("--uv-version", default="0.11.12", help="the uv the action pins")
    parser.add_argument("--uv", help="an existing uv binary instead of installing --uv-version")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {k: [] for k in ("pip cold", "pip warm", "uv cold", "uv warm")}
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp_name:
        tmp = Path(tmp_name)
        uv = args.uv or install_uv(tmp, args.uv_version)
        uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.strip()
        uv_args = uv_index_args(pip_config())
        for run in range(args.runs):
            pip_env = {**os.environ, "PIP_CACHE_DIR": str(tmp / f"pip-cache-{run}")}
            uv_env = {**os.environ, "UV_CACHE_DIR": str(tmp / f"uv-cache-{run}")}
            for temperature in ("cold", "warm"):
                tag = f"{run}-{temperature}"
                python = fresh_venv(tmp, f"pip-{tag}", with_pip=True)
                cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                figures[f"pip {temperature}"].append(timed([*cmd, str(fresh_source(tmp, f"pip-{tag}"))], pip_env))
                python = fresh_venv(tmp, f"uv-{tag}", with_pip=False)
                cmd = [uv, "pip", "install", "--quiet", "--python", str(python), *uv_args]
                figures[f"uv {temperature}"].append(timed([*cmd, str(fresh_source(tmp, f"uv-{tag}"))], uv_env))
    print(f"install of acme-ci-budget into a fresh venv, {args.runs} run(s) each, Python {sys.version.split()[0]}, "
          f"{uv_version}")
    for name, values in figures.items():
        print(f"{name:<9} {statistics.median(values):6.1f} s")
    print(f"cold: uv takes {statistics.median(figures['uv cold']) / statistics.median(figures['pip cold']):.0%} "
          f"of pip's time; warm: {statistics.median(figures['uv warm']) / statistics.median(figures['pip warm']):.0%}")


if __name__ == "__main__":
    main()
