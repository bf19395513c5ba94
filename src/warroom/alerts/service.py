"""Storing alert events: deduplicate on (integration, dedup key), count occurrences, follow
trigger / acknowledge / resolve. SQLAlchemy Core on the hot path; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from warroom.alerts.logic import Action, AlertEvent, AlertStatus
from warroom.alerts.models import Alert
from warroom.auth.logic import Principal
from warroom.db import insert_ignoring_conflict
from warroom.errors import NotFound
from warroom.incidents.models import Incident, IncidentParticipant

_ALERTS: Table = Alert.__table__  # type: ignore[assignment]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # another occurrence of an open alert
    DUPLICATE = "duplicate"  # the same firing delivered again
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DROPPED = "dropped"  # ack/resolve for nothing open, or a stale delivery


@dataclass(frozen=True)
class Source:
    """The integration an event arrived through."""

    integration_id: int
    service: str


@dataclass(frozen=True)
class Applied:
    dedup_key: str
    outcome: Outcome
    alert_id: int | None


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; nobody means one in an alert summary.
    return text.replace("\x00", "") if text else text


def _open_alert(session: Session, source: Source, key: str) -> Any:
    return session.execute(
        select(_ALERTS.c.id, _ALERTS.c.status, _ALERTS.c.instance).where(
            _ALERTS.c.integration_id == source.integration_id,
            _ALERTS.c.dedup_key == key,
            _ALERTS.c.resolved_at.is_(None),
        )
    ).first()


def apply_event(session: Session, *, source: Source, event: AlertEvent, now: datetime) -> Applied:
    key = event.dedup_key
    current = _open_alert(session, source, key)
    if event.action is Action.TRIGGER:
        return _trigger(session, source, event, now, current)
    if current is None:
        return Applied(key, Outcome.DROPPED, None)
    if event.instance is not None and current.instance not in (None, event.instance):
        return Applied(key, Outcome.DROPPED, current.id)  # resolves an older firing
    if event.action is Action.ACKNOWLEDGE:
        if current.status == AlertStatus.ACKNOWLEDGED:
            return Applied(key, Outcome.DUPLICATE, current.id)
        session.execute(
            update(_ALERTS)
            .where(_ALERTS.c.id == current.id)
            .values(
                status=AlertStatus.ACKNOWLEDGED.value,
                acknowledged_at=now,
                last_seen=now,
                routed_at=None,
            )
        )
        return Applied(key, Outcome.ACKNOWLEDGED, current.id)
    session.execute(
        update(_ALERTS)
        .where(_ALERTS.c.id == current.id)
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now, last_seen=now, routed_at=None)
    )
    return Applied(key, Outcome.RESOLVED, current.id)


def _trigger(
    session: Session, source: Source, event: AlertEvent, now: datetime, current: Any
) -> Applied:
    key = event.dedup_key
    fields = {
        "summary": _clean(event.summary) or key,
        "source": _clean(event.source),
        "severity": event.severity.value,
        "component": _clean(event.component),
        "group": _clean(event.group),
        "class_": _clean(event.class_),
        "labels": event.labels,
        "details": event.details,
        "payload": event.payload,
        "group_key": event.group_key,
    }
    if current is not None:
        if event.instance is not None and current.instance == event.instance:
            session.execute(update(_ALERTS).where(_ALERTS.c.id == current.id).values(last_seen=now))
            return Applied(key, Outcome.DUPLICATE, current.id)
        session.execute(
            update(Alert)
            .where(Alert.id == current.id)
            .values(
                occurrences=Alert.occurrences + 1, last_seen=now, instance=event.instance, **fields
            )
        )
        return Applied(key, Outcome.UPDATED, current.id)
    if event.instance is not None and _already_resolved(session, source, key, event.instance):
        return Applied(key, Outcome.DROPPED, None)  # a late copy of a firing that has ended
    values = {
        "integration_id": source.integration_id,
        "dedup_key": key,
        "status": AlertStatus.TRIGGERED.value,
        "service": source.service,
        "occurrences": 1,
        "started_at": event.timestamp,
        "first_seen": now,
        "last_seen": now,
        "suppressed": False,
        "instance": event.instance,
        **fields,
    }
    statement = _insert_ignoring_open_duplicate(session, values)
    alert_id = session.execute(statement).scalar()
    if alert_id is None:
        # Another writer opened the same key between our read and our insert: count it there.
        return _trigger(session, source, event, now, _open_alert(session, source, key))
    return Applied(key, Outcome.CREATED, alert_id)


def _insert_ignoring_open_duplicate(session: Session, values: dict[str, Any]) -> Any:
    columns = {Alert.__mapper__.attrs[k].columns[0].name: v for k, v in values.items()}
    return insert_ignoring_conflict(
        session,
        Alert,
        columns,
        conflict=["integration_id", "dedup_key"],
        where=_ALERTS.c.resolved_at.is_(None),
    )


def _already_resolved(session: Session, source: Source, key: str, instance: str) -> bool:
    return (
        session.execute(
            select(_ALERTS.c.id)
            .where(
                _ALERTS.c.integration_id == source.integration_id,
                _ALERTS.c.dedup_key == key,
                _ALERTS.c.instance == instance,
                _ALERTS.c.resolved_at.is_not(None),
            )
            .limit(1)
        ).first()
        is not None
    )


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilters:
    status: Sequence[AlertStatus] = ()
    integration: int | None = None
    dedup_key: str | None = None
    incident: int | None = None
    service: str | None = None


def _visible(query: Select[Alert], viewer: Principal) -> Select[Alert]:
    """Hide alerts of restricted incidents from those who may not see the incident."""
    if viewer.can_see(restricted=True, participants=set()):
        return query
    hidden = select(Incident.id).where(
        Incident.restricted.is_(True),
        Incident.id.not_in(
            select(IncidentParticipant.incident_id).where(
                IncidentParticipant.user == (viewer.user or "")
            )
        ),
    )
    return query.where(or_(Alert.incident_id.is_(None), Alert.incident_id.not_in(hidden)))


def list_alerts(
    session: Session, *, viewer: Principal, filters: AlertFilters, limit: int, offset: int
) -> tuple[list[Alert], int]:
    query = _visible(select(Alert), viewer)
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(Alert.status.in_([s.value for s in filters.status]))
    if filters.integration is not None:
        conditions.append(Alert.integration_id == filters.integration)
    if filters.dedup_key is not None:
        conditions.append(Alert.dedup_key == filters.dedup_key)
    if filters.incident is not None:
        conditions.append(Alert.incident_id == filters.incident)
    if filters.service is not None:
        conditions.append(Alert.service == filters.service)
    if conditions:
        query = query.where(and_(*conditions))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Alert.id.desc()).limit(limit).offset(offset)))
    return rows, total


def get(session: Session, *, alert_id: int, viewer: Principal) -> Alert:
    alert = session.scalar(_visible(select(Alert).where(Alert.id == alert_id), viewer))
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="id")
    return alert
