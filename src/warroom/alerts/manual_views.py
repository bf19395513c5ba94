"""Alert actions by hand: `POST /api/v1/alerts/{id}/ack|resolve|attach|declare`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from warroom.alerts import manual
from warroom.alerts import service as alerts
from warroom.alerts.views import AlertDetail, _to_read
from warroom.api import CtxDep, IdPath, Responder, UowDep
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate, IncidentRead, Name

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident: Name


@router.post("/{alert_id}/ack", response_model=AlertDetail)
def acknowledge(alert_id: IdPath, ctx: CtxDep, uow: UowDep, who: Responder) -> object:
    """Acknowledge the alert (stops its own paging). Acknowledging twice is harmless."""
    alert = alerts.get(uow.session, alert_id=alert_id, viewer=who)
    manual.acknowledge(uow.session, alert=alert, actor=who, now=ctx.clock.now())
    uow.commit()
    return _to_read(alert, AlertDetail)


@router.post("/{alert_id}/resolve", response_model=AlertDetail)
def resolve(alert_id: IdPath, ctx: CtxDep, uow: UowDep, who: Responder) -> object:
    """Resolve the alert by hand (its next trigger opens a new alert)."""
    alert = alerts.get(uow.session, alert_id=alert_id, viewer=who)
    manual.resolve(uow.session, alert=alert, actor=who, now=ctx.clock.now())
    uow.commit()
    return _to_read(alert, AlertDetail)


@router.post("/{alert_id}/attach", response_model=AlertDetail)
def attach(
    alert_id: IdPath, data: AttachRequest, ctx: CtxDep, uow: UowDep, who: Responder
) -> object:
    """Make the alert part of an incident the caller may see."""
    alert = alerts.get(uow.session, alert_id=alert_id, viewer=who)
    incident = incidents.get(uow.session, key=data.incident, viewer=who, for_update=True)
    manual.attach(
        uow.session,
        config=ctx.config,
        alert=alert,
        incident=incident,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return _to_read(alert, AlertDetail)


@router.post("/{alert_id}/declare", status_code=201, response_model=IncidentRead)
def declare(
    alert_id: IdPath,
    data: IncidentCreate,
    ctx: CtxDep,
    uow: UowDep,
    who: Responder,
    response: Response,
) -> IncidentRead:
    """Declare an incident from the alert; the alert is attached to it."""
    alert = alerts.get(uow.session, alert_id=alert_id, viewer=who)
    now = ctx.clock.now()
    incident = manual.declare_from(
        uow.session, config=ctx.config, alert=alert, data=data, actor=who, now=now
    )
    uow.commit()
    response.headers["Location"] = f"/api/v1/incidents/{incident.key}"
    return incidents.to_read(incident, now=now)
