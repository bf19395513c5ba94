"""The `heartbeats` engine job: raise an alert for every heartbeat that missed its deadline."""

from __future__ import annotations

import logging

from warroom.context import AppContext
from warroom.engine.runner import Job
from warroom.heartbeats import service

log = logging.getLogger("warroom.heartbeats")

# Look again at least this often, so that a heartbeat created by another process (whose
# deadline this engine has not seen yet) is checked soon enough.
MAX_SLEEP_SECONDS = 30.0
BATCH = 100


def check_heartbeats(ctx: AppContext) -> float:
    """Alert on missed heartbeats (in its own transaction); return seconds until the next due."""
    with ctx.db.unit_of_work() as uow:
        raised = service.raise_missed(uow.session, now=ctx.clock.now(), limit=BATCH)
        uow.commit()
    if raised:
        log.info("raised %d missed-heartbeat alert(s)", len(raised))
        if len(raised) == BATCH:
            return 0.0  # more may be due
    with ctx.db.unit_of_work() as uow:
        upcoming = service.next_deadline(uow.session)
    if upcoming is None:
        return MAX_SLEEP_SECONDS
    # The deadline itself is not late yet (a check-in at the deadline is in time); wake just after.
    seconds = (upcoming - ctx.clock.now()).total_seconds() + 0.01
    return min(max(seconds, 0.0), MAX_SLEEP_SECONDS)


HEARTBEATS_JOB = Job(name="heartbeats", run=check_heartbeats, wakes=False)
