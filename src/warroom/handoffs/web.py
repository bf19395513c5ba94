"""The incident page's pending handoff and its Confirm form (HTML, HTMX).

They join the web UI's router (so they share its session, CSRF and security headers) and
call the same service as the API.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.api import CtxDep, IdPath, UowDep
from warroom.auth.logic import Principal
from warroom.handoffs import service as handoffs
from warroom.handoffs.models import Handoff
from warroom.incidents.models import Incident
from warroom.web.incident_page import INCIDENT_PANELS, act_on_incident
from warroom.web.shell import FormStr, router


def pending_handoff(session: Session, incident: Incident, now: datetime) -> Handoff | None:
    """The handoff waiting for its incoming commander, if any."""
    return session.scalar(
        select(Handoff)
        .where(Handoff.incident_id == incident.id, Handoff.status == "draft")
        .order_by(Handoff.id.desc())
        .limit(1)
    )


INCIDENT_PANELS["handoff"] = pending_handoff  # _room.html on the incident page


@router.post("/incidents/{key}/handoffs/{hid}/confirm")
def confirm_handoff(
    key: str, hid: IdPath, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def confirm(incident: Incident, who: Principal) -> str:
        done = handoffs.confirm(
            uow.session,
            config=ctx.config,
            incident=incident,
            handoff=handoffs.get(uow.session, incident, hid),
            actor=who,
            now=ctx.clock.now(),
        )
        return f"You are now the Incident Commander (from {done.from_user or 'nobody'})."

    return act_on_incident(request, ctx, uow, key, csrf_token, confirm)
