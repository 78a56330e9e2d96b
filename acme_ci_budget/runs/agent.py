"""``acme-ci-budget run -- COMMAND ...``: one agent run (Claude Code) under the ledger, start to settle.

Owns the order of a run and its process: plan and reserve the hold (``runs.agent_budget``); blocked,
the command never starts; else add ``--max-budget-usd <hold>`` to a ``claude`` command that gives
none (a given one must fit the hold: ``plan_hold`` made the hold exactly it), start the command with
stdin and stderr passed through and stdout teed (the last line is kept: Claude Code's
``json`` / ``stream-json`` result), forward SIGINT / SIGTERM / SIGHUP to it, stop it at its timeout
(SIGTERM, then SIGKILL after a grace), settle from its result (no result: the full hold, flagged),
and exit with its exit code (124 after a timeout, 128 + N when a signal N ended it, as a shell
reports). Our own lines go to stderr: stdout is the command's. The command does not see ``REDIS_URL``
(the ledger's: an agent must not reach its own budget). It must not price or hold money
itself (the ledger does) nor read Claude Code's formats (``integrations.claude_code`` does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.integrations import claude_code
from acme_ci_budget.ledger.errors import is_ledger_error
from acme_ci_budget.runs.agent_budget import KILL_GRACE_SECONDS, open_ledger, plan_hold, report_settled, reserve, settle
from acme_ci_budget.runs.summary import Console, usd_text

TIMEOUT_EXIT = 124  # what coreutils' `timeout` exits with
NOT_FOUND_EXIT, NOT_EXECUTABLE_EXIT = 127, 126  # what a shell exits with
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HIDDEN_FROM_COMMAND = frozenset({"REDIS_URL"})


@dataclass(frozen=True)
class AgentRunOptions:
    workflow_id: str
    command: tuple[str, ...]
    config_path: str | None = None
    redis_url: str | None = None
    max_usd: Decimal | None = None
    task_id: str | None = None
    timeout_seconds: int | None = None
    fail_on_block: bool = False
    ephemeral_ledger: bool = False
    repo: str | None = None  # owner/name the run is attributed to (default $GITHUB_REPOSITORY)


@dataclass(frozen=True)
class Exit:
    """How the command ended."""

    code: int  # our exit code for it
    result: claude_code.RunResult | None
    outcome: str  # for the ledger's event: exit_0, timeout, signal_9, ...
    why: str  # why there is no result, when there is none
    started: bool = True


def run_agent(o: AgentRunOptions, console: Console | None = None) -> int:
    """Run ``o.command`` under the budget of ``o.workflow_id``; returns the exit code."""
    console = console or Console(sys.stderr)
    if not o.command:
        raise UsageError("run needs a command after --, e.g. acme-ci-budget run --workflow W -- claude -p ...")
    claude = claude_code.is_claude(o.command)
    try:
        given = claude_code.given_budget(o.command) if claude else None
    except claude_code.ClaudeCodeError as exc:
        raise UsageError(f"the command line: {exc}") from None
    enforcer = open_ledger(o)
    plan = plan_hold(enforcer.config.workflow(o.workflow_id), o.max_usd, given, o.timeout_seconds)
    code, r, report = reserve(enforcer, plan, console, o.fail_on_block, f"`{o.command[0]}`", o.task_id)
    if not r.allowed:
        return code
    argv = list(o.command)
    if claude and given is None:
        argv = claude_code.with_budget(argv, usd_text(r.held_nano))
    ended = run_process(argv, plan.timeout_seconds, console)
    if not ended.started:
        enforcer.release(r, error=f"could not start {o.command[0]}: {ended.why}")
        report.write()
        return ended.code
    try:
        done = settle(enforcer, r, ended.result, ended.outcome, console, f"the command left no result ({ended.why})")
    except Exception as exc:
        if not is_ledger_error(exc):
            raise
        console.say(f"acme-ci-budget: error: could not settle {r.id} ({exc}); its hold lapses at its TTL")
        return ended.code or 2
    report_settled(report, enforcer, r, done)
    report.write()
    return ended.code


def run_process(argv: Sequence[str], timeout: float, console: Console) -> Exit:
    """Run ``argv`` to its end or its timeout, stdout teed (``started`` False: it could not be started)."""
    # Its own process group when there is no terminal (CI): a timeout or a forwarded signal then reaches
    # every process it started (subagents, hooks). At a terminal it stays in ours, so it keeps the tty.
    own_group = not _isatty(sys.stdin)
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, start_new_session=own_group, env=child_env())
    except OSError as exc:
        console.say(f"acme-ci-budget: cannot start {argv[0]}: {exc.strerror or exc}")
        code = NOT_FOUND_EXIT if isinstance(exc, FileNotFoundError) else NOT_EXECUTABLE_EXIT
        return Exit(code, None, "not_started", str(exc.strerror or exc), started=False)
    last = claude_code.LastLine()
    tee = threading.Thread(target=_tee, args=(proc.stdout, last), daemon=True)
    tee.start()
    previous = _forward_signals(proc, own_group)
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            console.say(f"acme-ci-budget: {argv[0]} ran past its {timeout:g} s timeout: stopping it")
            _signal(proc, signal.SIGTERM, own_group)
            try:
                proc.wait(timeout=KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL, own_group)
                proc.wait()
    finally:
        _restore(previous)
    tee.join(timeout=KILL_GRACE_SECONDS)
    result = last.result()
    rc = proc.returncode
    if timed_out:
        code, outcome = TIMEOUT_EXIT, "timeout"
    elif rc < 0:
        code, outcome = 128 - rc, f"signal_{-rc}"
    else:
        code, outcome = rc, f"exit_{rc}"
    why = outcome.replace("_", " ") if result is None else ""
    if result is None and rc == 0 and not timed_out:
        why = "no result object on its last stdout line: give claude --output-format json or stream-json"
    return Exit(code, result, outcome, why)


def child_env() -> dict[str, str]:
    """Our environment less the ledger's Redis URL: an agent must not hold the key to its own budget (nor
    see the password). Everything else (the API key Claude Code needs, PATH, ...) passes."""
    return {name: value for name, value in os.environ.items() if name not in HIDDEN_FROM_COMMAND}


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _tee(pipe: Any, last: claude_code.LastLine) -> None:
    """Copy the command's stdout to ours as it comes, keeping its last line."""
    out = getattr(sys.stdout, "buffer", None)
    alive = True
    fd = pipe.fileno()
    while chunk := os.read(fd, 65536):
        last.feed(chunk)
        if not alive:
            continue  # our reader went away: keep draining, so the command never blocks on a full pipe
        try:
            if out is not None:
                out.write(chunk)
                out.flush()
            else:  # a text-only stdout (an embedding caller's)
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            alive = False
    pipe.close()


def _signal(proc: subprocess.Popen, signum: int, own_group: bool) -> None:
    try:
        if own_group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    except ProcessLookupError:
        pass  # it already ended


def _forward_signals(proc: subprocess.Popen, own_group: bool) -> dict[int, Any]:
    """Pass SIGINT / SIGTERM / SIGHUP on to the command while it runs (only the main thread can). At a
    terminal (``own_group`` False) the terminal's SIGINT already reaches it: we only outlive it."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in FORWARDED:
        if signum == signal.SIGINT and not own_group:
            previous[signum] = signal.signal(signum, lambda _n, _frame: None)
        else:
            previous[signum] = signal.signal(signum, lambda n, _frame: _signal(proc, n, own_group))
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
