"""People are told when their shift starts (seed 000's IC rotation: Monday 09:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification, Timer
from warroom.engine.timer_job import TimerRunner
from warroom.oncall.notices import plan_shift_notices


def _ic_notices(ctx: AppContext) -> list[tuple[str | None, str]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification).where(Notification.reason == "shift").order_by(Notification.id)
        )
        return sorted({(n.recipient, n.subject) for n in rows if "incident-commander" in n.subject})


def test_the_incoming_ic_is_told_at_the_monday_handoff(ctx: AppContext, clock: FakeClock) -> None:
    clock.set(datetime(2024, 3, 18, 8, 0, tzinfo=UTC))  # a Monday, an hour before handoff
    plan_shift_notices(ctx)
    plan_shift_notices(ctx)  # looking again schedules nothing twice
    with ctx.db.unit_of_work() as uow:
        keys = [
            t.key for t in uow.session.scalars(select(Timer).where(Timer.kind == "shift_start"))
        ]
    ic_keys = sorted(k for k in keys if k.startswith("shift:incident-commander:"))
    assert ic_keys == [
        "shift:incident-commander:primary:bob.wilson:2024-03-18T09:00:00+00:00",
        "shift:incident-commander:secondary:jane.smith:2024-03-18T09:00:00+00:00",
    ]
    runner = TimerRunner()
    runner(ctx)
    assert _ic_notices(ctx) == []  # nothing before the shift starts
    clock.set(datetime(2024, 3, 18, 9, 0, tzinfo=UTC))
    runner(ctx)
    notices = _ic_notices(ctx)
    assert {recipient for recipient, _ in notices} == {"bob.wilson", "jane.smith"}
    runner(ctx)
    assert _ic_notices(ctx) == notices  # a timer acts once
