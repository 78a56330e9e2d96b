"""Loopback fakes of the outside services the tests must never call for real.

Owns the fake Anthropic Messages API (anthropic_server), the fake Admin API's usage and cost reports
(anthropic_admin, driven by the real ``requests`` client) and the fake GitHub REST/GraphQL API
(github_server), each on 127.0.0.1 through the one server lifecycle in loopback and driven by the
REAL client (anthropic SDK, PyGithub), and the alert receivers behind ``responses`` for the real
``requests`` stack: a Slack incoming webhook (slack_webhook) and the PagerDuty Events API v2
(pagerduty_events), each answering with the status codes and bodies its service documents. Must not
contain product logic, and must never forward a request to the network.
"""

from tests.fakes.anthropic_admin import FakeAdminAPI
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.github_server import FakeGitHubServer
from tests.fakes.pagerduty_events import FakePagerDutyEvents
from tests.fakes.slack_webhook import FakeSlackWebhook

__all__ = ["FakeAdminAPI", "FakeAnthropicServer", "FakeGitHubServer", "FakePagerDutyEvents", "FakeSlackWebhook"]
