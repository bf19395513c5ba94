"""Scheduled maintenance on the status page.

A maintenance names components and a window. It creates the maintenance windows of the
services behind those components (so alerts during it are recorded as suppressed, as for
any window), moves scheduled → in_progress → completed by itself (engine timers at its
start and end, which also tell subscribers), and reminds subscribers an hour before it
starts. Services never commit; the timers' handlers run in the engine's transaction.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.clock import as_utc
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.maintenance import service as windows
from warroom.statuspage import service, subscriptions
from warroom.statuspage.logic import (
    REMINDER_BEFORE,
    MaintenanceStatus,
    maintenance_status,
    stable_id,
)
from warroom.statuspage.models import StatusMaintenance

REMIND, START, END = "status_maint_remind", "status_maint_start", "status_maint_end"


def status_of(row: StatusMaintenance, now: datetime) -> MaintenanceStatus:
    return maintenance_status(
        MaintenanceStatus(row.status),
        auto=row.auto_transition,
        start=row.scheduled_for,
        end=row.scheduled_until,
        now=now,
    )


def get(session: Session, *, maintenance_id: int) -> StatusMaintenance:
    row = session.get(StatusMaintenance, maintenance_id)
    if row is None:
        raise NotFound(f"no scheduled maintenance {maintenance_id}", field="id")
    return row


def list_maintenances(session: Session, *, limit: int = 100) -> list[StatusMaintenance]:
    query = select(StatusMaintenance).order_by(StatusMaintenance.scheduled_for.desc())
    return list(session.scalars(query.limit(limit)))


def create(
    session: Session,
    *,
    config: WarroomConfig,
    name: str,
    body: str,
    components: list[str],
    scheduled_for: datetime,
    scheduled_until: datetime,
    auto_transition: bool,
    actor: Principal,
    now: datetime,
) -> StatusMaintenance:
    """Schedule maintenance of components; their services' windows come with it."""
    start, end = as_utc(scheduled_for), as_utc(scheduled_until)
    if end <= start:
        raise ValidationFailed(
            "scheduled_until: must be after scheduled_for", field="scheduled_until"
        )
    if end <= now:
        raise ValidationFailed("scheduled_until: is in the past", field="scheduled_until")
    if not components:
        raise ValidationFailed("components: name at least one component", field="components")
    for index, component in enumerate(components):
        if service.get_by_name(session, name=component) is None:
            raise ValidationFailed(
                f"components.{index}: no status page component named {component!r}",
                field=f"components.{index}",
            )
    behind = {c.name: c.services for c in config.status_page.components}
    window_ids = []
    for service_name in sorted({s for c in components for s in behind.get(c, [])}):
        window = windows.create(
            session,
            config=config,
            service=service_name,
            starts_at=start,
            ends_at=end,
            reason=f"Scheduled maintenance: {name}",
            actor=actor,
            now=now,
        )
        window_ids.append(window.id)
    row = StatusMaintenance(
        name=name,
        body=body,
        components=list(components),
        window_ids=window_ids,
        scheduled_for=start,
        scheduled_until=end,
        status=MaintenanceStatus.SCHEDULED.value,
        auto_transition=auto_transition,
        created_by=actor.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if start - REMINDER_BEFORE > now:
        timers.schedule(
            session, kind=REMIND, key=f"{REMIND}:{row.id}", due_at=start - REMINDER_BEFORE,
            now=now, payload={"maintenance": row.id},
        )  # fmt: skip
    if auto_transition:
        for kind, at in ((START, start), (END, end)):
            timers.schedule(
                session, kind=kind, key=f"{kind}:{row.id}", due_at=max(at, now), now=now,
                payload={"maintenance": row.id},
            )  # fmt: skip
    _tell(session, row, "scheduled", now)
    service.mark_changed(session, now=now)
    return row


def set_status(
    session: Session, *, row: StatusMaintenance, status: MaintenanceStatus, now: datetime
) -> StatusMaintenance:
    """A person moves the maintenance on: in_progress, verifying, or completed (which ends
    its windows and timers at once)."""
    current = status_of(row, now)
    if current is MaintenanceStatus.COMPLETED:
        raise Conflict(f"maintenance {row.id} is already completed", field="status")
    if status is MaintenanceStatus.SCHEDULED:
        raise ValidationFailed("status: a maintenance cannot go back to scheduled", field="status")
    row.status = status.value
    row.updated_at = now
    if status is MaintenanceStatus.COMPLETED:
        for window_id in row.window_ids:
            with contextlib.suppress(Conflict, NotFound):  # already over
                windows.cancel(session, window_id=window_id, now=now)
        for kind in (REMIND, START, END):
            timers.cancel(session, now=now, kinds=[kind], key_prefix=f"{kind}:{row.id}")
    _tell(session, row, status.value, now)
    service.mark_changed(session, now=now)
    return row


_WORDING = {
    "scheduled": ("Scheduled maintenance: {name}", "{name} is scheduled from {start} to {end}."),
    "reminder": ("Maintenance starts soon: {name}", "{name} starts at {start} (until {end})."),
    "in_progress": ("Maintenance in progress: {name}", "{name} has begun; it lasts until {end}."),
    "verifying": ("Maintenance being verified: {name}", "{name} is done; we are verifying it."),
    "completed": ("Maintenance completed: {name}", "{name} is complete."),
}


def _tell(session: Session, row: StatusMaintenance, what: str, now: datetime) -> None:
    subject, text = _WORDING[what]
    facts = {
        "name": row.name,
        "start": row.scheduled_for.strftime("%Y-%m-%d %H:%M UTC"),
        "end": row.scheduled_until.strftime("%Y-%m-%d %H:%M UTC"),
    }
    url = subscriptions.page_url(session)
    code = stable_id("maintenance-status", row.id)
    message = text.format(**facts) + (f"\n\n{row.body}" if row.body else "")
    subscriptions.notify_all(
        session,
        key=f"status-maint:{row.id}:{what}",
        subject=subject.format(**facts),
        text=f"{message}\n\nDetails: {url}/incidents/{code}",
        document={
            "scheduled_maintenance": {
                "id": code,
                "name": row.name,
                "status": "in_progress" if what == "reminder" else what,
                "scheduled_for": row.scheduled_for.isoformat(),
                "scheduled_until": row.scheduled_until.isoformat(),
                "components": list(row.components),
                "body": row.body,
            },
            "event": what,
        },
        now=now,
    )


def _handled(ctx: AppContext, session: Session, timer: Timer, now: datetime, what: str) -> None:
    row = session.get(StatusMaintenance, int(timer.payload.get("maintenance", 0)))
    if row is None or MaintenanceStatus(row.status) is MaintenanceStatus.COMPLETED:
        return  # gone, or a person completed it already
    if what == "in_progress" and MaintenanceStatus(row.status) is not MaintenanceStatus.SCHEDULED:
        return  # a person already moved it on
    if what == "completed":
        row.status = MaintenanceStatus.COMPLETED.value
    elif what == "in_progress":
        row.status = MaintenanceStatus.IN_PROGRESS.value
    row.updated_at = now
    _tell(session, row, what, now)
    service.mark_changed(session, now=now)


@handles(REMIND)
def _remind(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """An hour before the start: tell the subscribers."""
    row = session.get(StatusMaintenance, int(timer.payload.get("maintenance", 0)))
    if row is not None and status_of(row, now) is MaintenanceStatus.SCHEDULED:
        _tell(session, row, "reminder", now)


@handles(START)
def _start(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """The window opens: in progress."""
    _handled(ctx, session, timer, now, "in_progress")


@handles(END)
def _end(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """The window closes: completed."""
    _handled(ctx, session, timer, now, "completed")
