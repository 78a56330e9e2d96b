"""Rendering the report: every format, the self-contained HTML dashboard, escaping, the SVG charts,
and posting Markdown to Slack split to fit its limits (with ``responses``)."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_ci_budget.integrations.slack import (
    SECTION_LIMIT,
    SlackPostError,
    actions_run_url,
    build_messages,
    post_markdown,
    split_mrkdwn,
)
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report import charts
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import md_escape, render, render_html, render_markdown, render_text
from tests.report.test_monthly import HAIKU, NY, PRICES, SONNET, Clock, seed_known_month

EVIL = '<script>alert("x")</script> & *Co*'


@pytest.fixture
def config(make_config):
    return make_config({"pricing": PRICES}, namespace="rnd")


@pytest.fixture
def report(config, redis_url):
    clock = Clock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    seed_known_month(e, clock)
    clock.at(datetime(2026, 11, 10, 10, 0, tzinfo=NY))
    return build_report(config, e.redis, "current", clock)


@pytest.fixture
def empty_report(config, redis_client):
    return build_report(config, redis_client, "2026-10", lambda: datetime(2026, 11, 1, 12, tzinfo=UTC))


@pytest.fixture
def evil_report(make_config, redis_url):
    """A workflow label that is HTML, Markdown and Slack syntax at once, with some spend and a block."""
    config = make_config({"pricing": PRICES, "workflows": {"pm_assistant": {"label": EVIL}}}, namespace="evil")
    clock = Clock(datetime(2026, 11, 10, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    e.settle(e.reserve("pm_assistant", HAIKU, 1000, 500, session_id="a"), 1000, 200)
    return build_report(config, e.redis, "current", clock)


# --- every format -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
@pytest.mark.parametrize("which", ["report", "empty_report"])
def test_every_format_renders(fmt, which, request):
    rep = request.getfixturevalue(which)
    out = render(rep, fmt)
    assert out.strip()
    if fmt == "json":
        assert json.loads(out)["month"] == rep.month
    else:
        assert rep.title_month.upper() in out.upper()
    if which == "empty_report" and fmt != "json":
        assert f"No activity in {rep.title_month}" in out  # one empty state (issue 15 item 8)


def test_text_follows_the_labs_layout_with_health_tags(report):
    text = render_text(report)
    assert "ORGANISATION" in text and "OPTIMIZATION OPPORTUNITIES" in text
    assert "Spend:      $0.06 of $800.00 (0.0% used)" in text
    assert "[OK]   CI/CD code review (ci_cd_review)" in text
    assert "Monthly: $0.01 / $200.00 (0.0%)   Today: $0.01 / $7.00 (0.1%)" in text
    assert "Blocked: 1 (loop steps 1)" in text
    assert "Cache hit rate: 28.6%" in text
    assert "Forecast:   $0.17 by month end" in text
    assert re.search(r"CI/CD code review\s+\$1\.\d\d\s+\$0\.\d\d\s+\$0\.01\s+[-+][\d,.]+%", text)
    # the lab's monthly hours, day 10 of 30: only the engineer's workflows ran, 180 h x $90 x 10/30 = $5,400
    assert f"(net {(5400 - 0.0566) / 0.0566 * 100:,.0f}%)" in text  # one rounding: whole percent


def test_text_shows_warn_and_crit(make_config, redis_url):
    config = make_config(
        {
            "pricing": PRICES,
            "workflows": {
                "pm_assistant": {"monthly_usd": 0.01, "daily_usd": 0.01},
                # WARN needs headroom: with less than one worst-case call ($0.17) left a period is CRIT.
                "qa_test_gen": {"monthly_usd": 10, "daily_usd": 10},
            },
        },
        namespace="hl",
    )
    clock = Clock(datetime(2026, 11, 10, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    e.settle(e.reserve("pm_assistant", HAIKU, 1000, 1000), 1000, 2000)  # 110%
    e.settle(e.reserve("qa_test_gen", SONNET, 500, 466), 500, 565_900)  # $8.49: 84.9%
    text = render_text(build_report(config, e.redis, "current", clock))
    assert "[CRIT] PM requirements drafting" in text and "[WARN] QA test generation" in text


def test_markdown_flavours(report):
    github = render_markdown(report)
    assert "## AI budget and ROI report: November 2026" in github
    assert "| 🟢 OK | CI/CD code review | $0.01 / $200.00 |" in github
    assert "### Estimate vs actual" in github and "### ROI" in github
    slack = render_markdown(report, "slack", artifact_url="https://github.com/a/b/actions/runs/1")
    assert slack.startswith("*AI budget and ROI report: November 2026*")
    assert "|---" not in slack and "**" not in slack
    assert not any(line.startswith("#") for line in slack.splitlines())
    assert "🟢 *CI/CD code review* [OK]" in slack
    assert "<https://github.com/a/b/actions/runs/1|workflow run artifacts>" in slack
    with pytest.raises(ValueError, match="flavor"):
        render_markdown(report, "confluence")


def test_missing_roi_section_is_simply_not_shown(report):
    no_roi = type(report)(**{**report.__dict__, "roi": None})
    assert "\nROI: " not in render_text(no_roi) and "the spend (value / AI spend); basis: fixed monthly hours" in render_text(report)
    assert "### ROI" not in render_markdown(no_roi) and "*ROI*" not in render_markdown(no_roi, "slack")
    html = render_html(no_roi)
    assert "Return on investment" not in html and "ROI multiple" not in html
    assert "Return on investment" in render_html(report)


def test_config_text_is_escaped_in_every_format(evil_report):
    html = render_html(evil_report)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; *Co*" in html
    github = render_markdown(evil_report)
    assert "<script>" not in github and r"&lt;script&gt;alert(\"x\")" not in github
    assert r"&lt;script&gt;alert(" in github and r"\*Co\*" in github
    slack = render_markdown(evil_report, "slack")
    assert "<script>" not in slack and "&lt;script&gt;" in slack and "&amp; *Co*" in slack
    assert EVIL in render_text(evil_report)  # plain text shows it as written
    assert json.loads(render(evil_report, "json"))["workflows"]["pm_assistant"]["label"] == EVIL


def test_md_escape_neutralises_markup():
    assert md_escape("a|b *c* _d_ `e` [f](g) <h> & i") == r"a\|b \*c\* \_d\_ \`e\` \[f\](g) &lt;h&gt; &amp; i"


# --- the HTML dashboard is self-contained -------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "srcset", "poster", "data", "background", "ping"}


@pytest.mark.parametrize("which", ["report", "empty_report"])
def test_html_has_no_external_references(which, request):
    html = render_html(request.getfixturevalue(which))
    parser = _Collector()
    parser.feed(html)
    names = [tag for tag, _ in parser.tags]
    for banned in ("script", "link", "img", "iframe", "object", "embed", "base", "image", "use", "foreignobject"):
        assert banned not in names, banned
    for tag, attrs in parser.tags:
        assert not URL_ATTRS & set(attrs), (tag, attrs)
        assert not (tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh")
        assert "url(" not in attrs.get("style", "")
    css = "".join(parser.styles)
    assert css and "url(" not in css and "@import" not in css and "@font-face" not in css
    assert not re.search(r"(?i)\b(?:https?|ftp|wss?):|//[a-z0-9.-]+\.[a-z]", html)


def test_html_is_responsive_and_accessible(report):
    html = render_html(report)
    parser = _Collector()
    parser.feed(html)
    tags = parser.tags
    assert ("html", {"lang": "en"}) in tags
    assert any(t == "meta" and a.get("name") == "viewport" and "width=device-width" in a["content"] for t, a in tags)
    css = "".join(parser.styles)
    assert "@media (max-width: 640px)" in css and "grid-template-columns" in css
    svgs = [a for t, a in tags if t == "svg"]
    # org meter, org daily bars, org cumulative, spend by workflow, model mix, four workflows x (cumulative,
    # daily bars), ROI
    assert len(svgs) == 14
    ids = {a.get("id") for t, a in tags if t in ("title", "desc")}
    for svg in svgs:
        assert svg["role"] == "img" and "viewbox" in svg
        assert set(svg["aria-labelledby"].split()) <= ids
    assert html.count("<title id=") == 14 and html.count("<desc id=") == 14
    assert "CI/CD code review: $0.01 spent by day 10 of 30 against a $200.00 monthly budget" in html


# --- charts -------------------------------------------------------------------------------------


def test_nice_ticks_cover_the_maximum_with_round_steps():
    for top in (1, 999, 10**9, 7_300_000_000, 800 * 10**9, 12_345_678_901):
        ticks = charts.nice_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 6
        steps = {b - a for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1
    assert charts.nice_ticks(0) == [0, 10**9]


def test_cumulative_chart_draws_spend_budget_and_forecast():
    svg = charts.cumulative_chart("c1", "Dev <tools>", [10**9, 0, 2 * 10**9], 30, 10 * 10**9, 3, 30 * 10**9)
    assert svg.startswith("<svg") and "xmlns" not in svg and "http" not in svg
    assert '<title id="c1-t">Cumulative spend: Dev &lt;tools&gt;</title>' in svg
    assert "$3.00 spent by day 3 of 30 against a $10.00 monthly budget; forecast $30.00" in svg
    assert "Budget $10" in svg and 'stroke-dasharray="5 4"' in svg  # budget line, dashed forecast
    empty = charts.cumulative_chart("c2", "Idle", [0] * 30, 30, 0, 0)
    assert "<polyline" not in empty and "(no budget)" in empty


def test_bars_show_shares_and_limits():
    colors = charts.model_colors(["m1", "m2"])
    svg = charts.share_bars("s", "Mix", [("All", [("m1", 3), ("m2", 1)]), ("Idle", [])], colors)
    assert "All: m1 75%, m2 25%" in svg and "Idle: no spend" in svg
    assert colors == {"m1": charts.PALETTE[0], "m2": charts.PALETTE[1]}
    bars = charts.spend_bars("b", "Spend", [("CI", 5 * 10**9, 10 * 10**9, "WARN")])
    assert "$5.00 of $10.00 (50%)" in bars and charts.HEALTH_COLORS["WARN"] in bars
    meter = charts.meter("m", "Org", 140.0, [(80.0, "reserve")])
    assert 'width="400"' in meter and "140.0% used (reserve at 80%)" in meter


# --- Slack --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="abc xyz*_", min_size=0, max_size=400),
            st.just("```"),
            st.just(""),
            st.text(alphabet="q", min_size=3000, max_size=7000),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_split_fits_slack_keeps_every_word_and_balances_fences(lines):
    text = "\n".join(lines)
    chunks = split_mrkdwn(text)
    assert all(len(c) <= SECTION_LIMIT for c in chunks)
    assert all(sum(1 for ln in c.split("\n") if ln.strip().startswith("```")) % 2 == 0 for c in chunks)
    words = [w for w in re.split(r"\s+", text) if w and w != "```"]
    got = [w for c in chunks for w in re.split(r"\s+", c) if w and w != "```"]
    assert "".join(got) == "".join(words)  # long runs may be cut, nothing lost or reordered


def test_split_prefers_paragraph_boundaries():
    paragraphs = [f"para {i} " + "word " * 200 for i in range(10)]  # ~1,000 characters each
    chunks = split_mrkdwn("\n\n".join(p.strip() for p in paragraphs))
    assert chunks == [f"{paragraphs[i].strip()}\n\n{paragraphs[i + 1].strip()}" for i in range(0, 10, 2)]


def test_messages_stay_under_the_block_limit():
    text = "\n\n".join("x" * 2900 for _ in range(85))
    messages = build_messages(text, footer="see the run")
    assert [len(m["blocks"]) for m in messages] == [40, 40, 6]
    assert messages[0]["text"].endswith("(part 1 of 3)")
    assert messages[-1]["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "see the run"}]}


HOOK = "https://hooks.slack.com/services/T1/B1/very-secret"


@responses.activate
def test_post_sends_every_part_and_retries_a_429_once():
    responses.add(responses.POST, HOOK, status=429, headers={"Retry-After": "2"}, body="rate_limited")
    responses.add(responses.POST, HOOK, status=200, body="ok")
    responses.add(responses.POST, HOOK, status=200, body="ok")
    slept = []
    text = "\n\n".join("y" * 2900 for _ in range(45))
    assert post_markdown(HOOK, text, sleep=slept.append) == 2
    assert slept == [2.0] and len(responses.calls) == 3
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert bodies[0] == bodies[1] and len(bodies[2]["blocks"]) == 5


@responses.activate
def test_post_errors_never_show_the_webhook():
    responses.add(responses.POST, HOOK, status=404, body="no_service")
    with pytest.raises(SlackPostError) as info:
        post_markdown(HOOK, "hello")
    assert "HTTP 404 (no_service)" in str(info.value) and "very-secret" not in str(info.value)
    responses.replace(responses.POST, HOOK, body=requests.ConnectionError(f"cannot connect to {HOOK}"))
    with pytest.raises(SlackPostError) as info:
        post_markdown(HOOK, "hello")
    assert "ConnectionError" in str(info.value) and "very-secret" not in str(info.value)
    with pytest.raises(SlackPostError, match="no Slack webhook"):
        post_markdown("", "hello")


def test_actions_run_url():
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://ghe.acme.example/",
        "GITHUB_REPOSITORY": "a/b",
        "GITHUB_RUN_ID": "9",
    }
    assert actions_run_url(env) == "https://ghe.acme.example/a/b/actions/runs/9"
    assert actions_run_url({**env, "GITHUB_ACTIONS": "false"}) is None
    assert actions_run_url({k: v for k, v in env.items() if k != "GITHUB_RUN_ID"}) is None
