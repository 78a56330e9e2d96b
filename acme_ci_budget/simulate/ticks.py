"""The simulator's ticks: the calls of one simulated minute sent to the ledger as one pipeline per phase.

Owns how ``simulate`` batches its Redis traffic without leaving the real money path. A tick is the
calls that start in one minute of simulated time (never two turns of one session: a turn waits
for the reply to the previous one). Its calls are in flight together, as concurrent calls are:

1. every call goes through ``BudgetedClient.complete`` up to its reserve, which ``TickLedger``
   records (the real draft, price, keys and arguments) instead of sending; then all the tick's
   reserve scripts go to Redis in one pipeline, in call order;
2. every call goes through ``complete`` again: its route and input count are the ones step 1 made
   (``TickClient``: a pure function of the request, taken once), the reserve hands back the
   script's answer, the offline model replies, and the settle records its request (the real cost,
   keys and arguments) and answers with the cost at once; then all the settle scripts go in one pipeline;
3. the settles' replies (the spend figures) are handed to the caller, for the per-call alerts.

The scripts, their arguments and their order per phase are exactly what sequential calls would
send; what differs is that a tick's holds are all taken before any of its settles, as for calls
that overlap in time. The order is fixed by the plan, so results stay deterministic by seed. It
must not skip or imitate a ledger script, and nothing outside the simulator may use it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import redis as redis_lib

from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.client.plan import Draft, Request
from acme_ci_budget.ledger import (
    BudgetEnforcer,
    LedgerArgumentError,
    Reservation,
    Settlement,
)

TICK_SECONDS = 60  # divides an hour: a tick never spans the hourly alert check
MAX_TICK_CALLS = 256  # one pipeline's worth; a busier minute is split

DIRECT, GATHER, REPLAY = "direct", "gather", "replay"


class Deferred(BaseException):
    """Raised where the tick ledger recorded a reserve for the tick's pipeline instead of sending it.

    A ``BaseException``, like a cancellation, so no ``except Exception`` on the way mistakes it for a
    failed call; ``complete`` has made no model call and holds nothing when it is raised.
    """


class TickLedger(BudgetEnforcer):
    """``BudgetEnforcer`` whose reserves and settles are gathered per tick and sent one pipeline per phase.

    Outside a tick (``DIRECT``, the default) it is the plain ledger. ``gather()`` starts a phase:
    reserves record their request and raise ``Deferred``; settles record theirs and answer at once
    with the cost (the figures follow from ``flush_settles``). ``flush_reserves()`` sends the
    recorded reserves and switches to ``REPLAY``, where each reserve takes the next answer in order.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mode = DIRECT
        self._reserves: list[tuple[Reservation, Any, list[str], list]] = []
        self._unread: deque[tuple[Reservation, Any, Any]] = deque()  # replayed reserves not yet answered
        self.answers: list[Reservation] = []  # the reserves answered in this tick, in order
        self._settles: list[tuple[Reservation, list[str], list, bool]] = []
        # Settles sent and not yet read (one batch at most), on a connection held between two ticks.
        self._in_flight: list[tuple[Reservation, list[str], list, bool]] = []
        self._settled_now: list[Settlement] = []
        self._conn: Any = None
        for script in (self._reserve, self._settle):  # a pipeline sends EVALSHA only: load them once
            self.redis.script_load(script.script)

    def gather(self) -> None:
        self.mode = GATHER

    def direct(self) -> None:
        if self._unread:  # a tick stopped half-way: its unread replies would put the stream out of step
            self._unread.clear()
            self._abandon()
        self.mode = DIRECT

    # --- the money path, gathered -----------------------------------------------------------

    def reserve(
        self,
        workflow_id: str,
        model: str,
        input_tokens: int,
        max_output_tokens: int,
        session_id: str | None = None,
        task_id: str | None = None,
        loop_step: int | None = None,
        user_id: str | None = None,
        *,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        pressure_model: str | None = None,
    ) -> Reservation:
        if self.mode == REPLAY:
            answer = self._next_answer()
            if (answer.workflow_id, answer.input_tokens, answer.session_id, answer.task_id) != (
                workflow_id,
                input_tokens,
                session_id,
                task_id,
            ):
                raise RuntimeError(f"tick replay out of order: {answer.id} is not this {workflow_id} call")
            return answer
        if self.mode == DIRECT:
            return super().reserve(
                workflow_id,
                model,
                input_tokens,
                max_output_tokens,
                session_id,
                task_id,
                loop_step,
                user_id,
                cache_write_tokens=cache_write_tokens,
                cache_write_1h_tokens=cache_write_1h_tokens,
                pressure_model=pressure_model,
            )
        now = self.now()
        draft, wf = self._reserve_draft(
            now,
            workflow_id,
            model,
            input_tokens,
            max_output_tokens,
            session_id,
            task_id,
            loop_step,
            user_id,
            cache_write_tokens,
            cache_write_1h_tokens,
            pressure_model,
        )
        self._reserves.append((draft, wf, self._reserve_keys(draft), self._reserve_args(wf, draft, now)))
        raise Deferred

    def settle(
        self,
        reservation: Reservation,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        latency_ms: int | None = None,
        route_reason: str | None = None,
        model: str | None = None,
        *,
        cache_creation_1h_input_tokens: int = 0,
        usage_missing: bool = False,
    ) -> Settlement:
        counts = (input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens)
        if self.mode == DIRECT:
            return super().settle(
                reservation,
                *counts,
                latency_ms,
                route_reason,
                model,
                cache_creation_1h_input_tokens=cache_creation_1h_input_tokens,
                usage_missing=usage_missing,
            )
        keys, args, cost = self._settle_request(
            reservation, *counts, latency_ms, route_reason, model, cache_creation_1h_input_tokens, usage_missing
        )
        self._settles.append((reservation, keys, args, usage_missing))
        # The cost is the script's to record but already known; the spend figures come with the flush.
        return Settlement(reservation.id, cost, 0, 0, 0, hold_found=True, usage_missing=usage_missing)

    # --- the pipelines ------------------------------------------------------------------------

    def flush_reserves(self) -> None:
        """Send the gathered reserves in one pipeline and switch to replaying their answers, in order.

        Settles sent before (``send_settles``) are ahead of them on the connection, so Redis runs
        them first, as sequential calls would; their replies are read here. Each reserve's reply is
        read when its call is replayed, so the simulator works on one call while Redis runs the next.
        """
        gathered, self._reserves = self._reserves, []
        calls = [(keys, args) for _d, _wf, keys, args in gathered]
        self.answers = []
        if isinstance(self.redis, redis_lib.Redis):
            if self._conn is None:
                self._conn = self.redis.connection_pool.get_connection()
            self._send(self._reserve.sha, calls)
            self._read_settles()
            self._unread = deque((draft, wf, None) for draft, wf, _k, _a in gathered)
        else:  # a cluster client: one pipeline, read at once
            raws = self._pipeline(self._reserve.sha, calls)
            self._unread = deque((draft, wf, raw) for (draft, wf, _k, _a), raw in zip(gathered, raws, strict=True))
        self.mode = REPLAY

    def _next_answer(self) -> Reservation:
        draft, wf, raw = self._unread.popleft()
        if raw is None:
            (raw,) = self._read(1)
        answer = self._reserved(draft, wf, raw)
        self.answers.append(answer)
        return answer

    def send_settles(self) -> None:
        """Send the gathered settles in one pipeline without waiting: the simulator prepares the next
        tick while Redis runs them (its two cores both busy). ``drain`` gives their settlements."""
        gathered, self._settles = self._settles, []
        if not gathered:
            return
        calls = [(keys, args) for _r, keys, args, _m in gathered]
        if self._conn is None:  # a cluster client: one pipeline, at once
            raws = self._pipeline(self._settle.sha, calls)
            self._settled_now += [self._settled(r, raw, m) for (r, _k, _a, m), raw in zip(gathered, raws, strict=True)]
            return
        self._send(self._settle.sha, calls)
        self._in_flight = gathered

    def drain(self) -> list[Settlement]:
        """The settlements sent since the last drain (waiting for any still in flight), in order."""
        self._read_settles()
        if self._conn is not None:
            self.redis.connection_pool.release(self._conn)
            self._conn = None
        done, self._settled_now = self._settled_now, []
        return done

    def settled(self) -> list[Settlement]:
        """The settlements read so far (those still in flight are not waited for), in order."""
        done, self._settled_now = self._settled_now, []
        return done

    def _read_settles(self) -> None:
        gathered, self._in_flight = self._in_flight, []
        if gathered:
            raws = self._read(len(gathered))
            self._settled_now += [self._settled(r, raw, m) for (r, _k, _a, m), raw in zip(gathered, raws, strict=True)]

    def _send(self, sha: str, calls: Sequence[tuple[list[str], list]]) -> None:
        conn = self._conn
        try:
            conn.send_packed_command(_pack([("EVALSHA", sha, len(k), *k, *a) for k, a in calls], conn))
        except BaseException:
            self._abandon()
            raise

    def _read(self, n: int) -> list[Any]:
        conn, replies, error = self._conn, [], None
        try:
            for _ in range(n):
                try:
                    replies.append(conn.read_response())
                except redis_lib.ResponseError as exc:  # every reply is read before raising: the stream stays in step
                    error = error or exc
        except BaseException:
            self._abandon()
            raise
        if error is not None:
            self._abandon()
            if "acb: bad argument" in str(error):
                raise LedgerArgumentError(f"the ledger refused the request, nothing was written: {error}") from None
            raise error
        return replies

    def _abandon(self) -> None:
        """A send or read failed half-way: the connection's stream is out of step, so it is closed."""
        conn, self._conn, self._in_flight = self._conn, None, []
        if conn is not None:
            conn.disconnect()
            self.redis.connection_pool.release(conn)

    def _pipeline(self, sha: str, calls: Sequence[tuple[list[str], list]]) -> list[Any]:
        if not calls:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return pipe.execute()
        except Exception as exc:
            if "acb: bad argument" in str(exc):
                raise LedgerArgumentError(f"the ledger refused the request, nothing was written: {exc}") from None
            raise


class TickClient(BudgetedClient):
    """``BudgetedClient`` that routes and counts each call of a tick once: a tick runs each call's
    ``complete`` twice (gather, then replay) with the same request, and its draft (``client.plan.draft``)
    is a pure function of it, so the replay takes the draft the gather made, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drafts: deque[tuple[Any, Draft]] = deque()  # (the request's messages, its draft), in call order

    def new_tick(self) -> None:
        self._drafts.clear()

    def _draft(self, request: Request) -> Draft:
        mode = self.enforcer.mode
        if mode == REPLAY and self._drafts:
            messages, drafted = self._drafts.popleft()
            if messages is not request.messages:
                raise RuntimeError(f"tick replay out of order: {request.workflow_id} is not the call drafted")
            return drafted
        drafted = super()._draft(request)
        if mode == GATHER:
            self._drafts.append((request.messages, drafted))
        return drafted


def _pack(commands: list[tuple], conn: Any) -> list[bytes]:
    """The commands in the Redis protocol, packed by hiredis in one go (redis-py's packer walks every argument)."""
    try:
        import hiredis
    except ImportError:  # pragma: no cover - redis[hiredis] is a dependency
        return conn.pack_commands(commands)
    return [b"".join([hiredis.pack_command(command) for command in commands])]


def ticks(calls: Iterable[Any]) -> Iterator[list[Any]]:
    """The plan's calls (in time order) grouped by simulated minute; a session's next turn starts a new tick."""
    tick: list[Any] = []
    sessions: set[str] = set()
    minute = None
    for call in calls:
        this_minute = int(call.ts // TICK_SECONDS)
        session = call.session_id
        if tick and (this_minute != minute or len(tick) >= MAX_TICK_CALLS or (session and session in sessions)):
            yield tick
            tick, sessions = [], set()
        minute = this_minute
        tick.append(call)
        if session:
            sessions.add(session)
    if tick:
        yield tick
