"""Status page use cases: components, public incidents (the projection), the change marker.

Services never commit. Every public change bumps `status_page_state.version` in the
caller's transaction; the publisher renders when the version it last wrote is behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from warroom import events
from warroom.config.incidents import ComponentStatus
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents.models import Incident
from warroom.statuspage import subscriptions, sync
from warroom.statuspage.logic import (
    COMPONENT_RANK,
    DEFAULT_BODY,
    Impact,
    PublicStatus,
    StatusSource,
    default_title,
    impact_of,
    page_indicator,
    public_status_for,
    worse_impact,
)
from warroom.statuspage.models import (
    PublicIncident,
    PublicIncidentUpdate,
    StatusComponent,
    StatusComponentChange,
    StatusPageState,
)

STATE_ID = 1


# --- the change marker --------------------------------------------------------------------


def mark_changed(session: Session, *, now: datetime) -> None:
    """Record that the public page changed, so the publisher renders it again."""
    state = session.get(StatusPageState, STATE_ID, with_for_update=True)
    if state is None:
        session.add(StatusPageState(id=STATE_ID, version=1, changed_at=now))
    else:
        state.version += 1
        state.changed_at = now


def current_version(session: Session) -> int:
    return int(session.scalar(select(StatusPageState.version)) or 0)


# --- components ---------------------------------------------------------------------------


def list_components(session: Session) -> list[StatusComponent]:
    return list(
        session.scalars(
            select(StatusComponent).order_by(StatusComponent.position, StatusComponent.id)
        )
    )


def get_by_name(session: Session, *, name: str) -> StatusComponent | None:
    return session.scalar(select(StatusComponent).where(StatusComponent.name == name))


def get_by_name_or_raise(session: Session, *, name: str, field: str = "name") -> StatusComponent:
    component = get_by_name(session, name=name)
    if component is None:
        raise NotFound(f"no status page component named {name!r}", field=field)
    return component


def _set_status(
    session: Session,
    component: StatusComponent,
    status: ComponentStatus,
    source: StatusSource,
    now: datetime,
) -> bool:
    if component.status == status.value:
        component.status_source = source.value
        return False
    component.status = status.value
    component.status_source = source.value
    component.updated_at = now
    session.add(StatusComponentChange(component_id=component.id, status=status.value, at=now))
    return True


def sync_components(session: Session, *, config: WarroomConfig, now: datetime) -> bool:
    """Create the configured components that are missing and refresh their description,
    group and order; components made through the API stay as they are."""
    changed = False
    existing = {c.name: c for c in list_components(session)}
    for position, wanted in enumerate(config.status_page.components):
        row = existing.get(wanted.name)
        if row is None:
            row = StatusComponent(
                name=wanted.name,
                description=wanted.description,
                group_name=wanted.group,
                position=position,
                status=wanted.status.value,
                status_source=StatusSource.CONFIG.value,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            session.add(StatusComponentChange(component_id=row.id, status=row.status, at=now))
            changed = True
        elif (row.description, row.group_name, row.position) != (
            wanted.description,
            wanted.group,
            position,
        ):
            row.description, row.group_name, row.position = (
                wanted.description,
                wanted.group,
                position,
            )
            changed = True
    if changed:
        mark_changed(session, now=now)
    return changed


def create_component(
    session: Session,
    *,
    name: str,
    description: str,
    group: str | None,
    status: ComponentStatus,
    now: datetime,
) -> StatusComponent:
    if get_by_name(session, name=name) is not None:
        raise Conflict(f"a component named {name!r} exists", field="name")
    position = int(session.scalar(select(func.max(StatusComponent.position))) or 0) + 1
    row = StatusComponent(
        name=name,
        description=description,
        group_name=group,
        position=position,
        status=status.value,
        status_source=StatusSource.MANUAL.value,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    session.add(StatusComponentChange(component_id=row.id, status=row.status, at=now))
    mark_changed(session, now=now)
    return row


def update_component(
    session: Session,
    *,
    component: StatusComponent,
    now: datetime,
    status: ComponentStatus | None = None,
    description: str | None = None,
    group: str | None = None,
) -> StatusComponent:
    if status is not None and _set_status(session, component, status, StatusSource.MANUAL, now):
        session.flush()
        change = session.scalar(
            select(func.max(StatusComponentChange.id)).where(
                StatusComponentChange.component_id == component.id
            )
        )
        sync.plan_component(
            session, name=component.name, status=status.value, change=int(change or 0), now=now
        )
    if description is not None:
        component.description = description
    if group is not None:
        component.group_name = group or None
    component.updated_at = now
    mark_changed(session, now=now)
    return component


def _resolve_components(
    session: Session, wanted: Mapping[str, str]
) -> list[tuple[StatusComponent, ComponentStatus]]:
    """Check every named component and status; a bad one is a 422 naming it."""
    out = []
    for name, raw in wanted.items():
        try:
            status = ComponentStatus(raw)
        except ValueError:
            raise ValidationFailed(
                f"components.{name}: {raw!r} is not a component status "
                f"({', '.join(s.value for s in ComponentStatus)})",
                field=f"components.{name}",
            ) from None
        component = get_by_name(session, name=name)
        if component is None:
            raise ValidationFailed(
                f"components.{name}: no status page component has this name",
                field=f"components.{name}",
            )
        out.append((component, status))
    return out


# --- public incidents ---------------------------------------------------------------------


def get_public(session: Session, *, incident_id: int) -> PublicIncident | None:
    return session.scalar(
        select(PublicIncident)
        .where(PublicIncident.incident_id == incident_id)
        .options(selectinload(PublicIncident.updates))
    )


def list_public(
    session: Session, *, unresolved_only: bool = False, limit: int = 50
) -> list[PublicIncident]:
    query = select(PublicIncident).options(selectinload(PublicIncident.updates))
    if unresolved_only:
        query = query.where(PublicIncident.resolved_at.is_(None))
    query = query.order_by(PublicIncident.created_at.desc(), PublicIncident.id.desc()).limit(limit)
    return list(session.scalars(query))


def publish_update(
    session: Session,
    *,
    incident: Incident,
    status: PublicStatus,
    body: str | None,
    now: datetime,
    actor: str | None,
    components: Mapping[str, str] | None = None,
    title: str | None = None,
    allow_restricted: bool = False,
) -> PublicIncident:
    """Add a public update to the incident's public projection (made on the first one).

    Only `body`, `title` and the components' statuses become public: never the internal
    title, timeline or people. A restricted incident is refused unless an admin asks.
    """
    if incident.drill_id is not None:
        raise Conflict(f"{incident.key} is a drill; drills are never published", field="incident")
    if incident.restricted and not allow_restricted:
        raise Conflict(
            f"{incident.key} is restricted; only an admin may publish it", field="incident"
        )
    resolved = _resolve_components(session, components or {})
    public = get_public(session, incident_id=incident.id)
    names = [c.name for c, _ in resolved]
    if public is None:
        public = PublicIncident(
            incident_id=incident.id,
            name=title or default_title(names),
            status=status.value,
            impact=Impact.NONE.value,
            components={},
            created_at=now,
            updated_at=now,
        )
        session.add(public)
        session.flush()
    elif title:
        public.name = title
    affected: dict[str, Any] = dict(public.components)
    changes: dict[str, Any] = {}
    for component, new_status in resolved:
        changes[component.name] = {"old_status": component.status, "new_status": new_status.value}
        affected[component.name] = new_status.value
        _set_status(session, component, new_status, StatusSource.INCIDENT, now)
    if status is PublicStatus.RESOLVED:
        changes.update(_restore_components(session, public, now))
        public.resolved_at = public.resolved_at or now
    else:
        public.resolved_at = None
    public.components = affected
    public.status = status.value
    public.impact = worse_impact(
        Impact(public.impact), impact_of(ComponentStatus(s) for s in affected.values())
    ).value
    public.updated_at = now
    update = PublicIncidentUpdate(
        public_incident_id=public.id,
        status=status.value,
        body=(body or "").strip() or DEFAULT_BODY[status],
        components=changes,
        created_by=actor,
        created_at=now,
    )
    session.add(update)
    session.flush()
    public.updates.insert(0, update)
    mark_changed(session, now=now)
    subscriptions.notify_update(
        session, public=public, update=update, indicator=_indicator(session), now=now
    )
    sync.plan_update(session, update=update, now=now)
    return public


def _indicator(session: Session) -> dict[str, str]:
    """The page's indicator now, as Statuspage's webhooks carry it."""
    statuses = [ComponentStatus(c.status) for c in list_components(session)]
    impacts = [
        Impact(i)
        for i in session.scalars(
            select(PublicIncident.impact).where(PublicIncident.resolved_at.is_(None))
        )
    ]
    found = page_indicator(statuses, impacts)
    return {"status_indicator": found.indicator.value, "status_description": found.description}


def _restore_components(session: Session, public: PublicIncident, now: datetime) -> dict[str, Any]:
    """Put the incident's components back to operational, unless another unresolved
    public incident still holds them (then to the worst status it gave)."""
    others = session.scalars(
        select(PublicIncident).where(
            PublicIncident.resolved_at.is_(None), PublicIncident.id != public.id
        )
    ).all()
    held: dict[str, ComponentStatus] = {}
    for other in others:
        for name, raw in other.components.items():
            status = ComponentStatus(raw)
            if name not in held or COMPONENT_RANK[status] > COMPONENT_RANK[held[name]]:
                held[name] = status
    changes: dict[str, Any] = {}
    for name in public.components:
        component = get_by_name(session, name=name)
        if component is None or component.status_source != StatusSource.INCIDENT.value:
            continue
        target = held.get(name, ComponentStatus.OPERATIONAL)
        if component.status != target.value:
            changes[name] = {"old_status": component.status, "new_status": target.value}
            _set_status(session, component, target, StatusSource.INCIDENT, now)
    return changes


@events.subscribe(events.StatusChanged)
def _on_status_changed(session: Session, event: events.StatusChanged) -> None:
    """A public status change publishes; resolving an already public incident publishes
    the resolution (with the default wording unless the change was public)."""
    public_status = public_status_for(event.current)
    components: Mapping[str, str] = event.components
    if not event.public:
        if components:
            raise ValidationFailed(
                "components: setting components is a public update; add public: true",
                field="components",
            )
        if public_status is not PublicStatus.RESOLVED:
            return
        existing = get_public(session, incident_id=event.incident_id)
        if existing is None or existing.resolved_at is not None:
            return
    if public_status is None:
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None or incident.drill_id is not None:
        return  # a drill never reaches the public page
    if incident.restricted and not event.public:
        return
    config: WarroomConfig | None = session.info.get("config")
    if config is not None:
        sync_components(session, config=config, now=event.at)
    publish_update(
        session,
        incident=incident,
        status=public_status,
        body=event.message if event.public else None,
        now=event.at,
        actor=None,
        components=components,
    )
