"""Handoff routes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from warroom.api import CtxDep, IdPath, Responder, UowDep, Viewer
from warroom.handoffs import history
from warroom.handoffs import service as handoffs
from warroom.handoffs.models import Handoff
from warroom.handoffs.schemas import HandoffCreate, HandoffRead, HandoffUpdate
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident

router = APIRouter(prefix="/api/v1/incidents", tags=["handoffs"])


def handoff_read(incident: Incident, item: Handoff) -> HandoffRead:
    return HandoffRead(
        id=item.id,
        incident_id=incident.key,
        from_user=item.from_user,
        to=item.to_user,
        status=item.status,
        document=item.document,
        created_by=item.created_by,
        created_at=item.created_at,
        updated_at=item.updated_at,
        confirmed_at=item.confirmed_at,
    )


@router.get("/{key}/handoffs", response_model=list[HandoffRead])
def list_handoffs(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> list[HandoffRead]:
    """The incident's handoffs, oldest first."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    return [handoff_read(incident, h) for h in handoffs.list_for(uow.session, incident)]


@router.post("/{key}/handoffs", status_code=201, response_model=HandoffRead)
def create_handoff(
    key: str, data: HandoffCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> HandoffRead:
    """Draft a handoff of command to `to`, prefilled from the incident."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = handoffs.create(
        uow.session,
        config=ctx.config,
        incident=incident,
        to=data.to,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return handoff_read(incident, item)


@router.get("/{key}/handoffs/{hid}", response_model=HandoffRead)
def get_handoff(key: str, hid: IdPath, ctx: CtxDep, uow: UowDep, who: Viewer) -> HandoffRead:
    """One handoff document."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    return handoff_read(incident, handoffs.get(uow.session, incident, hid))


@router.patch("/{key}/handoffs/{hid}", response_model=HandoffRead)
def update_handoff(
    key: str, hid: IdPath, data: HandoffUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> HandoffRead:
    """Edit the draft's sections."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = handoffs.update(
        uow.session,
        incident=incident,
        handoff=handoffs.get(uow.session, incident, hid),
        data=data,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return handoff_read(incident, item)


@router.post("/{key}/handoffs/{hid}/confirm", response_model=HandoffRead)
def confirm_handoff(key: str, hid: IdPath, ctx: CtxDep, uow: UowDep, who: Responder) -> HandoffRead:
    """The incoming IC confirms; the role moves in the same transaction."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = handoffs.confirm(
        uow.session,
        config=ctx.config,
        incident=incident,
        handoff=handoffs.get(uow.session, incident, hid),
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return handoff_read(incident, item)


@router.post("/{key}/handoffs/{hid}/cancel", response_model=HandoffRead)
def cancel_handoff(key: str, hid: IdPath, ctx: CtxDep, uow: UowDep, who: Responder) -> HandoffRead:
    """Withdraw a draft."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = handoffs.cancel(
        uow.session,
        incident=incident,
        handoff=handoffs.get(uow.session, incident, hid),
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return handoff_read(incident, item)


class TenureRead(BaseModel):
    incident_id: str
    role: str
    since: datetime
    until: datetime | None
    seconds: float


class RolesHistory(BaseModel):
    user: str
    tenures: list[TenureRead]
    # Seconds per role, over every tenure shown.
    totals: dict[str, float]


users_router = APIRouter(prefix="/api/v1/users", tags=["handoffs"])


@users_router.get("/{handle}/roles-history", response_model=RolesHistory)
def roles_history(handle: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> RolesHistory:
    """How long `handle` held which role, incident by incident (visible incidents only)."""
    found = history.history(uow.session, handle=handle, viewer=who, now=ctx.clock.now())
    return RolesHistory(
        user=handle,
        tenures=[
            TenureRead(
                incident_id=t.incident, role=t.role, since=t.since, until=t.until, seconds=t.seconds
            )
            for t in found
        ],
        totals=history.totals(found),
    )
