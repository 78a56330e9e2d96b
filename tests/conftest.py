"""Shared fixtures: real Redis servers (standalone and a three-master cluster) and config builders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from acme_ci_budget.config import Config, parse_config
from acme_ci_budget.core.resources import default_config_path
from tests.redis_harness import RedisCluster, RedisServer

DEFAULT_CONFIG_TEXT = default_config_path().read_text()


# Variables that would make a test talk to a real service or write into a real CI run. The suite is
# hermetic: tests that need one set it themselves (REDIS_URL stays: it is the documented way to run
# the standalone-Redis tests against an existing server).
_OUTSIDE_WORLD = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY",
    "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_EVENT_PATH", "GITHUB_TOKEN",
    "GITHUB_API_URL", "GITHUB_GRAPHQL_URL", "GITHUB_REPOSITORY", "ACME_BUDGET_CONFIG",
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in _OUTSIDE_WORLD:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("ACB_")]:
        monkeypatch.delenv(name, raising=False)
    # the embedded ledger and the price cache live in the test's own folders, never the user's
    home = tmp_path_factory.getbasetemp() / "home"
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(home / "data"))
    # each test its own spend journal: a call one test journals must never be replayed into another's ledger
    monkeypatch.setenv("ACME_BUDGET_JOURNAL", str(tmp_path_factory.mktemp("journal") / "journal.jsonl"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | None]:
    """A redis-server for the whole run (None when $REDIS_URL points at an external one)."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer | None) -> Iterator[str]:
    """The URL of a real, empty Redis (flushed before each test)."""
    url = os.environ["REDIS_URL"] if redis_server is None else redis_server.url
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster_server: RedisCluster) -> str:
    """A ``redis+cluster://`` URL of a real three-master cluster, flushed before each test."""
    redis_cluster_server.flushall()
    return redis_cluster_server.url


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """The URL of a real, empty Redis for the ledger, once per backend, as ``limits`` runs its storage suite:
    the standalone server (``redis_url``), then a three-master Redis Cluster (``redis_cluster_url``, marked
    ``cluster``). A ledger test whose behaviour must hold on both takes this instead of ``redis_url``."""
    return request.getfixturevalue("redis_url" if request.param == "standalone" else "redis_cluster_url")


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start private redis-servers (for restart, AOF and outage tests); all are stopped afterwards."""
    started: list[RedisServer] = []

    def start(*extra_args: str, password: str | None = None) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(started)}", extra_args=extra_args, password=password).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def make_config() -> Callable[..., Config]:
    """Build a validated Config from the default YAML with nested overrides merged in.

    ``make_config({"workflows": {"ci_cd_review": {"daily_usd": 0.01}}}, namespace="t")``
    """

    def build(changes: dict[str, Any] | None = None, **top: Any) -> Config:
        raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
        raw = _merge(raw, changes or {})
        raw = _merge(raw, top)
        return parse_config(yaml.safe_dump(raw), "test-config.yml")

    return build


@pytest.fixture
def default_config() -> Config:
    return parse_config(DEFAULT_CONFIG_TEXT, "default")


@pytest.fixture
def fake_anthropic():
    """A loopback Messages API for the real anthropic SDK (tests/fakes/anthropic_server/)."""
    from tests.fakes import FakeAnthropicServer

    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def fake_github():
    """A loopback GitHub REST + GraphQL API for real PyGithub (tests/fakes/github_server/)."""
    from tests.fakes import FakeGitHubServer

    with FakeGitHubServer() as server:
        yield server
