"""core.templating: the one Jinja environment the report, the prompts, the review comment and the Slack alert share."""

from __future__ import annotations

import pytest

from acme_ci_budget.core import templating
from acme_ci_budget.integrations.slack import slack_escape


def test_every_layer_renders_through_the_one_environment():
    from acme_ci_budget.alerts.manager import slack_payload  # noqa: F401  (binds the alerts' filter)
    from acme_ci_budget.report import render
    from acme_ci_budget.workflows import REVIEW_COMMENT, PromptTemplates

    env = templating.environment()
    assert render.environment() is env
    assert PromptTemplates()._template(REVIEW_COMMENT).environment is env
    # an override (a repository's template) compiles in the same sandboxed environment
    override = PromptTemplates({REVIEW_COMMENT: "{{ 1 + 1 }}"})
    assert override._template(REVIEW_COMMENT).environment is env
    assert type(env).__name__ == "SandboxedEnvironment"


def test_the_slack_alert_template_escapes_with_the_one_slack_escape():
    from acme_ci_budget.alerts.manager import Alert, slack_payload

    alert = Alert(
        level="WARNING", condition="daily_warn", workflow_id="<!here> & co", period="2026-11-10", message="a <b> & c"
    )
    payload = slack_payload(alert)
    assert templating.environment().filters["slack_escape"] is slack_escape
    assert payload["text"] == "WARNING: a &lt;b&gt; &amp; c"
    assert payload["blocks"][2]["fields"][0]["text"] == "*Workflow*\n&lt;!here&gt; &amp; co"


def test_a_filter_name_means_one_function():
    templating.environment(filters={"acb_test_filter": str.upper})
    assert templating.environment(filters={"acb_test_filter": str.upper}).filters["acb_test_filter"] is str.upper
    with pytest.raises(ValueError, match="acb_test_filter"):
        templating.environment(filters={"acb_test_filter": str.lower})
    with pytest.raises(ValueError, match="'json'"):
        templating.environment(filters={"json": repr})


def test_html_templates_only_are_autoescaped():
    env = templating.environment()
    assert env.from_string("{{ v }}").render(v="<b>") == "<b>"
    assert env.autoescape("report.html.j2") and not env.autoescape("report.md.j2")
    assert not env.autoescape("slack_alert.json.j2")


def test_the_report_markdown_escapes_with_the_slack_rule_plus_markdown_specials():
    from acme_ci_budget.report.render import md_escape

    assert md_escape("a|b *c* <h> & i") == r"a\|b \*c\* " + slack_escape("<h> & i")
