"""Status page management routes: `/api/v1/status-page/...` (authenticated).

The public page itself is not routed here: `serve.StatusSnapshot` answers it from the
published files, before sessions, authentication or the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Response

from warroom.api import CtxDep, Responder, UowDep, Viewer
from warroom.auth.logic import Role
from warroom.config.incidents import ComponentStatus
from warroom.context import AppContext
from warroom.incidents import service as incidents
from warroom.statuspage import maintenance as scheduled
from warroom.statuspage import publish as publisher
from warroom.statuspage import service, stakeholders
from warroom.statuspage.logic import PublicStatus, stable_id
from warroom.statuspage.models import PublicIncident, StatusComponent, StatusMaintenance
from warroom.statuspage.public_views import router as public_router
from warroom.statuspage.schemas import (
    ComponentCreate,
    ComponentRead,
    ComponentUpdate,
    MaintenanceCreate,
    MaintenanceRead,
    MaintenanceUpdate,
    PublicIncidentRead,
    PublicUpdateCreate,
    PublicUpdateRead,
    StakeholderUpdateCreate,
    StakeholderUpdateRead,
    StakeholderUpdateSent,
)
from warroom.statuspage.serve import StatusSnapshot

router = APIRouter(prefix="/api/v1/status-page", tags=["status page"])


def component_read(row: StatusComponent) -> ComponentRead:
    return ComponentRead(
        id=row.id,
        name=row.name,
        description=row.description,
        group=row.group_name,
        position=row.position,
        status=ComponentStatus(row.status),
        status_source=row.status_source,
        updated_at=row.updated_at,
    )


def public_read(row: PublicIncident) -> PublicIncidentRead:
    return PublicIncidentRead(
        code=stable_id("incident", row.id),
        incident=f"INC-{row.incident_id}",
        name=row.name,
        status=PublicStatus(row.status),
        impact=row.impact,
        components=dict(row.components),
        created_at=row.created_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        updates=[
            PublicUpdateRead(
                status=PublicStatus(u.status),
                body=u.body,
                components=dict(u.components),
                created_at=u.created_at,
            )
            for u in row.updates
        ],
    )


@router.get("/components", response_model=list[ComponentRead])
def list_components(ctx: CtxDep, uow: UowDep, who: Viewer) -> list[ComponentRead]:
    """List the components, configured ones first, in page order."""
    if service.sync_components(uow.session, config=ctx.config, now=ctx.clock.now()):
        uow.commit()
    return [component_read(c) for c in service.list_components(uow.session)]


@router.post("/components", status_code=201, response_model=ComponentRead)
def create_component(
    data: ComponentCreate, ctx: CtxDep, uow: UowDep, who: Responder, response: Response
) -> ComponentRead:
    """Add a component to the page."""
    now = ctx.clock.now()
    service.sync_components(uow.session, config=ctx.config, now=now)
    row = service.create_component(
        uow.session,
        name=data.name,
        description=data.description,
        group=data.group,
        status=data.status,
        now=now,
    )
    uow.commit()
    response.headers["Location"] = f"/api/v1/status-page/components/{quote(row.name, safe='')}"
    return component_read(row)


@router.patch("/components/{name}", response_model=ComponentRead)
def update_component(
    name: str, data: ComponentUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> ComponentRead:
    """Change a component's status, description or group."""
    now = ctx.clock.now()
    service.sync_components(uow.session, config=ctx.config, now=now)
    row = service.get_by_name_or_raise(uow.session, name=name)
    service.update_component(
        uow.session,
        component=row,
        now=now,
        status=data.status,
        description=data.description,
        group=data.group,
    )
    uow.commit()
    return component_read(row)


@router.get("/incidents", response_model=list[PublicIncidentRead])
def list_public_incidents(ctx: CtxDep, uow: UowDep, who: Viewer) -> list[PublicIncidentRead]:
    """The public incidents as published (newest first)."""
    return [public_read(p) for p in service.list_public(uow.session, limit=100)]


@router.post("/incidents/{key}", response_model=PublicIncidentRead)
def publish_update(
    key: str, data: PublicUpdateCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> PublicIncidentRead:
    """Publish a public update of an incident, with its own title and wording. Only an
    admin may publish a restricted incident."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    service.sync_components(uow.session, config=ctx.config, now=now)
    public = service.publish_update(
        uow.session,
        incident=incident,
        status=data.status,
        body=data.message,
        title=data.title,
        now=now,
        actor=who.actor,
        components={name: status.value for name, status in data.components.items()},
        allow_restricted=who.has(Role.ADMIN),
    )
    uow.commit()
    return public_read(public)


def maintenance_read(row: StatusMaintenance, now: datetime) -> MaintenanceRead:
    return MaintenanceRead(
        id=row.id,
        code=stable_id("maintenance-status", row.id),
        name=row.name,
        body=row.body,
        components=list(row.components),
        status=scheduled.status_of(row, now),
        scheduled_for=row.scheduled_for,
        scheduled_until=row.scheduled_until,
        auto_transition=row.auto_transition,
        suppressing_windows=list(row.window_ids),
    )


@router.get("/maintenances", response_model=list[MaintenanceRead])
def list_maintenances(ctx: CtxDep, uow: UowDep, who: Viewer) -> list[MaintenanceRead]:
    """Scheduled maintenance, latest start first."""
    now = ctx.clock.now()
    return [maintenance_read(r, now) for r in scheduled.list_maintenances(uow.session)]


@router.post("/maintenances", status_code=201, response_model=MaintenanceRead)
def create_maintenance(
    data: MaintenanceCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> MaintenanceRead:
    """Schedule maintenance of components (their services' alerts are suppressed during it)."""
    now = ctx.clock.now()
    service.sync_components(uow.session, config=ctx.config, now=now)
    row = scheduled.create(
        uow.session,
        config=ctx.config,
        name=data.name,
        body=data.body,
        components=data.components,
        scheduled_for=data.scheduled_for,
        scheduled_until=data.scheduled_until,
        auto_transition=data.auto_transition,
        actor=who,
        now=now,
    )
    uow.commit()
    return maintenance_read(row, now)


@router.patch("/maintenances/{maintenance_id}", response_model=MaintenanceRead)
def update_maintenance(
    maintenance_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    data: MaintenanceUpdate,
    ctx: CtxDep,
    uow: UowDep,
    who: Responder,
) -> MaintenanceRead:
    """Move a maintenance on by hand (in_progress, verifying, completed)."""
    now = ctx.clock.now()
    row = scheduled.get(uow.session, maintenance_id=maintenance_id)
    scheduled.set_status(uow.session, row=row, status=data.status, now=now)
    uow.commit()
    return maintenance_read(row, now)


updates_router = APIRouter(prefix="/api/v1/incidents", tags=["stakeholder updates"])


@updates_router.post("/{key}/updates", response_model=StakeholderUpdateRead)
def stakeholder_update(
    key: str, data: StakeholderUpdateCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> StakeholderUpdateRead:
    """Send a stakeholder update to audiences, rendered from their templates; on the
    timeline, and it resets the update-cadence reminder."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    service.sync_components(uow.session, config=ctx.config, now=now)
    sent = stakeholders.send_update(
        uow.session,
        config=ctx.config,
        incident=incident,
        audiences=list(data.audiences),
        message=data.message,
        channels=data.channels,
        actor=who.actor,
        allow_restricted=who.has(Role.ADMIN),
        now=now,
    )
    uow.commit()
    ctx.wakeups.set()  # wake the engine: the messages leave at once
    return StakeholderUpdateRead(
        incident=incident.key,
        sent=[
            StakeholderUpdateSent(
                audience=s.audience,
                kind=s.kind,
                subject=s.subject,
                recipients=s.recipients,
                published=s.published,
            )
            for s in sent
        ],
    )


def mount_status_page(app: FastAPI, ctx: AppContext) -> None:
    """Register the management API and put the public snapshot in front of everything."""
    app.include_router(router)
    app.include_router(public_router)
    app.include_router(updates_router)
    app.add_middleware(
        StatusSnapshot,
        directory=publisher.status_dir(ctx),
        publish_missing=lambda: publisher.publish(ctx),
    )
