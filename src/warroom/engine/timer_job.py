"""The timer job: claim due timers, run them many per transaction, mark them done.

A pass claims up to `batch` due timers in one statement (`UPDATE … WHERE id IN (SELECT …
LIMIT n FOR UPDATE SKIP LOCKED) RETURNING`, committed to publish the lease; engines side
by side take disjoint batches; SQLite has one writer at a time anyway). It then runs them
in as few transactions as it can. Each transaction re-reads the claimed rows this engine
still holds (fencing: a timer another engine took over after our lease ran out is left to
it; on PostgreSQL the rows are locked, so nobody takes one over while it runs), loads
their incidents, runs the handlers and marks the timers done in one `UPDATE`.

Optimistically first: no savepoints, and consecutive timers of a kind with a batch
handler (`handles_batch`) go to it in one call, its writes set-based. If any handler
raises, the whole transaction rolls back and the timers it had taken run again, each
handler in a savepoint of its own: the failing one rolls back alone (its timer stays
pending under our lease and is retried when the lease runs out), the others commit. If
even that transaction fails as a whole (a lost connection, a failed commit), its timers
run one per transaction, as `batched=False` does.

A transaction reads as many timers as the last one's cost per timer says fit in `budget`
seconds (at least `MIN_FIT`, at most `per_transaction`) and stops taking more once the
budget is spent, so it never holds SQLite's write lock or PostgreSQL's row locks for long.
On SQLite the job also pauses `SQLITE_GAP` between two of its write transactions while
it drains a backlog, so that other writers waiting on the lock get it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from warroom import events
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import BATCH_HANDLERS, HANDLERS
from warroom.engine.models import Timer
from warroom.engine.runner import worker_id
from warroom.engine.wakeup import notify
from warroom.incidents.models import Incident

log = logging.getLogger("warroom.timers")

MAX_SLEEP = 30.0
#: Timers the first transaction of a runner reads; then as many as fit in the budget.
FIRST_FIT = 32
#: Timers a transaction reads at least, however slow the last one was: a transaction has
#: a fixed cost (reads, commit) that a smaller one does not shrink.
MIN_FIT = 16
#: SQLite's busy handler sleeps up to 100 ms between two tries for the write lock; a pause
#: longer than that between two of the engine's write transactions lets every waiting
#: writer in (a web request, the CLI), instead of the engine taking the lock again at
#: once, transaction after transaction, past the waiter's busy timeout.
SQLITE_GAP = 0.12
Claimed = tuple[int, str]


class _HandlerFailed(Exception):
    """A handler raised in an optimistic batch (rolled back): `taken` timers to run again,
    but not `failed` (the one whose handler raised, when it ran alone): it keeps its lease
    and is tried again when the lease runs out, as a failed timer always was."""

    def __init__(self, taken: int, failed: frozenset[int]) -> None:
        super().__init__(f"a handler failed after {taken} timers")
        self.taken = taken
        self.failed = failed


class TimerRunner:
    def __init__(
        self,
        *,
        owner: str | None = None,
        batch: int = 500,
        lease: timedelta = timers.DEFAULT_LEASE,
        batched: bool = True,
        per_transaction: int = 250,
        budget: float = 0.25,
        gap: float | None = None,
    ) -> None:
        self.owner = owner or worker_id()
        self._batch = batch
        self._lease = lease
        self._batched = batched
        self._per_transaction = max(per_transaction, 1)
        self._budget = budget
        # How many timers the next transaction reads: as many as fit in the budget by the
        # last transaction's cost per timer (its reads and commit included), at most
        # `per_transaction`. Reading a full chunk and running two of it before the budget
        # ran out was most of a batch's time on a busy machine.
        self._fit = min(self._per_transaction, FIRST_FIT)
        # SQLite: a pause between two write transactions of this job while it drains a
        # backlog, so that a writer waiting on the lock gets it (see `_pause`).
        self._gap = gap
        self._last_write = float("-inf")

    def __call__(self, ctx: AppContext) -> float | None:
        self._pause(ctx)
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            claimed = timers.claim_due_ids(
                uow.session, now=now, owner=self.owner, limit=self._batch, lease=self._lease
            )
            # What we just claimed is under our lease now: the next one after this batch.
            upcoming = timers.next_due(uow.session, now=now)
            uow.commit()
        if self._batched:
            self._run_batches(ctx, claimed)
        else:
            for timer_id, kind in claimed:
                self._run_one(ctx, timer_id, kind)
        if len(claimed) >= self._batch:
            return 0.0
        if upcoming is None:
            return MAX_SLEEP
        # Timers due every few milliseconds (a storm): wake for the next one, not the poll.
        return min(max((upcoming - ctx.clock.now()).total_seconds(), 0.0), MAX_SLEEP)

    # --- many per transaction -------------------------------------------------------------

    def _run_batches(self, ctx: AppContext, claimed: Sequence[Claimed]) -> None:
        start = 0
        while start < len(claimed):
            chunk = claimed[start : start + self._fit]
            self._pause(ctx)
            began = time.monotonic()
            try:
                ran = self._run_batch(ctx, chunk)
                self._refit(ran, time.monotonic() - began)
            except _HandlerFailed as failed:
                # Optimistic run lost (rolled back): the timers it had taken, again, each
                # in a savepoint of its own, except the one that failed (its lease runs out).
                for timer_id in sorted(failed.failed):
                    log.error(
                        "timer %s failed; it will be retried", timer_id, exc_info=failed.__cause__
                    )
                self._last_write = time.monotonic()  # it held the lock all the same
                self._pause(ctx)
                ran = self._run_guarded(ctx, chunk[: failed.taken], skip=failed.failed)
            except Exception:
                log.exception(
                    "a transaction of %d timers failed as a whole; running them one by one",
                    len(chunk),
                )
                ran = self._run_one_by_one(ctx, chunk)
            start += ran
            self._last_write = time.monotonic()

    def _pause(self, ctx: AppContext) -> None:
        """On SQLite, wait until `gap` has passed since this job's last write transaction
        (only while it drains a backlog: an idle engine's last write is long past)."""
        gap = self._gap if self._gap is not None else SQLITE_GAP
        if ctx.db.dialect != "sqlite" or gap <= 0:
            return
        wait = self._last_write + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _refit(self, ran: int, seconds: float) -> None:
        if ran <= 0 or seconds <= 0:
            return
        fit = int(self._budget * 0.8 * ran / seconds)
        # Grow by at most doubling, so that one fast transaction does not overshoot.
        least = min(MIN_FIT, self._per_transaction)
        self._fit = max(least, min(fit, 2 * self._fit, self._per_transaction))

    def _run_guarded(
        self, ctx: AppContext, chunk: Sequence[Claimed], skip: frozenset[int] = frozenset()
    ) -> int:
        """Run `chunk` but `skip` with a savepoint per timer; one by one if even that fails."""
        try:
            return self._run_batch(ctx, chunk, savepoints=True, skip=skip)
        except Exception:
            log.exception(
                "a transaction of %d timers failed as a whole; running them one by one",
                len(chunk),
            )
            return self._run_one_by_one(ctx, chunk)

    def _run_one_by_one(self, ctx: AppContext, chunk: Sequence[Claimed]) -> int:
        for timer_id, kind in chunk:
            self._run_one(ctx, timer_id, kind)
        return len(chunk)

    def _run_batch(
        self,
        ctx: AppContext,
        chunk: Sequence[Claimed],
        *,
        savepoints: bool = False,
        skip: frozenset[int] = frozenset(),
    ) -> int:
        """Run claimed timers in one transaction until the chunk or the time budget is
        spent; return how many of the chunk were taken.

        Without `savepoints` (the first try) no handler gets a savepoint of its own: two
        statements less per timer. A handler that raises then rolls the whole transaction
        back and raises `_HandlerFailed` with the number of timers taken so far; the caller
        runs those again with `savepoints`, where the failing one rolls back alone."""
        started = time.monotonic()
        with ctx.db.unit_of_work() as uow:
            session = uow.session
            ids = [timer_id for timer_id, _ in chunk]
            query = select(Timer).where(
                timers.ids_in(session, Timer.id, ids),
                Timer.lease_owner == self.owner,
                Timer.status == timers.PENDING,
            )
            # Held here: the session keeps only weak references to what it loaded.
            _incidents = _load_incidents(session, ids, lock=ctx.db.dialect == "postgresql")
            if ctx.db.dialect == "postgresql":
                query = query.order_by(Timer.id).with_for_update()
            held = {timer.id: timer for timer in session.scalars(query)}
            taken = 0
            finished: list[int] = []
            while taken < len(chunk):
                if savepoints:
                    timer_id = chunk[taken][0]
                    taken += 1
                    timer = held.get(timer_id) if timer_id not in skip else None
                    # (None: another engine took it over after our lease ran out.)
                    if timer is not None and self._run_in_savepoint(ctx, session, timer):
                        finished.append(timer_id)
                else:
                    group = _group(chunk, taken, held)
                    taken += group.taken
                    try:
                        self._run_group(ctx, session, group.timers)
                    except Exception as exc:
                        events.discard(session)
                        uow.rollback()
                        alone = frozenset(t.id for t in group.timers if len(group.timers) == 1)
                        raise _HandlerFailed(taken, alone) from exc
                    finished += [timer.id for timer in group.timers]
                if time.monotonic() - started >= self._budget:
                    break
            # Marked done together, in the transaction that holds their effects.
            timers.finish_many(session, finished, owner=self.owner, now=ctx.clock.now())
            notify(session)
            uow.commit()
        return taken

    def _run_group(self, ctx: AppContext, session: Session, group: list[Timer]) -> None:
        """Run timers of one kind: its batch handler if it has one, else one by one."""
        if not group:
            return
        many = BATCH_HANDLERS.get(group[0].kind)
        if many is None or len(group) == 1:
            for timer in group:
                self._run_handler(ctx, session, timer)
            return
        many(ctx, session, group, ctx.clock.now())
        events.dispatch(session)

    def _run_handler(self, ctx: AppContext, session: Session, timer: Timer) -> None:
        handler = HANDLERS.get(timer.kind)
        if handler is None:
            log.error("no handler for timer kind %s; dropping timer %s", timer.kind, timer.key)
        else:
            handler(ctx, session, timer, ctx.clock.now())
        # The subscribers of what the handler did react in its transaction too.
        events.dispatch(session)

    def _run_in_savepoint(self, ctx: AppContext, session: Session, timer: Timer) -> bool:
        """Run one handler in a savepoint; return whether it succeeded."""
        timer_id, kind = timer.id, timer.kind
        try:
            with session.begin_nested():
                self._run_handler(ctx, session, timer)
        except Exception:
            events.discard(session)
            if not session.is_active:
                raise  # the transaction itself is lost, not only this savepoint
            # The lease runs out and the timer is tried again; handlers are idempotent.
            log.exception("timer %s (%s) failed; it will be retried", timer_id, kind)
            return False
        return True

    # --- one per transaction --------------------------------------------------------------

    def _run_one(self, ctx: AppContext, timer_id: int, kind: str) -> None:
        handler = HANDLERS.get(kind)
        now = ctx.clock.now()
        try:
            with ctx.db.unit_of_work() as uow:
                timer = uow.session.get(Timer, timer_id)
                if (
                    timer is None
                    or timer.lease_owner != self.owner
                    or timer.status != timers.PENDING
                ):
                    return  # another engine took it over after our lease ran out
                if handler is None:
                    log.error("no handler for timer kind %s; dropping timer %s", kind, timer.key)
                else:
                    handler(ctx, uow.session, timer, now)
                timers.finish(uow.session, timer_id=timer_id, owner=self.owner, now=now)
                notify(uow.session)
                uow.commit()
        except Exception:
            # The lease runs out and the timer is tried again; handlers are idempotent.
            log.exception("timer %s (%s) failed; it will be retried", timer_id, kind)


@dataclass
class _Group:
    timers: list[Timer]
    taken: int  # entries of the chunk it covers (timers fenced off included)


def _group(chunk: Sequence[Claimed], start: int, held: dict[int, Timer]) -> _Group:
    """The timers from `start` on that one call can run: the next one, with those that
    follow it of the same kind when that kind has a batch handler."""
    kind = chunk[start][1]
    end = start + 1
    if kind in BATCH_HANDLERS:
        while end < len(chunk) and chunk[end][1] == kind:
            end += 1
    found = [held.get(timer_id) for timer_id, _ in chunk[start:end]]
    return _Group([t for t in found if t is not None], end - start)


def _load_incidents(session: Session, timer_ids: list[int], *, lock: bool) -> list[Incident]:
    """Load the incidents these timers belong to, with their roles and services, in three
    queries, where the handlers would take two or three each (they find them in the
    session then). With `lock` (PostgreSQL) the incidents are locked in id order, before
    the timers: the order a request that changes an incident takes them (the incident,
    then cancelling its timers), so the two never wait on each other in a circle. One
    query both locks and loads them (they were two, the lock's an id scan of its own)."""
    ids = select(Timer.incident_id).where(
        timers.ids_in(session, Timer.id, timer_ids), Timer.incident_id.is_not(None)
    )
    query = (
        select(Incident)
        .where(Incident.id.in_(ids))
        .order_by(Incident.id)
        .options(selectinload(Incident.roles), selectinload(Incident.services))
    )
    if lock:
        query = query.with_for_update(of=Incident)
    return list(session.scalars(query))
