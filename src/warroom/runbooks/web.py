"""The incident room's forms for checklists and approvals (HTML, HTMX).

They join the web UI's router (so they share its session, CSRF and security headers) and
call the same services as the API.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from warroom.api import CtxDep, IdPath, UowDep
from warroom.auth.logic import Principal
from warroom.errors import ValidationFailed
from warroom.incidents.models import Incident
from warroom.runbooks import approvals
from warroom.runbooks import service as checklists
from warroom.runbooks.logic import StepState
from warroom.runbooks.room import room
from warroom.web.incident_page import INCIDENT_PANELS, act_on_incident
from warroom.web.shell import FormStr, router

INCIDENT_PANELS["room"] = room  # _room.html on the incident page


@router.post("/incidents/{key}/checklist/{step}")
def tick_step(
    key: str,
    step: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    state: FormStr = "done",
    note: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def tick(incident: Incident, who: Principal) -> str:
        try:
            wanted = StepState(state)
        except ValueError:
            raise ValidationFailed(f"unknown step state {state!r}", field="state") from None
        row = checklists.set_state(
            uow.session,
            config=ctx.config,
            incident=incident,
            key=step,
            state=wanted,
            note=note.strip()[:2000] or None,
            actor=who,
            now=ctx.clock.now(),
        )
        return f"{row.state.capitalize()}: {row.text}"

    return act_on_incident(request, ctx, uow, key, csrf_token, tick)


@router.post("/incidents/{key}/approvals/{aid}/decision")
def decide_approval(
    key: str,
    aid: IdPath,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    granted: FormStr = "",
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def decide(incident: Incident, who: Principal) -> str:
        if granted not in ("true", "false"):
            raise ValidationFailed("grant or refuse", field="granted")
        if not reason.strip():
            raise ValidationFailed("a decision needs a reason", field="reason")
        item = approvals.decide(
            ctx,
            uow.session,
            incident=incident,
            approval=approvals.get(uow.session, incident, aid),
            granted=granted == "true",
            reason=reason.strip()[:2000],
            actor=who,
            now=ctx.clock.now(),
        )
        return f"Approval {item.status}: {item.action}"

    return act_on_incident(request, ctx, uow, key, csrf_token, decide)
