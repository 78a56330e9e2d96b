"""Store: connection by URL scheme against real servers; passwords never leak."""

from __future__ import annotations

import pytest

from acme_ci_budget.ledger.store import StoreError, connect, redact_url, url_passwords


def test_redis_url_connects(redis_url):
    client = connect(redis_url)
    assert client.ping()


def test_password_url_connects_and_never_leaks(fresh_redis):
    server = fresh_redis(password="s3cr3t-pw")
    assert connect(server.url).ping()
    wrong = server.url.replace("s3cr3t-pw", "not-the-pw")
    with pytest.raises(Exception) as err:
        connect(wrong).ping()
    assert "not-the-pw" not in str(err.value)
    assert redact_url(server.url) == f"redis://:***@127.0.0.1:{server.port}/0"
    assert url_passwords(server.url) == ["s3cr3t-pw"]


def test_unix_socket(fresh_redis, tmp_path):
    sock = tmp_path / "r.sock"
    fresh_redis("--unixsocket", str(sock), "--unixsocketperm", "700")
    assert connect(f"unix://{sock}").ping()


def test_unsupported_scheme_is_clear_and_redacted():
    with pytest.raises(StoreError) as err:
        connect("memcached://user:hunter2@host:11211")
    assert "hunter2" not in str(err.value)
    assert "unsupported Redis URL" in str(err.value)


def test_cluster_url_reaches_all_three_masters(redis_cluster_url):
    client = connect(redis_cluster_url)
    assert len(client.get_primaries()) == 3
    # keys of one namespace share a hash tag, so they land in one slot
    client.set("acb:{acme}:a", 1)
    client.set("acb:{acme}:b", 2)
    assert client.keyslot("acb:{acme}:a") == client.keyslot("acb:{acme}:b")


def test_embedded_redis_persists_across_clients(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = connect(None)
    client.set("acb:{t}:x", 42)
    assert int(client.get("acb:{t}:x")) == 42
    assert (tmp_path).exists()
