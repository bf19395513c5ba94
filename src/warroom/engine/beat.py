"""The engine's own heartbeat: one row per running engine, its `beat_at` moved every few
seconds, so that `warroom doctor` (and anyone reading the table) can tell whether an
engine is running. Rows of engines not seen for a day are removed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from warroom import __version__
from warroom.context import AppContext
from warroom.engine.models import EngineBeat
from warroom.engine.runner import Job

#: How often a running engine says so.
BEAT_SECONDS = 10.0
#: An engine silent for longer than this is taken to be gone (a pass can take a while).
SILENT_AFTER = timedelta(seconds=60)
_FORGET_AFTER = timedelta(days=1)


class Beat:
    def __init__(self, owner: str) -> None:
        self.owner = owner[:64]

    def __call__(self, ctx: AppContext) -> float:
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            session = uow.session
            row = session.scalar(select(EngineBeat).where(EngineBeat.owner == self.owner))
            if row is None:
                session.add(
                    EngineBeat(
                        owner=self.owner, version=__version__[:32], started_at=now, beat_at=now
                    )
                )
                session.execute(delete(EngineBeat).where(EngineBeat.beat_at < now - _FORGET_AFTER))
            else:
                row.beat_at = now
            uow.commit()
        return BEAT_SECONDS


def beat_job(owner: str) -> Job:
    return Job("engine-beat", Beat(owner), periodic=True)
