"""The spend journal: calls the ledger could not record, kept on local disk until it can.

Owns the file and its format: one JSON line per call that spent money while Redis was
unreachable (a ``fail_open`` call, or a call whose settle failed after its retries), with the
reservation id, workflow, model, token counts, cost in nano-USD, the day and month it was spent
in, and when. Lines are only ever appended (under an exclusive lock, fsynced); a replay appends a
``replayed`` marker per entry and empties the file once every entry is marked. Where it lives:
``$ACME_BUDGET_JOURNAL``, else ``$RUNNER_TEMP/acme-ci-budget/journal.jsonl`` in GitHub Actions
(later steps of the job replay it), else ``journal.jsonl`` in the data folder beside the
embedded ledger.

``replay_pending(enforcer)`` settles each pending entry of the enforcer's namespace and Redis
(``ledger``: a hash of the Redis URL with any password removed, so an entry kept for the shared
Redis never lands in a local embedded one) through ``record`` (``BudgetEnforcer.record_journaled``:
the entry's stand-in reservation settled, idempotent by reservation id, so a replay run twice
charges once). This module must not touch Redis keys itself, and never writes a secret: an
entry holds ids, counts and money only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.integrations import gha
from acme_ci_budget.ledger.errors import LedgerUnavailable, is_connection_error
from acme_ci_budget.ledger.results import LEDGER_DOWN, Reservation, Settlement
from acme_ci_budget.ledger.store import EMBEDDED_DIR_ENV, embedded_path, redact_url

log = logging.getLogger("acme_ci_budget.journal")

JOURNAL_ENV = "ACME_BUDGET_JOURNAL"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class JournalEntry:
    """One call the ledger has not recorded yet: everything ``settle`` needs, and its period."""

    reservation: str
    namespace: str
    workflow: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_nano: int
    day: str
    month: str
    ts_ms: int
    fail_open: bool
    session: str | None = None
    user: str | None = None
    task: str | None = None
    loop_step: int | None = None
    latency_ms: int | None = None
    route_reason: str | None = None
    ledger: str = ""
    cache_creation_1h_input_tokens: int = 0  # the 1-hour part of cache_creation_input_tokens
    usage_missing: bool = False  # the reply had no usage: the counts are the hold's worst case
    repo: str = ""  # the repository the call is attributed to ('' : none known)
    v: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JournalEntry:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


def ledger_id(redis_url: str | None) -> str:
    """Which Redis an entry belongs to, without the URL (or a password) in the file."""

    return hashlib.sha256(redact_url(redis_url).encode()).hexdigest()[:16]


def reservation_for(entry: JournalEntry) -> Reservation:
    """The stand-in reservation a journaled call is settled against: its ids, its period, its counts.

    A call whose reply had no usage was journaled with its worst case as the counts and that
    worst case as its cost: the stand-in holds exactly that, so the replay charges it, flagged.
    """
    one_hour = entry.cache_creation_1h_input_tokens
    return Reservation(
        id=entry.reservation,
        workflow_id=entry.workflow,
        model=entry.model,
        allowed=True,
        reason=LEDGER_DOWN if entry.fail_open else "",
        input_tokens=entry.input_tokens + entry.cache_creation_input_tokens,
        max_output_tokens=max(1, entry.output_tokens),
        requested_max_output_tokens=max(1, entry.output_tokens),
        held_nano=entry.cost_nano if entry.usage_missing else 0,
        day=entry.day,
        month=entry.month,
        session_id=entry.session,
        user_id=entry.user,
        task_id=entry.task,
        loop_step=entry.loop_step,
        fail_open=entry.fail_open,
        cache_write_tokens=entry.cache_creation_input_tokens - one_hour,
        cache_write_1h_tokens=one_hour,
        repo=entry.repo,
    )


def record(enforcer: Any, entry: JournalEntry) -> Settlement:
    """Settle a call the journal kept while Redis was unreachable (``BudgetEnforcer.record_journaled``).

    Charged to the day and month the call was spent in, through ``settle`` (idempotent by
    reservation id: a second replay records nothing). Raises ``LedgerUnavailable`` while Redis
    is still unreachable, so the entry stays in the journal.
    """
    counts = (
        entry.input_tokens,
        entry.output_tokens,
        entry.cache_creation_input_tokens,
        entry.cache_read_input_tokens,
    )
    unreachable = f"budget ledger unreachable at {enforcer.where}; the journal keeps the call"
    try:
        settled = enforcer.settle(
            reservation_for(entry),
            *counts,
            latency_ms=entry.latency_ms,
            route_reason=entry.route_reason,
            model=entry.model,
            cache_creation_1h_input_tokens=entry.cache_creation_1h_input_tokens,
            usage_missing=entry.usage_missing,
        )
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        raise LedgerUnavailable(unreachable) from None
    if not settled.recorded:  # a fail-open settle reports the outage instead of raising
        raise LedgerUnavailable(unreachable)
    return settled


def entry_for(
    reservation: Any,
    namespace: str,
    ledger: str,
    model: str,
    counts: tuple[int, int, int, int, int],
    cost_nano: int,
    latency_ms: int | None = None,
    route_reason: str | None = None,
    usage_missing: bool = False,
) -> JournalEntry:
    """The entry for a settled call of ``reservation`` (a ``ledger.Reservation``) the ledger could not record."""
    return JournalEntry(
        reservation=reservation.id,
        namespace=namespace,
        workflow=reservation.workflow_id,
        model=model,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_creation_input_tokens=counts[2],
        cache_read_input_tokens=counts[3],
        cost_nano=cost_nano,
        day=reservation.day,
        month=reservation.month,
        ts_ms=int(time.time() * 1000),
        fail_open=reservation.fail_open,
        session=reservation.session_id,
        user=reservation.user_id,
        task=reservation.task_id,
        loop_step=reservation.loop_step,
        latency_ms=latency_ms,
        route_reason=route_reason,
        ledger=ledger,
        cache_creation_1h_input_tokens=counts[4],
        usage_missing=usage_missing,
        repo=reservation.repo,
    )


@dataclass(frozen=True)
class ReplayResult:
    """What one replay did: entries recorded now, already recorded before, and still pending."""

    replayed: int = 0
    replayed_nano: int = 0
    duplicates: int = 0
    pending: int = 0
    pending_nano: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)


def journal_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the journal lives (see the module notes)."""
    env = os.environ if env is None else env
    explicit = env.get(JOURNAL_ENV)
    if explicit:
        return Path(explicit)
    if env.get("GITHUB_ACTIONS") == "true" and env.get("RUNNER_TEMP"):
        return Path(env["RUNNER_TEMP"]) / "acme-ci-budget" / "journal.jsonl"

    return embedded_path().parent / "journal.jsonl"


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one process per runner is the norm there
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_line(fd: int, record: Mapping[str, Any]) -> None:
    # One write per line on an O_APPEND descriptor: concurrent writers never interleave a line.
    os.write(fd, (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode())
    os.fsync(fd)


def append(entry: JournalEntry, path: Path | None = None) -> Path:
    """Append one entry (durably: fsynced before returning); returns the journal's path."""
    path = path or journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        with _locked(fd):
            _write_line(fd, {"kind": "spend", **asdict(entry)})
    finally:
        os.close(fd)
    return path


def announce(entry: JournalEntry, path: Path) -> None:
    """Say, where people look, that money was spent outside the ledger (log; in Actions a warning and the summary)."""
    text = (
        f"the budget ledger could not record a {entry.workflow} call on {entry.model}: "
        f"{fmt_usd(entry.cost_nano, 6)} spent on {entry.day} is not in the ledger yet; journaled at {path}, "
        "replayed by the next command that reaches Redis"
    )
    log.warning(text)
    if gha.in_actions():
        gha.warning(text, title="acme-ci-budget: unrecorded spend")
        gha.append_summary(
            f"> [!WARNING]\n> **Unrecorded spend:** {fmt_usd(entry.cost_nano, 6)} ({entry.workflow}, {entry.model}, "
            f"{entry.day}) was spent while the budget ledger was unreachable. It is journaled in `{path}` and "
            "will be replayed into the ledger by the next command that reaches Redis.\n"
        )


def _read(fd: int) -> tuple[dict[str, JournalEntry], set[str], int]:
    """(entries by reservation id, ids already replayed, unreadable lines)."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    entries: dict[str, JournalEntry] = {}
    done: set[str] = set()
    bad = 0
    for raw in b"".join(chunks).splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if record.get("kind") == "replayed":
                done.add(str(record["reservation"]))
            else:
                entry = JournalEntry.from_dict(record)
                entries[entry.reservation] = entry
        except (ValueError, TypeError, KeyError, AttributeError):
            bad += 1  # a line cut by a crash mid-write; kept in the file, never replayed
    return entries, done, bad


# What decides where the journal lives; ``has_pending`` runs on every model call, so the path is
# built once per combination of these (building it costs more than the stat) and looked up after.
_WHERE_ENV = (JOURNAL_ENV, "GITHUB_ACTIONS", "RUNNER_TEMP", EMBEDDED_DIR_ENV, "XDG_DATA_HOME", "HOME")
_PATHS: dict[tuple[str | None, ...], str] = {}


def _current_path() -> str:
    get = os.environ.get
    where = tuple([get(name) for name in _WHERE_ENV])
    path = _PATHS.get(where)
    if path is None:
        path = _PATHS[where] = str(journal_path())
    return path


def has_pending(path: Path | None = None) -> bool:
    """Cheap check (one stat): is there anything in the journal?"""
    where = path or _current_path()
    if not os.access(where, os.F_OK):  # the usual case, without raising (and building) an OSError per call
        return False
    try:
        return os.stat(where).st_size > 0
    except OSError:
        return False


def replay_pending(enforcer: Any, path: Path | None = None) -> ReplayResult:
    """Record every pending entry of the enforcer's namespace in the ledger; stop at the first outage."""
    path = path or journal_path()
    if not has_pending(path):
        return ReplayResult()

    namespace, ledger = enforcer.config.namespace, ledger_id(enforcer.redis_url)

    def ours(entry: JournalEntry) -> bool:
        return entry.namespace == namespace and entry.ledger in ("", ledger)

    replayed = replayed_nano = duplicates = 0
    errors: list[str] = []
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        with _locked(fd):
            entries, done, bad = _read(fd)
            pending = [e for rid, e in entries.items() if rid not in done and ours(e)]
            for entry in pending:
                try:
                    settlement = enforcer.record_journaled(entry)
                except LedgerUnavailable:
                    break  # still down: everything left stays for the next command
                except Exception as exc:  # a bad entry (e.g. a model the config no longer prices) must not block others
                    errors.append(f"{entry.reservation}: {type(exc).__name__}: {exc}")
                    continue
                marker = {"kind": "replayed", "reservation": entry.reservation, "ts_ms": int(time.time() * 1000)}
                _write_line(fd, marker)
                done.add(entry.reservation)
                if settlement.duplicate:
                    duplicates += 1
                else:
                    replayed += 1
                    replayed_nano += entry.cost_nano
            left = [e for rid, e in entries.items() if rid not in done]
            if not left and not bad:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    mine = [e for e in left if ours(e)]
    result = ReplayResult(replayed, replayed_nano, duplicates, len(mine), sum(e.cost_nano for e in mine), tuple(errors))
    _report(result, path)
    return result


def _report(result: ReplayResult, path: Path) -> None:
    if result.replayed:
        text = (
            f"replayed {result.replayed} journaled call(s), {fmt_usd(result.replayed_nano, 6)}, "
            f"from {path} into the budget ledger"
        )
        log.warning(text)
        if gha.in_actions():
            gha.notice(text, title="acme-ci-budget: journal replayed")
    for problem in result.errors:
        log.error("journal entry not replayed: %s", problem)
