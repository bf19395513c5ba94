"""The timer job: claim due timers, run each handler in its own transaction, mark it done."""

from __future__ import annotations

import logging
from datetime import timedelta

from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import HANDLERS
from warroom.engine.models import Timer
from warroom.engine.runner import worker_id
from warroom.engine.wakeup import notify

log = logging.getLogger("warroom.timers")

MAX_SLEEP = 30.0


class TimerRunner:
    def __init__(
        self, *, owner: str | None = None, batch: int = 200, lease: timedelta = timers.DEFAULT_LEASE
    ) -> None:
        self.owner = owner or worker_id()
        self._batch = batch
        self._lease = lease

    def __call__(self, ctx: AppContext) -> float | None:
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            claimed = [
                (t.id, t.kind)
                for t in timers.claim_due(
                    uow.session, now=now, owner=self.owner, limit=self._batch, lease=self._lease
                )
            ]
            upcoming = timers.next_due(uow.session) if not claimed else None
            uow.commit()
        for timer_id, kind in claimed:
            self._run_one(ctx, timer_id, kind)
        if claimed:
            return 0.0 if len(claimed) >= self._batch else None
        if upcoming is None:
            return MAX_SLEEP
        return min(max((upcoming - ctx.clock.now()).total_seconds(), 0.0), MAX_SLEEP)

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
