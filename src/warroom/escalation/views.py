"""Escalation routes: the signed acknowledge link, policies, an incident's paging state.

`GET /ack/{token}` needs no login: the token in a page is the credential, for one
incident and one person, until it expires. The GET only shows a confirmation page (mail
scanners fetch links); the form on it POSTs to the same address, which acknowledges as
that person.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from warroom.api import CtxDep, Responder, UowDep, Viewer
from warroom.auth.logic import SYSTEM, Principal, Role
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, NotFound
from warroom.escalation import bookkeeping, delivery, paging, service
from warroom.escalation.logic import AckClaim, AckLinkError, Policy, read_ack_token
from warroom.escalation.schemas import PagingRead, PolicyRead, StepRead, TargetRead, TimerRead
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.pages import SECURITY_HEADERS

router = APIRouter(tags=["escalation"])

_STATUS = {"malformed": 400, "forged": 403, "expired": 403}


# --- the acknowledge link ---------------------------------------------------------------


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} · warroom</title>\n"
        '<link rel="stylesheet" href="/static/warroom.css">\n</head>\n<body>\n'
        '<main><section class="card narrow">\n'
        f"<h1>{escape(title)}</h1>\n{body}\n</section></main>\n</body>\n</html>\n"
    )
    response = HTMLResponse(html, status_code=status_code)
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    # The token is in the URL: keep it out of caches and of other sites' logs.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _claim(ctx: AppContext, token: str, now: datetime) -> AckClaim | HTMLResponse:
    key = delivery.ack_link_key(ctx.settings)
    if key is None:
        return _page(
            "Link not available",
            "<p>Acknowledge links are not set up on this server. Acknowledge in warroom.</p>",
            404,
        )
    try:
        return read_ack_token(key, token, now=now)
    except AckLinkError as exc:
        advice = (
            "<p>Acknowledge in warroom, or use the link in a newer message.</p>"
            if exc.reason == "expired"
            else "<p>Check that the whole link was copied, or acknowledge in warroom.</p>"
        )
        title = "Link expired" if exc.reason == "expired" else "Invalid link"
        return _page(title, f"<p>{escape(str(exc))}.</p>{advice}", _STATUS[exc.reason])


def _incident(uow: UnitOfWork, claim: AckClaim, *, for_update: bool) -> Incident | None:
    try:
        # The link is the permission: it was made for this person and this incident.
        return incidents.get(
            uow.session, key=claim.incident_id, viewer=SYSTEM, for_update=for_update
        )
    except NotFound:
        return None


def _summary(incident: Incident) -> str:
    return (
        f"<p><strong>{escape(incident.key)}</strong> [{escape(incident.severity)}] "
        f"{escape(incident.title)}</p>\n<p>Status: {escape(incident.status)}</p>"
    )


@router.get("/ack/{token}", include_in_schema=False)
def ack_confirm(token: str, ctx: CtxDep, uow: UowDep) -> HTMLResponse:
    """Show what the link acknowledges, with a button that does it."""
    now = ctx.clock.now()
    claim = _claim(ctx, token, now)
    if isinstance(claim, HTMLResponse):
        return claim
    incident = _incident(uow, claim, for_update=False)
    if incident is None:
        return _page("Incident not found", "<p>This incident does not exist any more.</p>", 404)
    summary = _summary(incident)
    if not bookkeeping.is_open(incident):
        return _page("Nothing to acknowledge", f"{summary}<p>It is {incident.status}.</p>")
    active = paging.paging_active(uow.session, incident.id)
    if incident.acknowledged_at is not None and not active:
        return _page(
            "Already acknowledged",
            f"{summary}<p>Acknowledged at {escape(incident.acknowledged_at.isoformat())}.</p>",
        )
    form = (
        f'<form method="post" action="/ack/{escape(token, quote=True)}">'
        f'<button type="submit">Acknowledge as {escape(claim.user)}</button></form>'
    )
    return _page("Acknowledge this incident?", f"{summary}\n{form}")


@router.post("/ack/{token}", include_in_schema=False)
def ack_submit(token: str, ctx: CtxDep, uow: UowDep) -> HTMLResponse:
    """Acknowledge as the person the link was made for."""
    now = ctx.clock.now()
    claim = _claim(ctx, token, now)
    if isinstance(claim, HTMLResponse):
        return claim
    incident = _incident(uow, claim, for_update=True)
    if incident is None:
        return _page("Incident not found", "<p>This incident does not exist any more.</p>", 404)
    actor = Principal(name=claim.user, role=Role.RESPONDER, user=claim.user)
    try:
        result = paging.acknowledge_page(uow.session, incident=incident, actor=actor, now=now)
    except Conflict:
        result = "closed"
    summary = _summary(incident)
    uow.commit()
    if result == "closed" or not bookkeeping.is_open(incident):
        return _page("Nothing to acknowledge", f"{summary}<p>It is {incident.status}.</p>")
    if result == "already acknowledged":
        return _page("Already acknowledged", f"{summary}<p>Nobody is being paged for it.</p>")
    return _page(
        "Acknowledged",
        f"{summary}<p>Acknowledged by {escape(claim.user)}: paging has stopped.</p>",
    )


# --- policies -----------------------------------------------------------------------------


def _policy_read(ctx: AppContext, policy: Policy) -> PolicyRead:
    config = ctx.config
    default = paging.policy_for(config, ())
    services = [
        s.name
        for s in config.services
        if s.escalation_policy == policy.name
        or (not s.escalation_policy and default is not None and default.name == policy.name)
    ]
    return PolicyRead(
        name=policy.name,
        title=policy.title,
        source=policy.source,
        repeat=policy.repeat,
        ack_timeout_seconds=policy.ack_timeout.total_seconds() if policy.ack_timeout else None,
        default=default is not None and default.name == policy.name,
        services=services,
        steps=[
            StepRead(
                delay_seconds=step.delay.total_seconds(),
                urgency=step.urgency,
                method=step.delivery.text,
                targets=[
                    TargetRead(type=t.kind, name=t.name, layer=t.layer, channel=t.channel)
                    for t in step.targets
                ],
            )
            for step in policy.steps
        ],
    )


@router.get("/api/v1/escalation-policies", response_model=list[PolicyRead])
def list_policies(ctx: CtxDep, who: Viewer) -> list[PolicyRead]:
    """Every escalation policy, the matrix's on-call chain included."""
    return [_policy_read(ctx, p) for p in paging.policies(ctx.config).values()]


@router.get("/api/v1/escalation-policies/{name}", response_model=PolicyRead)
def show_policy(name: str, ctx: CtxDep, who: Viewer) -> PolicyRead:
    policy = paging.policies(ctx.config).get(name)
    if policy is None:
        raise NotFound(f"no escalation policy {name!r}", field="name")
    return _policy_read(ctx, policy)


# --- an incident's paging ---------------------------------------------------------------


def _paging_read(uow: UnitOfWork, incident: Incident, result: str | None = None) -> PagingRead:
    state = paging.paging_state(uow.session, incident.id)
    pending = service.pending_timers(uow.session, incident.id)
    return PagingRead(
        incident=incident.key,
        policy=state.policy if state else None,
        round=state.round + 1 if state else None,
        paging=any(t.kind == bookkeeping.ESCALATE for t in pending),
        pending=[
            TimerRead(kind=t.kind, key=t.key, due_at=t.due_at, payload=t.payload or {})
            for t in pending
        ],
        result=result,
    )


@router.get("/api/v1/incidents/{key}/paging", response_model=PagingRead)
def show_paging(key: str, uow: UowDep, who: Viewer) -> PagingRead:
    """Who is being paged, and every pending escalation, SLA and cadence timer."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    return _paging_read(uow, incident)


@router.post("/api/v1/incidents/{key}/paging/ack", response_model=PagingRead)
def acknowledge_paging(key: str, ctx: CtxDep, uow: UowDep, who: Responder) -> PagingRead:
    """Acknowledge a page: the first acknowledgement, or the end of a round that started
    again after the acknowledgement timed out."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    result = paging.acknowledge_page(uow.session, incident=incident, actor=who, now=ctx.clock.now())
    uow.commit()
    return _paging_read(uow, incident, result)
