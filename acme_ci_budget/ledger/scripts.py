"""Loading and running the ledger's Lua scripts (the files in ``ledger/lua/``).

Owns how a script is put together (the shared prelude ``_args.lua`` + ``_purge.lua``, then the
script) and registered with a Redis client, and how a script's argument refusal (nothing written)
becomes ``LedgerArgumentError``. It must not choose keys or arguments, nor decide anything: the
modules calling the scripts do.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from acme_ci_budget.core.resources import lua_path
from acme_ci_budget.ledger.errors import LedgerArgumentError


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

    try:
        return script(keys=keys, args=args)
    except redis_lib.ResponseError as exc:
        if "acb: bad argument" in str(exc):
            raise LedgerArgumentError(f"the ledger refused the request, nothing was written: {exc}") from None
        raise
