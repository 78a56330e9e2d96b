"""integrations/prometheus.py against the loopback Pushgateway: rendering both formats, a PUT of the group,
basic auth from the URL (hidden in messages), and a refusal's first line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from acme_ci_budget.integrations.prometheus import Family, PushError, push, render
from tests.fakes.pushgateway import FakePushgateway

FAMILIES = [
    Family("acme_budget_spent_usd", "gauge", "Spend.", ("workflow", "period"), [(("*", "month"), 1.25)], unit="usd"),
    Family("acme_budget_calls", "counter", "Calls.", ("workflow", "model"), [(("dev", "m"), 3.0)]),
]


@pytest.fixture
def gateway() -> Iterator[FakePushgateway]:
    with FakePushgateway() as fake:
        yield fake


def test_both_formats_parse_back_to_the_same_samples() -> None:
    text = render(FAMILIES).decode()
    plain = {s.name: (s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples}
    assert plain == {
        "acme_budget_spent_usd": ({"workflow": "*", "period": "month"}, 1.25),
        "acme_budget_calls_total": ({"workflow": "dev", "model": "m"}, 3.0),
    }
    om = render(FAMILIES, "openmetrics").decode()
    assert om.endswith("# EOF\n")
    parsed = {f.name: f for f in openmetrics_families(om)}
    assert parsed["acme_budget_spent_usd"].unit == "usd"
    assert [(s.name, s.value) for s in parsed["acme_budget_calls"].samples] == [("acme_budget_calls_total", 3.0)]
    with pytest.raises(ValueError):
        render(FAMILIES, "json")


def test_push_puts_the_group_with_basic_auth_from_the_url(gateway) -> None:
    push(gateway.url.replace("http://", "http://ops:p%40ss@"), FAMILIES, "acme_ci_budget", {"namespace": "acme"})
    ((method, key, _text),) = gateway.pushes
    assert method == "PUT" and key == (("job", "acme_ci_budget"), ("namespace", "acme"))
    assert gateway.authorizations == ["Basic b3BzOnBAc3M="]  # base64("ops:p@ss"), the password unquoted
    push(gateway.url, FAMILIES, "acme_ci_budget", {"repo": "acme/api"})  # a '/' in a value: @base64 in the path
    assert gateway.pushes[-1][1] == (("job", "acme_ci_budget"), ("repo", "acme/api"))
    assert gateway.authorizations[-1] is None


def test_a_refusal_is_one_line_with_the_gateways_reason_and_no_password(gateway) -> None:
    conflicting = [Family("push_time_seconds", "gauge", "x", (), [((), 1.0)])]
    with pytest.raises(PushError) as err:
        push(gateway.url.replace("http://", "http://ops:hunter2@"), conflicting, "j")
    message = str(err.value)
    assert message.startswith("Pushgateway http://ops:***@127.0.0.1:") and "HTTP 400: pushed metrics are invalid" in message
    assert "hunter2" not in message and "\n" not in message
    gateway.down()
    with pytest.raises(PushError, match=r"unreachable \(ConnectionRefusedError\)"):
        push(gateway.url, FAMILIES, "j")
