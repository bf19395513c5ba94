"""The timer job: claim due timers, run them many per transaction, mark each one done.

A pass claims up to `batch` due timers (one short transaction that publishes the lease;
`SKIP LOCKED` on PostgreSQL, so engines side by side take disjoint batches; SQLite has one
writer at a time anyway). It then runs them in as few transactions as it can: each
transaction re-reads the claimed rows that this engine still holds (fencing: a timer that
another engine took over after our lease ran out is left to it; on PostgreSQL the rows
are locked, so nobody takes them over while the transaction runs), runs every handler in
a savepoint of its own and commits once. A handler that fails rolls back its savepoint
alone: its timer stays pending under our lease and is tried again once the lease runs
out, while the others commit. A transaction ends after `per_transaction` timers or
`budget` seconds, whichever comes first, so that a batch never holds SQLite's write lock
(or PostgreSQL row locks) for long. If a whole transaction fails (a lost connection, a
failed commit), its timers are run again one per transaction, as `batched=False` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from warroom import events
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import HANDLERS
from warroom.engine.models import Timer
from warroom.engine.runner import worker_id
from warroom.engine.wakeup import notify
from warroom.incidents.models import Incident

log = logging.getLogger("warroom.timers")

MAX_SLEEP = 30.0
Claimed = tuple[int, str]


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
    ) -> None:
        self.owner = owner or worker_id()
        self._batch = batch
        self._lease = lease
        self._batched = batched
        self._per_transaction = max(per_transaction, 1)
        self._budget = budget

    def __call__(self, ctx: AppContext) -> float | None:
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            claimed = [
                (t.id, t.kind)
                for t in timers.claim_due(
                    uow.session, now=now, owner=self.owner, limit=self._batch, lease=self._lease
                )
            ]
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
            chunk = claimed[start : start + self._per_transaction]
            try:
                ran = self._run_batch(ctx, chunk)
            except Exception:
                log.exception(
                    "a transaction of %d timers failed as a whole; running them one by one",
                    len(chunk),
                )
                for timer_id, kind in chunk:
                    self._run_one(ctx, timer_id, kind)
                ran = len(chunk)
            start += ran

    def _run_batch(self, ctx: AppContext, chunk: Sequence[Claimed]) -> int:
        """Run claimed timers in one transaction until the chunk or the time budget is
        spent; return how many of the chunk were taken."""
        started = time.monotonic()
        with ctx.db.unit_of_work() as uow:
            session = uow.session
            query = select(Timer).where(
                Timer.id.in_([timer_id for timer_id, _ in chunk]),
                Timer.lease_owner == self.owner,
                Timer.status == timers.PENDING,
            )
            if ctx.db.dialect == "postgresql":
                query = query.order_by(Timer.id).with_for_update()
            held = {timer.id: timer for timer in session.scalars(query)}
            # Held here: the session keeps only weak references to what it loaded.
            _incidents = _prefetch_incidents(session, held.values())
            taken = 0
            finished: list[int] = []
            for timer_id, _ in chunk:
                taken += 1
                timer = held.get(timer_id)
                # (None: another engine took it over after our lease ran out.)
                if timer is not None and self._run_in_savepoint(ctx, session, timer):
                    finished.append(timer_id)
                if time.monotonic() - started >= self._budget:
                    break
            # Marked done together, in the transaction that holds their effects.
            timers.finish_many(session, finished, owner=self.owner, now=ctx.clock.now())
            notify(session)
            uow.commit()
        return taken

    def _run_in_savepoint(self, ctx: AppContext, session: Session, timer: Timer) -> bool:
        """Run one handler in a savepoint; return whether it succeeded."""
        timer_id, kind = timer.id, timer.kind
        handler = HANDLERS.get(kind)
        now = ctx.clock.now()
        try:
            with session.begin_nested():
                if handler is None:
                    log.error("no handler for timer kind %s; dropping timer %s", kind, timer.key)
                else:
                    handler(ctx, session, timer, now)
                # The subscribers of what the handler did react inside its savepoint too.
                events.dispatch(session)
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


def _prefetch_incidents(session: Session, batch: Iterable[Timer]) -> list[Incident]:
    """Load the batch's incidents with their roles and services in three queries, where
    the handlers would take two or three each (they find them in the session then)."""
    ids = sorted({t.incident_id for t in batch if t.incident_id is not None})
    loaded: list[Incident] = []
    for start in range(0, len(ids), 500):
        loaded += session.scalars(
            select(Incident)
            .where(Incident.id.in_(ids[start : start + 500]))
            .options(selectinload(Incident.roles), selectinload(Incident.services))
        )
    return loaded
