"""Redis URL redaction: every form redis-py accepts, one function, never a password in output."""

from __future__ import annotations

import subprocess
import sys

import pytest

from acme_ci_budget.core.redact import redact_url, scrub, url_passwords
from acme_ci_budget.integrations import gha
from acme_ci_budget.ledger import store
from acme_ci_budget.ledger.store import StoreError, connect
from tests.roles import CHEAP

FORMS = [
    # (url, shown, password forms)
    ("redis://user:s3cr%40t@cache.acme:6379/0", "redis://user:***@cache.acme:6379/0", ["s3cr%40t", "s3cr@t"]),
    ("redis://:hunter2@h", "redis://:***@h", ["hunter2"]),
    ("rediss://:pw@h:6380", "rediss://:***@h:6380", ["pw"]),
    ("rediss://app:tls-pw@h:6380/2", "rediss://app:***@h:6380/2", ["tls-pw"]),
    ("redis://h:6379/0", "redis://h:6379/0", []),
    ("redis://user@h", "redis://user@h", []),
    ("redis+cluster://:pw@h1:7000,h2:7001", "redis+cluster://:***@h1:7000,h2:7001", ["pw"]),
    ("redis+cluster://app:cpw@h1:7000,h2:7001", "redis+cluster://app:***@h1:7000,h2:7001", ["cpw"]),
    ("rediss+cluster://h1:7000,h2:7001?password=qpw", "rediss+cluster://h1:7000,h2:7001?password=***", ["qpw"]),
    ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1", ["pw"]),
    ("unix:///run/redis.sock?db=1&password=sockpw", "unix:///run/redis.sock?db=1&password=***", ["sockpw"]),
    ("redis://:p@ss@h/0", "redis://:***@h/0", ["p@ss"]),
    ("redis://h:6379/0?password=qsecret", "redis://h:6379/0?password=***", ["qsecret"]),
    ("redis://h/0?db=1&password=a+b%21#frag", "redis://h/0?db=1&password=***#frag", ["a+b%21", "a b!"]),
    ("redis://:x@h?PASSWORD=y", "redis://:***@h?PASSWORD=***", ["x", "y"]),
    # parse_qs decodes parameter names too, so redis-py reads this as `password`
    ("redis://h?pass%77ord=encname", "redis://h?pass%77ord=***", ["encname"]),
    # an unescaped '/', '?' or '#' in a password: no safe split, so nothing after the scheme is shown
    ("redis://:pa/ss@h:6379", "redis://***", ["pa/ss"]),
    ("redis://:pa#ss@h:6379", "redis://***", ["pa#ss"]),
    ("redis://:pa?ss@h:6379", "redis://***", ["pa?ss"]),
    ("user:secret@host:6379", "***", []),
    ("not a url", "not a url", []),
]


@pytest.mark.parametrize(("url", "shown", "passwords"), FORMS, ids=[f[0] for f in FORMS])
def test_every_url_form_is_redacted(url, shown, passwords):
    assert redact_url(url) == shown
    assert url_passwords(url) == passwords
    for password in passwords:
        assert password not in shown.replace("***", "")
    # one implementation: the CI masker and the store show exactly this
    assert gha.mask_secret_url(url) == shown
    assert store.redact_url is redact_url


def test_no_url_is_the_embedded_ledger():
    assert redact_url(None) == redact_url("") == "embedded"
    assert url_passwords(None) == []


def test_scrub_replaces_longest_first():
    assert scrub("pw=abcdef and abc", ["abc", "abcdef", None, ""]) == "pw=*** and ***"


def test_query_password_connects_and_is_never_printed(fresh_redis, tmp_path):
    server = fresh_redis(password="q-s3cret-pw")
    url = f"redis://127.0.0.1:{server.port}/0?password=q-s3cret-pw"
    assert connect(url).ping()  # redis-py accepts the query form
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ACME_BUDGET_CONFIG": "", "REDIS_URL": url}
    status = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "status"], capture_output=True, text=True, env=env
    )
    assert status.returncode == 0, status.stderr
    assert f"ledger: redis://127.0.0.1:{server.port}/0?password=***" in status.stdout
    assert "q-s3cret-pw" not in status.stdout + status.stderr
    wrong = url.replace("q-s3cret-pw", "not-the-q-pw")
    refused = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "status"],
        capture_output=True,
        text=True,
        env={**env, "REDIS_URL": wrong},
    )
    assert refused.returncode != 0
    assert "not-the-q-pw" not in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr


def test_unix_socket_query_password(fresh_redis, tmp_path):
    sock = tmp_path / "r.sock"
    fresh_redis("--unixsocket", str(sock), "--unixsocketperm", "700", password="sock-pw-1")
    url = f"unix://{sock}?password=sock-pw-1"
    assert connect(url).ping()
    assert redact_url(url) == f"unix://{sock}?password=***"


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://127.0.0.1:1,127.0.0.1:2?password=clu-hunter2",
        "redis+cluster://:clu/hunter2@127.0.0.1:1,127.0.0.1:2",
        "redis+cluster://:clu-hunter2@127.0.0.1:1,not-a-node",
        "redis://:clu-hunter2#x@127.0.0.1:1",
        "redis://:clu/hunter2@127.0.0.1:1",
        "redis://127.0.0.1:1/0?password=clu-hunter2",
    ],
)
def test_connection_errors_never_carry_the_password(url):
    # connect() raises StoreError for what it parses; redis-py's own lazy errors name host and port only
    with pytest.raises((StoreError, ConnectionError, OSError, Exception)) as err:
        connect(url).ping()
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in repr(err.value)


def test_ledger_down_messages_and_fail_open_warnings_hide_a_query_password(make_config, caplog):
    from acme_ci_budget.ledger.enforcer import BudgetEnforcer, LedgerUnavailable

    url = "redis://127.0.0.1:1/0?password=evt-s3cret"
    closed = BudgetEnforcer(make_config(), redis_url=url)
    with pytest.raises(LedgerUnavailable) as err:
        closed.reserve("ci_cd_review", CHEAP, 100, 100)
    assert "evt-s3cret" not in str(err.value)
    assert "redis://127.0.0.1:1/0?password=***" in str(err.value)
    opened = BudgetEnforcer(make_config({"ledger": {"fail_open": True}}), redis_url=url)
    reservation = opened.reserve("ci_cd_review", CHEAP, 100, 100)
    assert reservation.fail_open
    assert "evt-s3cret" not in " ".join(reservation.warnings) + caplog.text
