"""The outside alert channels, one parametrised row each: a new channel in ``alerts.channels.CHANNELS``
needs its fake service row in SERVICES below (tests/fakes, answering as the service documents) and
then runs every test here: its rollout stage, its secret, its trigger (and resolve) accepted by the
service, once per period, and no secret in any log line or result.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from acme_ci_budget.alerts.alert import CRITICAL, LEVELS, RANK
from acme_ci_budget.alerts.channels import BY_NAME, CHANNELS, PAGERDUTY_EVENTS_URL, channels_for
from acme_ci_budget.alerts.manager import AlertManager
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.clock import Clock
from tests.fakes.pagerduty_events import FakePagerDutyEvents
from tests.fakes.slack_webhook import FakeSlackWebhook

MODEL = "acb-test-model"
SLACK_URL = "https://hooks.slack.com/services/T0ACME/B0BUDGET/chAnnElT3stS3cr3tT0ken"
PD_KEY = "CHANNELTESTR0UTINGKEYR0UTINGKEY4"  # PagerDuty wants 32 characters
SECRETS = {"slack_webhook_url": SLACK_URL, "pagerduty_routing_key": PD_KEY}

# channel -> (the fake service on a RequestsMock, what it accepted, what is open there after a resolve)
SERVICES = {
    "slack": (lambda mock: FakeSlackWebhook(mock, SLACK_URL), lambda fake: fake.messages, None),
    "pagerduty": (
        lambda mock: FakePagerDutyEvents(mock, PAGERDUTY_EVENTS_URL),
        lambda fake: fake.events,
        lambda fake, dedup_key: fake.is_open(dedup_key),
    ),
}
rows = pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)


def settings(channel, min_level: str = "CRITICAL", **extra) -> dict:
    """Only ``channel``'s secret set, so what reaches the service is this row's doing."""
    return {
        "namespace": f"channel-{channel.name}",
        "pricing": {MODEL: {"input": 1000, "output": 1000}},
        "workflows": {"ci_cd_review": {"daily_usd": 10}},
        "alerts": {
            "slack_webhook_url": "",
            "pagerduty_routing_key": "",
            channel.setting: SECRETS[channel.setting],
            "min_level": min_level,
            **extra,
        },
    }


def test_every_channel_has_its_service_row():
    assert set(SERVICES) == set(BY_NAME)


@rows
@pytest.mark.parametrize("stage", LEVELS)
def test_a_channel_carries_its_level_and_above_once_its_stage_is_on(channel, stage, make_config):
    alerts = make_config(settings(channel, min_level=stage)).alerts
    for level in LEVELS:
        expected = RANK[level] >= RANK[channel.level] and RANK[stage] >= RANK[channel.level]
        assert (channel.name in channels_for(alerts, level)) is expected, (level, stage)


@rows
def test_a_channel_without_its_secret_is_never_chosen(channel, make_config):
    config = make_config(settings(channel) | {"alerts": {"slack_webhook_url": "", "pagerduty_routing_key": ""}})
    assert channels_for(config.alerts, CRITICAL) == ()
    with pytest.raises(Exception, match=f"alerts.{channel.setting} is not set"):
        AlertManager(config).send_test(channel.name)


@rows
def test_the_test_message_is_accepted_and_leaves_nothing_open(channel, make_config, caplog):
    make, accepted, is_open = SERVICES[channel.name]
    manager = AlertManager(make_config(settings(channel)), sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG), responses.RequestsMock() as mock:
        fake = make(mock)
        result = manager.send_test(channel.name)
        sent = accepted(fake)
    assert result.ok and result.channel == channel.name
    assert sent  # the service accepted the row's trigger as its docs say (the fakes validate the body)
    assert "Test alert from acme-ci-budget (namespace channel-" in str(sent[0])
    if is_open is not None:
        assert len(sent) == 2 and not is_open(fake, sent[0]["dedup_key"])  # trigger, then resolve: nothing open
    assert all(secret not in caplog.text + repr(result) for secret in SECRETS.values())


@rows
def test_a_critical_day_reaches_the_channel_once(channel, make_config, redis_url):
    make, accepted, is_open = SERVICES[channel.name]
    config = make_config(settings(channel))
    clock = Clock(datetime(2026, 11, 10, 15, 0, tzinfo=UTC))
    enforcer = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    manager = AlertManager(config, enforcer=enforcer, sleep=lambda s: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = make(mock)
        tokens = int(Decimal("10.00") * 1000)
        res = enforcer.reserve("ci_cd_review", MODEL, tokens // 2, tokens - tokens // 2)
        enforcer.settle(res, tokens // 2, tokens - tokens // 2)
        (alert,) = manager.check()
        assert alert.level == CRITICAL and channel.name in alert.delivered_to and alert.failed == ()
        assert manager.check() == [] and AlertManager(config, enforcer=enforcer).check() == []
        assert len(accepted(fake)) == 1
        if is_open is not None:
            assert is_open(fake, alert.dedup_key)
            clock.advance(days=1)  # the day is over: its incident is resolved, once
            assert [a.condition for a in manager.check()] == ["daily_critical_resolved"]
            assert not is_open(fake, alert.dedup_key) and manager.check() == []
