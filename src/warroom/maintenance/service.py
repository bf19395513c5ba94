"""Maintenance windows: scheduled through the API (rows) or written in the configuration
(one-off or weekly). While a window of its service is open, an alert is recorded but
marked suppressed: it neither pages nor declares an incident.

A window is open at `t` when `starts_at <= t < ends_at` and it had not been cancelled by
`t`: cancelling ends a window early without rewriting the past, so an alert that arrived
while the window was open stays suppressed even when it is routed after the cancel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.clock import as_utc
from warroom.config.alerts import ConfiguredMaintenance, WeeklyMaintenance
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.maintenance.models import MaintenanceWindow

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Window:
    """A maintenance window as routing and the API see it, whichever its source."""

    service: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    source: Literal["api", "config"]
    id: int | None = None
    name: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    cancelled_at: datetime | None = None

    def open_at(self, at: datetime) -> bool:
        if self.cancelled_at is not None and at >= self.cancelled_at:
            return False
        return self.starts_at <= at < self.ends_at


# --- configured windows (pure) ------------------------------------------------------------


def weekly_occurrences(
    weekly: WeeklyMaintenance, around: datetime
) -> list[tuple[datetime, datetime]]:
    """The occurrences that start from a week before `around` to a week after it, in UTC."""
    zone = ZoneInfo(weekly.timezone)
    local = around.astimezone(zone)
    days = {_WEEKDAYS.index(d) for d in weekly.days}
    found: list[tuple[datetime, datetime]] = []
    for offset in range(-8, 9):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() not in days:
            continue
        start = datetime.combine(day, weekly.start, tzinfo=zone)
        start_utc = as_utc(start)
        found.append((start_utc, start_utc + weekly.duration))
    return found


def configured_windows(window: ConfiguredMaintenance, around: datetime) -> list[Window]:
    """A configured window's occurrences near `around`, one per service."""
    if window.weekly is not None:
        spans = weekly_occurrences(window.weekly, around)
    else:
        assert window.starts_at is not None and window.ends_at is not None
        spans = [(as_utc(window.starts_at), as_utc(window.ends_at))]
    return [
        Window(
            service=service,
            starts_at=start,
            ends_at=end,
            reason=window.reason,
            source="config",
            name=window.name,
        )
        for service in window.all_services
        for start, end in spans
    ]


def current_or_next(windows: Iterable[Window], now: datetime) -> list[Window]:
    """Per service, of one configured window's occurrences: the one open now, else the
    next, else the last."""
    best: dict[str, Window] = {}
    for window in windows:
        held = best.get(window.service)
        if held is None or _preference(window, now) < _preference(held, now):
            best[window.service] = window
    return list(best.values())


def _preference(window: Window, now: datetime) -> tuple[int, float]:
    if window.open_at(now):
        return (0, 0.0)
    if window.starts_at > now:
        return (1, (window.starts_at - now).total_seconds())
    return (2, (now - window.ends_at).total_seconds())


class Calendar:
    """Every window that may cover the times routing asks about."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self._by_service: dict[str, list[Window]] = {}
        for window in windows:
            self._by_service.setdefault(window.service, []).append(window)

    def covering(self, service: str, *times: datetime) -> Window | None:
        """The window of `service` open at any of `times`, if any."""
        for window in self._by_service.get(service, ()):
            if any(window.open_at(t) for t in times):
                return window
        return None


def load_calendar(
    session: Session, *, config: WarroomConfig, since: datetime, until: datetime
) -> Calendar:
    """The windows that may be open somewhere between `since` and `until`."""
    rows = session.scalars(
        select(MaintenanceWindow).where(
            MaintenanceWindow.starts_at <= until,
            MaintenanceWindow.ends_at > since,
            or_(MaintenanceWindow.cancelled_at.is_(None), MaintenanceWindow.cancelled_at > since),
        )
    )
    windows = [to_window(row) for row in rows]
    for configured in config.maintenance_windows:
        for around in {since, until}:
            windows.extend(configured_windows(configured, around))
    return Calendar(windows)


# --- scheduled windows (rows) -------------------------------------------------------------


def to_window(row: MaintenanceWindow) -> Window:
    return Window(
        service=row.service,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        source="api",
        id=row.id,
        created_by=row.created_by,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
    )


def create(
    session: Session,
    *,
    config: WarroomConfig,
    service: str,
    starts_at: datetime | None,
    ends_at: datetime,
    reason: str,
    actor: Principal,
    now: datetime,
) -> MaintenanceWindow:
    """Schedule a window for a service (from now when `starts_at` is not given)."""
    if config.services and config.service(service) is None:
        raise ValidationFailed(f"unknown service {service!r}", field="service")
    start = as_utc(starts_at) if starts_at is not None else now
    end = as_utc(ends_at)
    if end <= start:
        raise ValidationFailed("ends_at must be after starts_at", field="ends_at")
    if end <= now:
        raise ValidationFailed(
            "ends_at is in the past: the window would never open", field="ends_at"
        )
    row = MaintenanceWindow(
        service=service,
        starts_at=start,
        ends_at=end,
        reason=reason,
        created_by=actor.actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, *, window_id: int) -> MaintenanceWindow:
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        raise NotFound(f"no maintenance window {window_id}", field="id")
    return row


def cancel(session: Session, *, window_id: int, now: datetime) -> MaintenanceWindow:
    """End a window now (or drop one not yet begun); cancelling twice changes nothing."""
    row = get(session, window_id=window_id)
    if row.cancelled_at is not None:
        return row
    if row.ends_at <= now:
        raise Conflict(f"maintenance window {window_id} has already ended", field="id")
    row.cancelled_at = now
    return row


def list_windows(
    session: Session,
    *,
    config: WarroomConfig,
    now: datetime,
    active: bool | None = None,
    service: str | None = None,
) -> list[Window]:
    """Scheduled windows (newest first), then configured ones (their current or next
    occurrence); `active` keeps only those open now (True) or not open now (False)."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc())
    if service is not None:
        query = query.where(MaintenanceWindow.service == service)
    if active:
        query = query.where(
            MaintenanceWindow.starts_at <= now,
            MaintenanceWindow.ends_at > now,
            MaintenanceWindow.cancelled_at.is_(None),
        )
    windows = [to_window(row) for row in session.scalars(query.limit(1000))]
    for configured in config.maintenance_windows:
        shown = current_or_next(configured_windows(configured, now), now)
        windows.extend(w for w in shown if service is None or w.service == service)
    if active is not None:
        windows = [w for w in windows if w.open_at(now) == active]
    return windows
