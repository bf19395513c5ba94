"""Drill routes: `/api/v1/drills` (docs/drills.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from warroom.api import Admin, CtxDep, Responder, UowDep, Viewer
from warroom.drills import service

router = APIRouter(tags=["drills"])


class DrillStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: dict[str, Any]
    # Overrides the scenario's `integration`.
    integration: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class DrillDeclare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    severity: Annotated[str, Field(min_length=1, max_length=16)] | None = None


@router.post("/api/v1/drills", status_code=201)
def start_drill(body: DrillStart, ctx: CtxDep, uow: UowDep, who: Admin) -> dict[str, Any]:
    """Start a drill: its alerts due at once are sent through the integration now."""
    drill = service.start(
        uow.session,
        config=ctx.config,
        scenario=body.scenario,
        integration=body.integration,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return service.summary(uow.session, drill)


@router.get("/api/v1/drills")
def list_drills(
    uow: UowDep, who: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    return {
        "drills": [
            service.summary(uow.session, d) for d in service.list_drills(uow.session, limit=limit)
        ]
    }


@router.get("/api/v1/drills/{key}")
def get_drill(key: str, uow: UowDep, who: Viewer) -> dict[str, Any]:
    return service.summary(uow.session, service.get(uow.session, key))


@router.get("/api/v1/drills/{key}/report")
def drill_report(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> dict[str, Any]:
    """Time to acknowledge, declare, fill the roles, first update and mitigate; runbook
    steps done and skipped."""
    drill = service.get(uow.session, key)
    return service.report(uow.session, config=ctx.config, drill=drill)


@router.post("/api/v1/drills/{key}/declare", status_code=201)
def declare_drill_incident(
    key: str, body: DrillDeclare, ctx: CtxDep, uow: UowDep, who: Responder
) -> dict[str, Any]:
    """Declare the drill's incident by hand (when no auto-declare rule took its alerts)."""
    drill = service.get(uow.session, key)
    incident = service.declare(
        uow.session,
        config=ctx.config,
        drill=drill,
        title=body.title,
        severity=body.severity,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return {"drill": drill.key, "incident": incident.key}


@router.post("/api/v1/drills/{key}/finish")
def finish_drill(key: str, ctx: CtxDep, uow: UowDep, who: Admin) -> dict[str, Any]:
    """End the drill: its alerts are resolved; nothing more is sent."""
    drill = service.finish(uow.session, drill=service.get(uow.session, key), now=ctx.clock.now())
    uow.commit()
    return service.summary(uow.session, drill)
