"""Heartbeat monitors: register, check in, and raise an alert when a check-in is missed.

A heartbeat is an integration of type `heartbeat` with settings `{interval, grace}`. Its
deadline is the last check-in (or the creation) plus interval plus grace. When the
deadline passes, the `heartbeats` engine job raises one alert (dedup key `heartbeat`)
and marks the heartbeat as alerting; the next check-in resolves that alert and starts
a new deadline. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
from warroom.alerts.service import Applied, Source, apply_event
from warroom.config.durations import parse_duration
from warroom.errors import NotFound, ValidationFailed
from warroom.heartbeats.models import Heartbeat
from warroom.integrations.models import Integration
from warroom.integrations.service import IntegrationType

DEDUP_KEY = "heartbeat"
MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=35)
DEFAULT_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Timing:
    interval: timedelta
    grace: timedelta


def parse_settings(settings: dict[str, Any] | None) -> Timing:
    """Validate `settings.interval` (required, ≥ 10 s) and `settings.grace` (default 1 m)."""
    settings = settings or {}
    if settings.get("interval") is None:
        raise ValidationFailed(
            "settings.interval is required: how often the service checks in, e.g. '5m'",
            field="settings.interval",
        )
    interval = _duration(settings["interval"], "settings.interval")
    if interval < MIN_INTERVAL:
        raise ValidationFailed(
            f"settings.interval must be at least {int(MIN_INTERVAL.total_seconds())} seconds",
            field="settings.interval",
        )
    if interval > MAX_INTERVAL:
        raise ValidationFailed(
            f"settings.interval must be at most {MAX_INTERVAL.days} days", field="settings.interval"
        )
    grace = DEFAULT_GRACE
    if settings.get("grace") is not None:
        grace = _duration(settings["grace"], "settings.grace")
    if grace > MAX_INTERVAL:
        raise ValidationFailed(
            f"settings.grace must be at most {MAX_INTERVAL.days} days", field="settings.grace"
        )
    return Timing(interval=interval, grace=grace)


def _duration(value: Any, field: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: {exc}", field=field) from None


def register(session: Session, *, integration: Integration, now: datetime) -> Heartbeat:
    """Create the heartbeat of a new `heartbeat` integration; its first deadline runs from now."""
    timing = parse_settings(integration.settings)
    heartbeat = Heartbeat(
        integration_id=integration.id,
        interval_seconds=int(timing.interval.total_seconds()),
        grace_seconds=int(timing.grace.total_seconds()),
        last_checkin_at=None,
        deadline_at=now + timing.interval + timing.grace,
        alerting=False,
    )
    session.add(heartbeat)
    session.flush()
    return heartbeat


def _deadline(heartbeat: Heartbeat, after: datetime) -> datetime:
    return after + timedelta(seconds=heartbeat.interval_seconds + heartbeat.grace_seconds)


@dataclass(frozen=True)
class CheckIn:
    next_deadline: datetime
    resolved: Applied | None  # the missed-heartbeat alert this check-in resolved


def check_in(session: Session, *, key: str, now: datetime) -> CheckIn:
    """Record a check-in by integration key; resolve the alert if the heartbeat was alerting."""
    found = session.execute(
        select(Integration, Heartbeat)
        .join(Heartbeat, Heartbeat.integration_id == Integration.id)
        .where(
            Integration.key == key,
            Integration.type == IntegrationType.HEARTBEAT.value,
            Integration.disabled_at.is_(None),
        )
        .with_for_update(of=Heartbeat)
    ).first()
    if found is None:
        raise NotFound("no heartbeat with this key", field="key")
    integration, heartbeat = found
    resolved = None
    if heartbeat.alerting:
        resolved = apply_event(
            session,
            source=Source(integration_id=integration.id, service=integration.service),
            event=AlertEvent(
                action=Action.RESOLVE,
                dedup_key=DEDUP_KEY,
                summary=f"Heartbeat {integration.name} checked in",
                source="heartbeat",
            ),
            now=now,
        )
    heartbeat.last_checkin_at = now
    heartbeat.deadline_at = _deadline(heartbeat, now)
    heartbeat.alerting = False
    session.flush()
    return CheckIn(next_deadline=heartbeat.deadline_at, resolved=resolved)


def missed_summary(name: str, since: datetime) -> str:
    return f"Heartbeat {name} missed: no check-in since {since.isoformat().replace('+00:00', 'Z')}"


def raise_missed(session: Session, *, now: datetime, limit: int = 100) -> list[Applied]:
    """Raise an alert for each heartbeat whose deadline has passed and mark it alerting.

    On PostgreSQL the rows are claimed with FOR UPDATE SKIP LOCKED, so several engines
    share the work and a heartbeat checking in at this moment is left to its check-in.
    """
    due = session.execute(
        select(Heartbeat, Integration)
        .join(Integration, Integration.id == Heartbeat.integration_id)
        .where(
            Heartbeat.deadline_at < now,
            Heartbeat.alerting.is_(False),
            Integration.disabled_at.is_(None),
        )
        .order_by(Heartbeat.deadline_at)
        .limit(limit)
        .with_for_update(of=Heartbeat, skip_locked=True)
    ).all()
    raised = []
    for heartbeat, integration in due:
        since = heartbeat.last_checkin_at or integration.created_at
        event = AlertEvent(
            action=Action.TRIGGER,
            dedup_key=DEDUP_KEY,
            summary=missed_summary(integration.name, since),
            source="heartbeat",
            severity=AlertSeverity.CRITICAL,
            class_="heartbeat",
            details={
                "interval_seconds": heartbeat.interval_seconds,
                "grace_seconds": heartbeat.grace_seconds,
                "last_checkin_at": (
                    heartbeat.last_checkin_at.isoformat() if heartbeat.last_checkin_at else None
                ),
                "deadline_at": heartbeat.deadline_at.isoformat() if heartbeat.deadline_at else None,
            },
            payload={"heartbeat": integration.name},
        )
        raised.append(
            apply_event(
                session,
                source=Source(integration_id=integration.id, service=integration.service),
                event=event,
                now=now,
            )
        )
        heartbeat.alerting = True
    session.flush()
    return raised


def next_deadline(session: Session) -> datetime | None:
    """The earliest deadline of a heartbeat not already alerting."""
    return session.scalar(
        select(func.min(Heartbeat.deadline_at))
        .join(Integration, Integration.id == Heartbeat.integration_id)
        .where(Heartbeat.alerting.is_(False), Integration.disabled_at.is_(None))
    )


def get(session: Session, *, integration_id: int) -> Heartbeat | None:
    return session.get(Heartbeat, integration_id)
