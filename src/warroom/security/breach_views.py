"""Breach routes: `/api/v1/incidents/{id}/breach`, its notifications and drafts."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.api import CtxDep, Responder, UowDep, Viewer
from warroom.incidents import service as incidents
from warroom.security import audit, regulatory
from warroom.security.schemas import BreachCreate, BreachRead, DraftRead, NotificationCreate

router = APIRouter(prefix="/api/v1/incidents", tags=["security"])


@router.post("/{key}/breach", status_code=201, response_model=BreachRead)
def mark_breach(
    key: str, data: BreachCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> BreachRead:
    """Mark a personal-data breach `{aware_at, regimes, …}`: its regulatory clocks start."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    regulatory.mark_breach(
        uow.session, config=ctx.config, incident=incident, data=data, actor=who, now=now
    )
    uow.commit()
    return regulatory.breach_read(uow.session, incident=incident, now=now)


@router.get("/{key}/breach", response_model=BreachRead)
def show_breach(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> BreachRead:
    """The breach: its clocks (time left, state, who notified when) and the checklist."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    audit.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}/breach")
    return regulatory.breach_read(uow.session, incident=incident, now=ctx.clock.now())


@router.post("/{key}/breach/notifications", response_model=BreachRead)
def record_notification(
    key: str, data: NotificationCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> BreachRead:
    """Record that a notification was sent `{regime, obligation, sent_at?, reference?}`."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    regulatory.record_notification(uow.session, incident=incident, data=data, actor=who, now=now)
    uow.commit()
    return regulatory.breach_read(uow.session, incident=incident, now=now)


@router.get("/{key}/breach/drafts/{regime}/{obligation}", response_model=DraftRead)
def draft_notification(
    key: str, regime: str, obligation: str, ctx: CtxDep, uow: UowDep, who: Viewer
) -> DraftRead:
    """A draft of the notification, filled from the incident (Article 33(3)'s contents)."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    audit.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}/breach/drafts")
    return regulatory.draft(
        uow.session, config=ctx.config, incident=incident, regime=regime, obligation=obligation
    )
