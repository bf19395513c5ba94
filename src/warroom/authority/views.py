"""Authority routes: authorize a decision on an incident, ask what one may do on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from warroom.api import CtxDep, Responder, UowDep, Viewer
from warroom.auth.logic import Role
from warroom.authority.check import authorize
from warroom.authority.logic import decide
from warroom.config.authority import Action
from warroom.errors import Conflict
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.schemas import EventCreate, EventRead

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class DecisionCreate(BaseModel):
    """What is authorized (a seed `can_authorize` entry or any change), and why."""

    model_config = ConfigDict(extra="forbid")

    authorizes: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] = ""


class Permission(BaseModel):
    action: Action
    allowed: bool
    # True when only being an admin allows it (the action is then recorded as an override).
    override: bool
    # Who else may, when the rule names someone; the refusal's text.
    may: list[str]
    message: str


@router.post("/{key}/decisions", status_code=201, response_model=EventRead)
def authorize_decision(
    key: str, data: DecisionCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> EventRead:
    """Authorize a change on the incident; 403 naming who may when the caller may not."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; its decisions are final")
    authorize(
        uow.session,
        config=ctx.config,
        incident=incident,
        action=Action.AUTHORIZE,
        actor=who,
        now=now,
        subject=data.authorizes,
    )
    held = [r.role for r in incident.roles if who.user is not None and r.user == who.user]
    text = f"Authorized: {data.authorizes}"
    event = incidents.add_event(
        uow.session,
        incident=incident,
        data=EventCreate(
            type="decision",
            description=f"{text}. {data.description}" if data.description else text,
            details={"authorizes": data.authorizes, "roles": held},
        ),
        actor=who,
        now=now,
    )
    uow.commit()
    return EventRead.model_validate(event, from_attributes=True)


@router.get("/{key}/authority", response_model=list[Permission])
def permissions(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> list[Permission]:
    """What the caller may do on the incident now, and who may otherwise."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    holders = {r.role: r.user for r in incident.roles}
    found = []
    for action in (Action.CHANGE_SEVERITY, Action.ASSIGN_ROLES, Action.RESOLVE):
        decision = decide(
            ctx.config, action=action, severity=incident.severity, holders=holders, actor=who
        )
        found.append(
            Permission(
                action=action,
                allowed=decision.allowed and who.has(Role.RESPONDER),
                override=decision.override,
                may=list(decision.may),
                message=decision.message,
            )
        )
    return found
