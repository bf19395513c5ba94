"""Incident use cases. Each verb changes the incident and writes its timeline event in the
caller's transaction; none of them commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from warroom import events
from warroom.auth.logic import Principal
from warroom.authority.check import authorize
from warroom.config.authority import Action
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import checks, logic
from warroom.incidents.logic import Status, Timestamps
from warroom.incidents.models import Incident, IncidentParticipant, IncidentRole, IncidentService
from warroom.incidents.schemas import EventCreate, IncidentCreate, IncidentRead
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent


@dataclass(frozen=True)
class Filters:
    status: Sequence[Status] = ()
    severity: Sequence[str] = ()
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_key(key: str | int) -> int:
    """Accept `INC-42`, `inc-42` or `42`."""
    text = str(key).strip()
    if text.upper().startswith("INC-"):
        text = text[4:]
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise NotFound(f"no incident {key!r}", field="id")
    return int(text)


# --- reading ----------------------------------------------------------------------------


def _loaded() -> Select[Incident]:
    return select(Incident).options(
        selectinload(Incident.services),
        selectinload(Incident.roles),
        selectinload(Incident.participants),
    )


def _visible_to(query: Select[Incident], viewer: Principal) -> Select[Incident]:
    if viewer.can_see(restricted=True, participants=set()):
        return query
    participant_of = select(IncidentParticipant.incident_id).where(
        IncidentParticipant.user == (viewer.user or "")
    )
    return query.where(or_(Incident.restricted.is_(False), Incident.id.in_(participant_of)))


def get(
    session: Session, *, key: str | int, viewer: Principal, for_update: bool = False
) -> Incident:
    """Return the incident, or NotFound when it does not exist or the viewer may not see it."""
    number = parse_key(key)
    if number > 2**31 - 1:  # ids are 32-bit: no incident, not a database error
        raise NotFound(f"no incident {key!r}", field="id")
    query = _loaded().where(Incident.id == number)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Incident)
    incident = session.scalar(query)
    if incident is None or not viewer.can_see(
        restricted=incident.restricted, participants={p.user for p in incident.participants}
    ):
        # Restricted incidents are invisible, not forbidden: a 403 would confirm they exist.
        raise NotFound(f"no incident {key!r}", field="id")
    return incident


def list_incidents(
    session: Session, *, viewer: Principal, filters: Filters, limit: int, offset: int
) -> tuple[list[Incident], int]:
    query = _visible_to(select(Incident), viewer)
    if filters.status:
        query = query.where(Incident.status.in_([s.value for s in filters.status]))
    if filters.severity:
        query = query.where(Incident.severity.in_(list(filters.severity)))
    if filters.service:
        query = query.where(
            Incident.id.in_(
                select(IncidentService.incident_id).where(
                    IncidentService.service == filters.service
                )
            )
        )
    if filters.since:
        query = query.where(Incident.declared_at >= filters.since)
    if filters.until:
        query = query.where(Incident.declared_at < filters.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ids = list(
        session.scalars(
            query.with_only_columns(Incident.id)
            .order_by(Incident.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    if not ids:
        return [], total
    rows = {i.id: i for i in session.scalars(_loaded().where(Incident.id.in_(ids)))}
    return [rows[i] for i in ids], total


def timeline(session: Session, *, incident: Incident) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
            .order_by(TimelineEvent.timestamp, TimelineEvent.id)
        )
    )


def stamps(incident: Incident) -> Timestamps:
    return Timestamps(**{name: getattr(incident, name) for name in logic.TIMESTAMP_FIELDS})


def to_read(incident: Incident, *, now: datetime) -> IncidentRead:
    return IncidentRead(
        id=incident.key,
        number=incident.id,
        title=incident.title,
        description=incident.description,
        severity=incident.severity,
        type=incident.type,
        status=Status(incident.status),
        services=[s.service for s in incident.services],
        roles={r.role: r.user for r in incident.roles},
        restricted=incident.restricted,
        impact=incident.impact or {},
        created_by=incident.created_by,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        updated_at=incident.updated_at,
        duration_seconds=logic.duration_seconds(stamps(incident), now),
        participants=sorted(p.user for p in incident.participants),
        unfilled_roles=incident.unfilled_roles or [],
        drill=f"DRILL-{incident.drill_id}" if incident.drill_id is not None else None,
    )


# --- writing ----------------------------------------------------------------------------


def record(
    session: Session,
    *,
    incident: Incident,
    type: EventType | str,
    description: str,
    now: datetime,
    actor: str | None,
    source: EventSource = EventSource.HUMAN,
    timestamp: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> TimelineEvent:
    event = TimelineEvent(
        incident_id=incident.id,
        timestamp=timestamp or now,
        type=str(type),
        source=str(source),
        description=description,
        actor=actor,
        details=details or {},
        recorded_at=now,
    )
    session.add(event)
    return event


def join(incident: Incident, user: str, reason: str, now: datetime) -> None:
    """Make `user` a participant (who may see the incident even when it is restricted)."""
    if all(p.user != user for p in incident.participants):
        incident.participants.append(IncidentParticipant(user=user, reason=reason, added_at=now))


def declare(
    session: Session,
    *,
    config: WarroomConfig,
    data: IncidentCreate,
    actor: Principal,
    now: datetime,
    source: EventSource = EventSource.HUMAN,
    declared_by_rule: str | None = None,
) -> Incident:
    severity = checks.check_severity(config, data.severity)
    incident_type = None
    if data.type is not None:
        incident_type = config.incident_type(data.type)
        if incident_type is None:
            allowed = ", ".join(t.name for t in config.incident_types)
            raise ValidationFailed(
                f"unknown incident type {data.type!r}; one of: {allowed}", field="type"
            )
    services = list(dict.fromkeys(data.services))
    if config.services:
        for i, name in enumerate(services):
            if config.service(name) is None:
                raise ValidationFailed(f"unknown service {name!r}", field=f"services.{i}")
    if data.commander is not None:
        checks.check_user(config, data.commander, "commander")

    times: dict[str, datetime | None] = {
        name: checks.utc(getattr(data, name)) for name in logic.TIMESTAMP_FIELDS
    }
    for name, value in times.items():
        checks.check_not_future(value, now, name)
    times["declared_at"] = times["declared_at"] or now
    checks.check_order(times)

    if times["closed_at"] is not None:
        if times["resolved_at"] is None:
            raise ValidationFailed("closed_at needs resolved_at", field="resolved_at")
        status = Status.CLOSED
    elif times["resolved_at"] is not None:
        status = Status.RESOLVED
    elif times["mitigated_at"] is not None:
        status = Status.MONITORING
    else:
        status = Status.INVESTIGATING

    restricted = data.restricted
    if restricted is None:
        restricted = bool(incident_type and incident_type.restricted)

    incident = Incident(
        title=data.title,
        description=data.description,
        severity=severity,
        type=data.type,
        status=status.value,
        restricted=restricted,
        impact=data.impact,
        created_by=actor.actor,
        declared_by_rule=declared_by_rule,
        updated_at=now,
        # A new incident has no roles or participants yet: said here, reading them does not
        # ask the database.
        roles=[],
        participants=[],
        **times,
    )
    incident.services = [IncidentService(service=name) for name in services]
    session.add(incident)
    session.flush()  # the number is needed for the timeline rows

    if actor.user:
        join(incident, actor.user, "declarer", now)
    declared_at = times["declared_at"]
    assert declared_at is not None
    details: dict[str, Any] = {"initial_severity": severity}
    if services:
        details["services"] = services
    if data.type:
        details["type"] = data.type
    if restricted:
        details["restricted"] = True
    record(
        session,
        incident=incident,
        type=EventType.DECLARATION,
        description=f"Incident declared at {severity}: {data.title}",
        now=now,
        actor=actor.actor,
        source=source,
        timestamp=declared_at,
        details=details,
    )
    for name, label in (
        ("acknowledged_at", "Incident acknowledged"),
        ("mitigated_at", "Impact mitigated"),
        ("resolved_at", "Incident resolved"),
        ("closed_at", "Incident closed"),
    ):
        value = times[name]
        if value is not None and data.model_fields_set & {name}:
            record(
                session,
                incident=incident,
                type=EventType.RESOLUTION if name == "resolved_at" else EventType.STATUS_CHANGE,
                description=f"{label} (imported)",
                now=now,
                actor=actor.actor,
                timestamp=value,
            )
    events.publish(
        session,
        events.IncidentDeclared(
            incident_id=incident.id, at=declared_at, severity=severity, services=tuple(services)
        ),
        subject=incident,  # its subscribers (SLA, staffing, escalation…) find it in the session
    )
    if data.impact:
        events.publish(
            session, events.ImpactChanged(incident_id=incident.id, at=now, impact=data.impact)
        )
    if data.commander:
        assign_role(
            session,
            config=config,
            incident=incident,
            role="incident_commander",
            user=data.commander,
            actor=actor,
            now=now,
            check=False,
        )
    return incident


def _touch(incident: Incident, now: datetime) -> None:
    incident.updated_at = now


def acknowledge(
    session: Session,
    *,
    incident: Incident,
    actor: Principal,
    now: datetime,
    message: str | None = None,
) -> bool:
    """Acknowledge; return False when it already was (acknowledging twice is harmless)."""
    if incident.status in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(f"{incident.key} is {incident.status}; there is nothing to acknowledge")
    if incident.acknowledged_at is not None:
        # Already acknowledged, but paging may have restarted (an acknowledgement timeout):
        # tell the subscribers again so that this acknowledgement stops it too.
        events.publish(
            session, events.IncidentAcknowledged(incident_id=incident.id, at=now, by=actor.actor)
        )
        return False
    ack_at = max(now, incident.declared_at)
    incident.acknowledged_at = ack_at
    if actor.user:
        join(incident, actor.user, "responder", now)
    _touch(incident, now)
    record(
        session,
        incident=incident,
        type=EventType.ACKNOWLEDGEMENT,
        description=message or f"Acknowledged by {actor.actor}",
        now=now,
        actor=actor.actor,
        timestamp=ack_at,
    )
    events.publish(
        session, events.IncidentAcknowledged(incident_id=incident.id, at=ack_at, by=actor.actor)
    )
    return True


def change_status(
    session: Session,
    *,
    incident: Incident,
    status: Status,
    message: str | None,
    public: bool,
    actor: Principal,
    now: datetime,
    components: Mapping[str, str] | None = None,
) -> None:
    current = Status(incident.status)
    try:
        logic.check_transition(current, status)
    except logic.TransitionRefused as exc:
        raise Conflict(str(exc), field="status") from exc
    config = session.info.get("config")
    if status in (Status.RESOLVED, Status.CLOSED) and isinstance(config, WarroomConfig):
        authorize(
            session, config=config, incident=incident, action=Action.RESOLVE, actor=actor, now=now
        )
    at = max(now, incident.declared_at)
    changes = logic.stamps_for_transition(stamps(incident), status, at)
    for name, value in changes.items():
        setattr(incident, name, value)
    incident.status = status.value
    _touch(incident, now)
    details: dict[str, Any] = {"from": current.value, "to": status.value}
    if public:
        details["public"] = True
    reopened = current is Status.RESOLVED and status is Status.INVESTIGATING
    headline = {
        Status.RESOLVED: "Incident resolved",
        Status.CLOSED: "Incident closed",
    }.get(status, "Incident reopened" if reopened else f"Status changed to {status.value}")
    record(
        session,
        incident=incident,
        type=EventType.RESOLUTION if status is Status.RESOLVED else EventType.STATUS_CHANGE,
        description=f"{headline}: {message}" if message else headline,
        now=now,
        actor=actor.actor,
        timestamp=at,
        details=details,
    )
    events.publish(
        session,
        events.StatusChanged(
            incident_id=incident.id,
            at=at,
            previous=current.value,
            current=status.value,
            public=public,
            message=message,
            components=dict(components or {}),
        ),
    )


def change_severity(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    severity: str,
    reason: str,
    actor: Principal,
    now: datetime,
) -> None:
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; its severity is final")
    new = checks.check_severity(config, severity)
    old = incident.severity
    if new == old:
        raise Conflict(f"{incident.key} is already {new}", field="severity")
    authorize(
        session,
        config=config,
        incident=incident,
        action=Action.CHANGE_SEVERITY,
        actor=actor,
        now=now,
    )
    # Lower rank is more severe; an unknown old level (renamed scheme) counts as least severe.
    old_rank = _rank_or_last(config, old)
    upgrade = config.severity_rank(new) < old_rank
    incident.severity = new
    _touch(incident, now)
    verb = "Upgraded" if upgrade else "Downgraded"
    record(
        session,
        incident=incident,
        type=EventType.ESCALATION if upgrade else EventType.SEVERITY_CHANGE,
        description=f"{verb} from {old} to {new}: {reason}",
        now=now,
        actor=actor.actor,
        details={"previous_severity": old, "new_severity": new, "reason": reason},
    )
    events.publish(
        session, events.SeverityChanged(incident_id=incident.id, at=now, previous=old, current=new)
    )


def _rank_or_last(config: WarroomConfig, name: str) -> int:
    try:
        return config.severity_rank(name)
    except KeyError:
        return len(config.severities) + 1


def assign_role(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    role: str,
    user: str,
    actor: Principal,
    now: datetime,
    check: bool = True,
) -> bool:
    """Give `role` to `user`; return False when they already held it."""
    # check=False: the declarer naming the first commander, the IC rotation.
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; its roles are final")
    checks.check_role(config, role)
    checks.check_user(config, user, "user")
    current = next((r for r in incident.roles if r.role == role), None)
    if current is not None and current.user == user:
        return False
    if check:
        authorize(
            session,
            config=config,
            incident=incident,
            action=Action.ASSIGN_ROLES,
            actor=actor,
            now=now,
        )
    previous = current.user if current else None
    if current is None:
        incident.roles.append(
            IncidentRole(role=role, user=user, assigned_at=now, assigned_by=actor.actor)
        )
    else:
        current.user, current.assigned_at, current.assigned_by = user, now, actor.actor
    join(incident, user, "role", now)
    _touch(incident, now)
    title = config.roles[role].title
    description = (
        f"{title} reassigned from {previous} to {user}"
        if previous
        else f"{user} assigned as {title}"
    )
    details: dict[str, Any] = {"role": role, "user": user}
    if previous:
        details["previous_user"] = previous
    record(
        session,
        incident=incident,
        type=EventType.ROLE_CHANGE,
        description=description,
        now=now,
        actor=actor.actor,
        details=details,
    )
    events.publish(
        session, events.RoleAssigned(incident_id=incident.id, at=now, role=role, user=user)
    )
    return True


def unassign_role(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    role: str,
    actor: Principal,
    now: datetime,
) -> None:
    checks.check_role(config, role)
    current = next((r for r in incident.roles if r.role == role), None)
    if current is None:
        raise NotFound(f"nobody holds {role} on {incident.key}", field="role")
    authorize(
        session, config=config, incident=incident, action=Action.ASSIGN_ROLES, actor=actor, now=now
    )
    incident.roles.remove(current)
    _touch(incident, now)
    record(
        session,
        incident=incident,
        type=EventType.ROLE_CHANGE,
        description=f"{current.user} stood down as {config.roles[role].title}",
        now=now,
        actor=actor.actor,
        details={"role": role, "previous_user": current.user},
    )


def add_participant(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    user: str,
    actor: Principal,
    now: datetime,
) -> None:
    checks.check_user(config, user, "user")
    if any(p.user == user for p in incident.participants):
        return
    join(incident, user, "invited", now)
    _touch(incident, now)
    record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"{user} added to the incident",
        now=now,
        actor=actor.actor,
        details={"participant": user},
    )


def add_service(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    service: str,
    actor: Principal,
    now: datetime,
) -> None:
    if config.services and config.service(service) is None:
        raise ValidationFailed(f"unknown service {service!r}", field="service")
    if any(s.service == service for s in incident.services):
        return
    incident.services.append(IncidentService(service=service))
    _touch(incident, now)
    record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"Service {service} added to the incident",
        now=now,
        actor=actor.actor,
        details={"service": service},
    )


def add_event(
    session: Session, *, incident: Incident, data: EventCreate, actor: Principal, now: datetime
) -> TimelineEvent:
    try:
        event_type = EventType(data.type)
    except ValueError:
        allowed = ", ".join(t.value for t in EventType)
        raise ValidationFailed(
            f"unknown event type {data.type!r}; one of: {allowed}", field="type"
        ) from None
    checks.check_not_future(data.timestamp, now, "timestamp")
    _touch(incident, now)
    event = record(
        session,
        incident=incident,
        type=event_type,
        description=data.description,
        now=now,
        actor=data.actor or actor.actor,
        source=data.source,
        timestamp=checks.utc(data.timestamp),
        details=data.details,
    )
    session.flush()
    events.publish(
        session,
        events.TimelineEventAdded(incident_id=incident.id, at=event.timestamp, type=event.type),
    )
    return event


def update_impact(
    session: Session, *, incident: Incident, impact: dict[str, Any], actor: Principal, now: datetime
) -> dict[str, Any]:
    """Merge new impact facts (revenue loss, data exposed, vendor failure…); return what changed."""
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; its impact is final")
    current = dict(incident.impact or {})
    changed = {k: v for k, v in impact.items() if current.get(k) != v}
    if not changed:
        return {}
    incident.impact = {**current, **changed}
    _touch(incident, now)
    record(
        session,
        incident=incident,
        type=EventType.INVESTIGATION,
        description="Impact assessment updated: "
        + ", ".join(f"{k}={v}" for k, v in changed.items()),
        now=now,
        actor=actor.actor,
        details={"impact": changed},
    )
    events.publish(session, events.ImpactChanged(incident_id=incident.id, at=now, impact=changed))
    return changed
