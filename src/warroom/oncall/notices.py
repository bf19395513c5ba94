"""People are told when their shift starts.

A job looks a little ahead in every schedule and schedules one `shift_start` timer per
handoff (the key names schedule, layer, user and instant, so looking again is a no-op).
The timer's handler checks the person is still the one going on call — an override may
have changed that since — and sends a low-urgency notice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.notifications.render import MessageContext, MessageKind
from warroom.notifications.service import notify_user
from warroom.oncall import service

LOOKAHEAD = timedelta(hours=2)
EVERY = 300.0  # seconds between look-aheads


def plan_shift_notices(ctx: AppContext) -> float:
    """Schedule a timer for every handoff in the next two hours."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        session = uow.session
        for defined in service.list_schedules(session, config=ctx.config):
            _plan_one(session, ctx, defined.name, now)
        notify(session)
        uow.commit()
    return EVERY


def _plan_one(session: Session, ctx: AppContext, name: str, now: datetime) -> None:
    _, shifts = service.schedule_shifts(
        session, config=ctx.config, name=name, start=now, end=now + LOOKAHEAD
    )
    last_end: dict[tuple[str | None, str], datetime] = {}
    for shift in shifts:
        key = (shift.layer, shift.user)
        continued = last_end.get(key) == shift.start
        last_end[key] = shift.end
        if continued or not now <= shift.start < now + LOOKAHEAD:
            continue
        timers.schedule(
            session,
            kind="shift_start",
            key=f"shift:{name}:{shift.layer or '-'}:{shift.user}:{shift.start.isoformat()}",
            due_at=shift.start,
            now=now,
            payload={
                "schedule": name,
                "layer": shift.layer,
                "user": shift.user,
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
            },
        )


@handles("shift_start")
def send_shift_notice(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    payload = timer.payload
    start = datetime.fromisoformat(payload["start"])
    entries = service.on_call(session, config=ctx.config, at=start, schedule=payload["schedule"])
    current = [e for e in entries if e.layer == payload["layer"] and e.user == payload["user"]]
    if not current:
        return  # an override moved the shift to someone else since it was planned
    shift = current[0]
    layer = f" ({payload['layer']})" if payload["layer"] else ""
    notify_user(
        session,
        config=ctx.config,
        user=payload["user"],
        context=MessageContext(
            kind=MessageKind.SHIFT,
            title=f"You are on call for {payload['schedule']}{layer}",
            schedule=payload["schedule"],
            shift_start=shift.start,
            shift_end=shift.end,
        ),
        reason="shift",
        key=timer.key,
        now=now,
        urgency="low",
    )
