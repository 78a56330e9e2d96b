"""The HTML dashboard in a real headless Chromium: it renders offline, draws every chart, fits a phone.

Uses scripts/screenshot_dashboard.py (the same seeding, rendering and Chromium calls as the
script a person runs), so the script is exercised too. Skips, saying why, where no Chromium is
installed (Debian/Ubuntu: ``apt-get install chromium``; CI installs it).
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from html import escape, unescape
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_dashboard.py"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Runs in the page (a test-only copy): measures layout after Chromium has laid the page out and
# reports to the enclosing page. Headless Chromium will not make a window narrower than 500 px, so
# the page is laid out inside an iframe of the width under test instead.
PROBE = """<script>
(function () {
  var d = document.documentElement, w = d.clientWidth;
  var svgs = Array.prototype.slice.call(document.querySelectorAll("svg"));
  var drawn = svgs.filter(function (s) { var r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
  var wide = Array.prototype.slice.call(document.querySelectorAll("main *")).filter(function (e) {
    return !e.closest(".table-wrap") && e.getBoundingClientRect().right > w + 1;
  });
  parent.document.getElementById("probe").textContent = JSON.stringify({client: w, scroll: d.scrollWidth,
    svgs: svgs.length, drawn: drawn.length,
    wide: wide.slice(0, 5).map(function (e) { return e.tagName + "." + e.className; })});
})();
</script>"""
FRAME = (
    '<!doctype html><html><body style="margin:0"><iframe title="dashboard" style="border:0" width="{width}" '
    'height="900" srcdoc="{page}"></iframe><pre id="probe">not run</pre></body></html>'
)


def _load_script():
    spec = importlib.util.spec_from_file_location("screenshot_dashboard", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shot():
    return _load_script()


@pytest.fixture
def chromium(shot):
    found = shot.find_chromium()
    if found is None:
        pytest.skip("no headless Chromium on PATH (apt-get install chromium) to render the dashboard in")
    return found


@pytest.fixture
def dashboard(shot, default_config, redis_client, tmp_path):
    report = shot.build_demo_report(default_config, redis_client)
    return shot.write_dashboard(report, tmp_path / "out"), report


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_screenshots_at_laptop_and_phone_width(shot, chromium, dashboard):
    html, _ = dashboard
    pngs = shot.screenshots(html, html.parent, chromium)
    assert [p.name for p in pngs] == ["dashboard-1280.png", "dashboard-390.png"]
    for png, (width, height) in zip(pngs, shot.WIDTHS.values(), strict=True):
        assert _png_size(png) == (width, height)
        # A blank or error page compresses to a few KB; charts, text and colour do not.
        assert png.stat().st_size > 40_000, f"{png.name} is only {png.stat().st_size} bytes"


@pytest.mark.parametrize("width", [1280, 390])
def test_layout_draws_every_chart_and_never_scrolls_sideways(shot, chromium, dashboard, width):
    html, report = dashboard
    page = html.read_text().replace("</body>", PROBE + "</body>")
    probe = html.with_name(f"probe-{width}.html")
    probe.write_text(FRAME.format(width=width, page=escape(page, quote=True)), encoding="utf-8")
    dom = shot.dump_dom(probe, width + 40, 1000, chromium)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "not run", "the page did not finish rendering in Chromium"
    result = json.loads(unescape(found.group(1)))
    # meter, daily bars, cumulative, spend and model mix; per workflow its cumulative and daily charts; ROI
    expected_svgs = 5 + 2 * len(report.workflows) + (1 if report.roi else 0)
    assert result["svgs"] == result["drawn"] == expected_svgs
    assert result["client"] == width
    assert result["scroll"] <= width, f"page is {result['scroll']}px wide at {width}px: {result['wide']}"
    assert result["wide"] == []


@pytest.mark.parametrize("width", [1280, 390])
def test_an_empty_month_is_one_empty_state_that_fits(shot, chromium, default_config, redis_client, tmp_path, width):
    from datetime import UTC, datetime

    from acme_ci_budget.report.monthly import build_report

    report = build_report(default_config, redis_client, "2026-10", lambda: datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert report.is_empty
    html = shot.write_dashboard(report, tmp_path / "empty")
    page = html.read_text().replace("</body>", PROBE + "</body>")
    probe = html.with_name(f"probe-{width}.html")
    probe.write_text(FRAME.format(width=width, page=escape(page, quote=True)), encoding="utf-8")
    dom = shot.dump_dom(probe, width + 40, 1000, chromium)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "not run"
    result = json.loads(unescape(found.group(1)))
    assert result["svgs"] == 0  # no page of zero charts
    assert result["scroll"] <= width and result["wide"] == []
    assert html.read_text().count("No activity in October 2026") == 1
