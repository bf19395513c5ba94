"""Maintenance window routes: `/api/v1/maintenance`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from warroom.api import CtxDep, IdPath, Responder, UowDep, Viewer
from warroom.maintenance import service
from warroom.maintenance.service import Window

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])

WindowId = IdPath


class MaintenanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] = ""


class MaintenanceRead(BaseModel):
    id: int | None
    source: Literal["api", "config"]
    name: str | None
    service: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    created_at: datetime | None
    cancelled_at: datetime | None
    active: bool


def _read(window: Window, now: datetime) -> MaintenanceRead:
    return MaintenanceRead(
        id=window.id,
        source=window.source,
        name=window.name,
        service=window.service,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        reason=window.reason,
        created_by=window.created_by,
        created_at=window.created_at,
        cancelled_at=window.cancelled_at,
        active=window.open_at(now),
    )


@router.post("", status_code=201, response_model=MaintenanceRead)
def schedule(
    data: MaintenanceCreate, ctx: CtxDep, uow: UowDep, who: Responder, response: Response
) -> MaintenanceRead:
    """Schedule a maintenance window: the service's alerts are recorded but neither page
    nor declare incidents while it is open."""
    now = ctx.clock.now()
    row = service.create(
        uow.session,
        config=ctx.config,
        service=data.service,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reason=data.reason,
        actor=who,
        now=now,
    )
    uow.commit()
    response.headers["Location"] = f"/api/v1/maintenance/{row.id}"
    return _read(service.to_window(row), now)


@router.get("", response_model=list[MaintenanceRead])
def list_windows(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    active: Annotated[bool | None, Query()] = None,
    service_name: Annotated[str | None, Query(alias="service", max_length=64)] = None,
) -> list[MaintenanceRead]:
    """Scheduled windows, newest first, then those from the configuration; `?active=true`
    keeps the ones open now."""
    now = ctx.clock.now()
    windows = service.list_windows(
        uow.session, config=ctx.config, now=now, active=active, service=service_name
    )
    return [_read(w, now) for w in windows]


@router.get("/{window_id}", response_model=MaintenanceRead)
def show(window_id: WindowId, ctx: CtxDep, uow: UowDep, who: Viewer) -> MaintenanceRead:
    row = service.get(uow.session, window_id=window_id)
    return _read(service.to_window(row), ctx.clock.now())


@router.delete("/{window_id}", response_model=MaintenanceRead)
def cancel(window_id: WindowId, ctx: CtxDep, uow: UowDep, who: Responder) -> MaintenanceRead:
    """Cancel a window: it ends now (or never begins)."""
    now = ctx.clock.now()
    row = service.cancel(uow.session, window_id=window_id, now=now)
    uow.commit()
    return _read(service.to_window(row), now)
