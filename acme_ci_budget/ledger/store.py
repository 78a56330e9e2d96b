"""The Redis connection, chosen by URL scheme, and the ledger's key schema.

Schemes, as the ``limits`` library does: ``redis://``, ``rediss://`` (TLS),
``unix://``, ``redis+cluster://host:port,host:port`` (and ``rediss+cluster://``);
no URL means an embedded Redis (a private ``redis-server``, see ``embedded``) persisted
under the user's data folder, so budgets accumulate across CLI runs on one machine. Every key of a
namespace carries one hash tag, so each Lua script touches one cluster slot.

This module must not hold budget logic, and must never put a password in an
error message or a log line.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

from acme_ci_budget.core.errors import AcmeError
from acme_ci_budget.core.redact import query_values, redact_url, scrub, split_url, url_passwords

__all__ = [
    "LedgerNotConfigured",
    "StoreError",
    "check_configured",
    "compact_embedded",
    "connect",
    "connect_embedded",
    "embedded_path",
    "prefix",
    "redact_url",
    "url_passwords",
]

REDIS_URL_ENV = "REDIS_URL"
EPHEMERAL_ENV = "ACB_EPHEMERAL_LEDGER"
EMBEDDED_DIR_ENV = "ACME_BUDGET_DATA_DIR"
SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


class StoreError(AcmeError, RuntimeError):
    """Redis could not be reached or the URL is wrong; the message never carries a password."""


class LedgerNotConfigured(StoreError):
    """No ledger URL in GitHub Actions and no ephemeral ledger asked for: a setup error, not an outage."""


# The exact fix, in the action's words (its secret and inputs) and the CLI's.
NOT_CONFIGURED_MESSAGE = (
    "no REDIS_URL in GitHub Actions, so no budget ledger (an embedded one would start from zero every run "
    "and enforce nothing). Fix: add the repository secret ACME_REDIS_URL (the rediss:// URL of a "
    "shared Redis) and pass it to the action as `redis-url: ${{ secrets.ACME_REDIS_URL }}`; or, for a "
    'trial only, set the action input `ephemeral-ledger: "true"` (CLI: --ephemeral-ledger)'
)


def ephemeral_requested(allow_ephemeral: bool = False) -> bool:
    """``allow_ephemeral`` or ``$ACB_EPHEMERAL_LEDGER`` set true (the action's ``ephemeral-ledger`` input)."""
    return allow_ephemeral or os.environ.get(EPHEMERAL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_configured(url: str | None = None, allow_ephemeral: bool = False) -> None:
    """Raise ``LedgerNotConfigured`` when ``connect(url, allow_ephemeral)`` would refuse for want of a URL.

    In GitHub Actions the embedded Redis dies with the runner, so every run would start from zero
    spend: a missing URL there is a setup error unless an ephemeral ledger is asked for.
    """
    if url or os.environ.get(REDIS_URL_ENV):
        return
    if os.environ.get("GITHUB_ACTIONS") == "true" and not ephemeral_requested(allow_ephemeral):
        raise LedgerNotConfigured(NOT_CONFIGURED_MESSAGE)


def embedded_path() -> Path:
    """The embedded ledger's database file (``$ACME_BUDGET_DATA_DIR`` or the XDG data folder)."""
    base = os.environ.get(EMBEDDED_DIR_ENV)
    if base:
        return Path(base) / "ledger.rdb"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "acme-ci-budget" / "ledger.rdb"


def connect(url: str | None = None, allow_ephemeral: bool = False) -> Any:
    """A redis-py client for ``url`` (or ``$REDIS_URL``); with neither, the embedded Redis.

    In GitHub Actions the embedded Redis dies with the runner, so every run would start
    from zero spend: refuse it there (``check_configured``) unless ``allow_ephemeral``
    (``--ephemeral-ledger``, the action's ``ephemeral-ledger`` input).
    """
    url = url or os.environ.get(REDIS_URL_ENV) or None
    if url is None:
        check_configured(None, allow_ephemeral)
        return _embedded()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise StoreError(
            f"unsupported Redis URL {redact_url(url)!r}: use one of {', '.join(s + '://' for s in SCHEMES)}"
        )
    import redis

    try:
        if scheme.endswith("+cluster"):
            return _cluster(url, tls=scheme.startswith("rediss"))
        return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    except ValueError:
        # urllib's and redis-py's parse errors quote pieces of the URL (a port that is really half a
        # password with an unescaped '#'), so none of their text is shown.
        raise StoreError(
            f"cannot parse the Redis URL {redact_url(url)}: expected scheme://[user:password@]host:port[/db] "
            "(percent-encode '@', ':', '/', '?' and '#' in a password)"
        ) from None
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        raise StoreError(f"cannot use Redis at {redact_url(url)}: {_safe(exc, url)}") from None


def _cluster(url: str, tls: bool) -> Any:
    from redis.cluster import ClusterNode, RedisCluster

    # Split as redis-py splits a single-node URL: userinfo wins over ?username= / ?password=.
    parts = split_url(url)
    if parts is None:  # pragma: no cover - connect() checked the scheme
        raise StoreError("a Redis cluster URL needs scheme://")
    _, authority, _, rest = parts
    auth, _, hosts = authority.rpartition("@")
    username = next((unquote_plus(v) for v in query_values(rest, "username")), None)
    password = next((unquote_plus(v) for v in query_values(rest, "password")), None)
    if auth:
        user, colon, secret = auth.partition(":")
        username = unquote(user) or username
        if colon and secret:
            password = unquote(secret)
    nodes = []
    for number, item in enumerate(filter(None, hosts.split(",")), 1):
        match = re.fullmatch(r"\[?([^\]]+?)\]?:(\d+)", item.strip())
        if not match:
            raise StoreError(f"Redis cluster URL {redact_url(url)}: node #{number} is not host:port")
        nodes.append(ClusterNode(match.group(1), int(match.group(2))))
    if not nodes:
        raise StoreError(f"Redis cluster URL {redact_url(url)}: no host:port nodes")
    return RedisCluster(
        startup_nodes=nodes,
        username=username,
        password=password,
        ssl=tls,
        socket_connect_timeout=5,
        socket_timeout=10,
    )


def compact_embedded(redis: Any, timeout: float = 120.0) -> None:
    """Rewrite the embedded ledger's append-only file as one snapshot, and wait until it is written.

    The file keeps every command since its last rewrite, and each command that starts the embedded server
    reads it all again: after a large batch of writes (a kept 100x simulated month: 240 MB of commands), a
    rewrite (``BGREWRITEAOF``: the data as it now is, in RDB form) cuts what the next start reads to the data
    itself. Only for the embedded ledger: a shared Redis's persistence is its operator's.
    """

    redis.bgrewriteaof()
    deadline = time.monotonic() + timeout
    while True:
        info = redis.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            if info.get("aof_last_bgrewrite_status", "ok") != "ok":
                raise StoreError("the embedded Redis could not rewrite its append-only file (see its redis.log)")
            return
        if time.monotonic() > deadline:
            raise StoreError(f"the embedded Redis did not rewrite its append-only file within {timeout:.0f}s")
        time.sleep(0.02)


def connect_embedded() -> Any:
    """The local embedded ledger, whatever ``$REDIS_URL`` says (``simulate`` keeps its month there)."""
    return _embedded()


def _embedded() -> Any:
    # The server's life (start, share with concurrent commands, stop at exit) is embedded.py's.
    try:
        from acme_ci_budget.ledger import embedded
    except ModuleNotFoundError as exc:
        if exc.name != "fcntl":
            raise
        # Its file locks (fcntl.flock) exist on Linux and macOS only.
        raise StoreError("the embedded ledger needs Linux or macOS: set REDIS_URL to a Redis") from None

    path = embedded_path()
    try:
        return embedded.client(path)
    except embedded.EmbeddedError as exc:
        raise StoreError(str(exc)) from None
    except OSError as exc:  # the data folder cannot be created or locked
        raise StoreError(f"cannot start the embedded Redis in {path.parent}: {exc.strerror or exc}") from None


def _safe(exc: BaseException, url: str) -> str:
    return scrub(str(exc) or exc.__class__.__name__, url_passwords(url))


# --- key schema ---------------------------------------------------------------------------------


def prefix(namespace: str) -> str:
    """Every key of a namespace starts with this; the braces are the Redis Cluster hash tag."""
    return f"acb:{{{namespace}}}:"
