"""Loading and running the ledger's Lua scripts (the files in ``ledger/lua/``).

Owns how a script is put together (the shared prelude ``_args.lua`` + ``_purge.lua``, then the
script) and registered with a Redis client, how it is run, and how a script's argument refusal
(nothing written) becomes ``LedgerArgumentError``. It must not choose keys or arguments, nor decide
anything: the modules calling the scripts do.

Running: on a plain ``redis.Redis`` client a script goes out as one EVALSHA on a spare connection
kept per connection pool (``_spare``), packed and read directly. Every model call pays two of these
round trips, and redis-py's general path adds about 30 us to each on this project's machines (the
pool's checkout and bookkeeping, the retry wrapper, the observability hooks, the per-argument
packing: ``scripts/bench_call.py`` prints it). The spare keeps what matters of that path: it is
only ever put back with its reply read, so it carries no stray data; before each send it is polled,
as the pool polls at checkout, so one the server closed while idle (its ``timeout``, a proxy, a
restart) is reconnected before anything is sent on it; one thread takes it at a time (another takes
a pool connection of its own); a forked child never uses its parent's; and a send or read cut
half-way closes it. No retry here: a reserve must not run twice (callers retry what is safe to
retry, as settle does). Cluster clients and pipelines take redis-py's own path.
"""

from __future__ import annotations

import os
import weakref
from functools import cache
from typing import Any

from acme_ci_budget.core.resources import lua_path
from acme_ci_budget.ledger.errors import LedgerArgumentError

# connection pool -> its one spare connection, while no thread holds it
_spare: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


@cache
def script_source(name: str) -> str:
    """The text Redis runs for script ``name``: the shared prelude, then the script."""
    prelude = "\n".join(lua_path(part).read_text() for part in ("_args.lua", "_purge.lua"))
    return prelude + "\n" + lua_path(name).read_text()


def load_script(redis: Any, name: str) -> Any:
    """Script ``name`` registered with ``redis`` (no round trip until it first runs)."""
    return redis.register_script(script_source(name))


def run_script(script: Any, keys: list[str], args: list) -> Any:
    """Run one ledger script; its argument refusals (nothing written) become ``LedgerArgumentError``."""
    import redis as redis_lib

    client = script.registered_client
    try:
        if type(client) is redis_lib.Redis and client.connection is None:
            return _run_on_spare(redis_lib, client.connection_pool, script, keys, args)
        return script(keys=keys, args=args)
    except redis_lib.ResponseError as exc:
        if "acb: bad argument" in str(exc):
            raise LedgerArgumentError(f"the ledger refused the request, nothing was written: {exc}") from None
        raise


def _run_on_spare(redis_lib: Any, pool: Any, script: Any, keys: list[str], args: list) -> Any:
    conn = _spare.pop(pool, None)
    if conn is None or conn.pid != os.getpid():  # none spare, or the parent's (after a fork): never shared
        conn = pool.get_connection()  # checked out for good: the pool still counts and disconnects it
    elif _closed_while_idle(redis_lib, conn):  # the server (or a proxy) dropped it: connect anew
        conn.disconnect()
    try:
        reply = _evalsha(redis_lib, conn, script, keys, args)
    except redis_lib.ResponseError:  # an error reply, read in full: the connection is still in step
        _put_back(pool, conn)
        raise
    except BaseException:  # a send or read cut half-way (lost connection, timeout, Ctrl-C): out of step
        conn.disconnect()
        pool.release(conn)
        raise
    _put_back(pool, conn)
    return reply


def _closed_while_idle(redis_lib: Any, conn: Any) -> bool:
    """True when the spare has something to read before anything was sent: the server closed it (idle
    timeout, restart). Sending on it would fail or, worse, leave unknown whether the script ran."""
    try:
        return bool(conn.can_read())
    except (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError):
        return True


def _put_back(pool: Any, conn: Any) -> None:
    if _spare.setdefault(pool, conn) is not conn:  # another thread's is spare already: one is enough
        pool.release(conn)


def _evalsha(redis_lib: Any, conn: Any, script: Any, keys: list[str], args: list) -> Any:
    conn.send_packed_command(conn.pack_command("EVALSHA", script.sha, len(keys), *keys, *args))
    try:
        return conn.read_response()
    except redis_lib.exceptions.NoScriptError:  # a restarted or flushed server: load it, run it once more
        conn.send_packed_command(conn.pack_command("SCRIPT", "LOAD", script.script))
        script.sha = conn.read_response()
        if isinstance(script.sha, bytes):
            script.sha = script.sha.decode()
        conn.send_packed_command(conn.pack_command("EVALSHA", script.sha, len(keys), *keys, *args))
        return conn.read_response()
