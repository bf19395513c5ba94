"""Postmortem and action-item routes: `/api/v1/incidents/{id}/postmortem`, `/api/v1/postmortems`,
`/api/v1/action-items`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from warroom.api import CtxDep, Responder, UowDep, Viewer
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.postmortems import actions, review, service
from warroom.postmortems.html import render_html
from warroom.postmortems.logic import ActionStatus, PostmortemStatus, Priority
from warroom.postmortems.models import Postmortem
from warroom.postmortems.pdf import render_pdf
from warroom.postmortems.render import render_markdown
from warroom.postmortems.schemas import (
    ActionItemCreate,
    ActionItemPage,
    ActionItemRead,
    ActionItemUpdate,
    PostmortemPage,
    PostmortemRead,
    PostmortemUpdate,
    ReviewRequest,
    RevisionRead,
    StatusMove,
)
from warroom.postmortems.web import router as web_router

api = APIRouter(prefix="/api/v1", tags=["postmortems"])
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Format(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"


def _load(
    uow: UnitOfWork, key: str, who: Viewer, *, for_update: bool = False
) -> tuple[Incident, Postmortem]:
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=for_update)
    return incident, service.get(uow.session, incident=incident)


def _read(ctx: AppContext, uow: UnitOfWork, incident: Incident, pm: Postmortem) -> PostmortemRead:
    uow.session.flush()
    read = service.to_read(uow.session, ctx.config, pm, incident, now=ctx.clock.now())
    uow.commit()
    return read


@api.get("/incidents/{key}/postmortem", response_model=PostmortemRead)
def show(
    key: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    format: Annotated[Format, Query()] = Format.JSON,
) -> PostmortemRead | Response:
    """The postmortem; `?format=markdown|html|pdf` renders seed 002's template filled in."""
    incident, pm = _load(uow, key, who)
    if format is Format.JSON:
        return service.to_read(uow.session, ctx.config, pm, incident, now=ctx.clock.now())
    facts = service.facts(uow.session, ctx.config, incident)
    doc = service.document(uow.session, ctx.config, pm, incident)
    if format is Format.HTML:
        return HTMLResponse(render_html(facts, doc))
    if format is Format.PDF:
        name = f"postmortem-{incident.key}.pdf"
        return Response(
            render_pdf(facts, doc),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return PlainTextResponse(render_markdown(facts, doc), media_type="text/markdown; charset=utf-8")


@api.post("/incidents/{key}/postmortem", response_model=PostmortemRead, status_code=201)
def create(
    key: str, ctx: CtxDep, uow: UowDep, who: Responder, response: Response
) -> PostmortemRead:
    """Start a postmortem for an incident whose severity does not require one."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    existing = service.find(uow.session, incident.id)
    if existing is not None:
        response.status_code = 200
        return _read(ctx, uow, incident, existing)
    pm = service.create(
        uow.session, config=ctx.config, incident=incident, now=ctx.clock.now(),
        actor=who.actor, required_only=False,
    )  # fmt: skip
    assert pm is not None  # required_only=False always drafts one
    return _read(ctx, uow, incident, pm)


@api.put("/incidents/{key}/postmortem", response_model=PostmortemRead)
def edit(
    key: str, data: PostmortemUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> PostmortemRead:
    """Edit sections, five whys, owner, root-cause category, related incidents."""
    incident, pm = _load(uow, key, who, for_update=True)
    service.update(
        uow.session, config=ctx.config, pm=pm, incident=incident, data=data,
        actor=who.actor, now=ctx.clock.now(),
    )  # fmt: skip
    return _read(ctx, uow, incident, pm)


@api.post("/incidents/{key}/postmortem/status", response_model=PostmortemRead)
def move(key: str, data: StatusMove, ctx: CtxDep, uow: UowDep, who: Responder) -> PostmortemRead:
    """Move it: draft → in_review → published; back to draft for changes or a new revision."""
    incident, pm = _load(uow, key, who, for_update=True)
    service.move(
        uow.session, config=ctx.config, pm=pm, incident=incident, status=data.status,
        actor=who.actor, now=ctx.clock.now(),
    )  # fmt: skip
    return _read(ctx, uow, incident, pm)


@api.post("/incidents/{key}/postmortem/publish", response_model=PostmortemRead)
def publish(key: str, ctx: CtxDep, uow: UowDep, who: Responder) -> PostmortemRead:
    """Publish a postmortem in review (the required sections must be filled)."""
    incident, pm = _load(uow, key, who, for_update=True)
    service.move(
        uow.session, config=ctx.config, pm=pm, incident=incident,
        status=PostmortemStatus.PUBLISHED, actor=who.actor, now=ctx.clock.now(),
    )  # fmt: skip
    return _read(ctx, uow, incident, pm)


@api.get("/incidents/{key}/postmortem/revisions", response_model=list[RevisionRead])
def history(key: str, uow: UowDep, who: Viewer) -> list[RevisionRead]:
    """Every edit: who, when, what changed."""
    _, pm = _load(uow, key, who)
    return [
        RevisionRead(
            version=r.version, actor=r.actor, at=r.at, summary=r.summary, changes=r.changes
        )
        for r in service.revisions(uow.session, pm)
    ]


@api.post("/incidents/{key}/postmortem/review", response_model=PostmortemRead)
def schedule_review(
    key: str, ctx: CtxDep, uow: UowDep, who: Responder, data: ReviewRequest | None = None
) -> PostmortemRead:
    """(Re)schedule the review meeting and e-mail the invitation (METHOD:REQUEST)."""
    incident, pm = _load(uow, key, who, for_update=True)
    review.schedule(
        uow.session, config=ctx.config, pm=pm, incident=incident,
        at=data.at if data else None, people=data.participants if data else None,
        now=ctx.clock.now(), actor=who.actor,
    )  # fmt: skip
    return _read(ctx, uow, incident, pm)


@api.get("/postmortems", response_model=PostmortemPage)
def list_postmortems(
    ctx: CtxDep, uow: UowDep, who: Viewer, overdue: Annotated[bool, Query()] = False
) -> PostmortemPage:
    """Postmortems the caller may see, soonest deadline first; `?overdue=true` for late ones."""
    now = ctx.clock.now()
    rows = service.list_postmortems(uow.session, viewer=who, now=now, overdue=overdue)
    items = [service.to_read(uow.session, ctx.config, pm, i, now=now) for pm, i in rows]
    return PostmortemPage(items=items, total=len(items))


# --- action items -----------------------------------------------------------------------


@api.get("/action-items", response_model=ActionItemPage)
def list_action_items(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    incident: Annotated[str | None, Query(max_length=32)] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[ActionStatus] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ActionItemPage:
    """Action items, soonest due first; filter by incident, owner, status, priority, overdue."""
    for name, value in (("incident", incident), ("owner", owner)):
        if value is not None and "\x00" in value:
            raise ValidationFailed("must not contain a NUL character", field=name)
    number = None
    if incident is not None:
        try:
            number = incidents.parse_key(incident)
        except NotFound:
            number = -1  # no such incident: an empty page, not an error
        if number > service.MAX_ID:
            number = -1
    filters = actions.Filters(
        incident=number, owner=owner, status=tuple(status or ()),
        priority=tuple(priority or ()), overdue=overdue,
    )  # fmt: skip
    now = ctx.clock.now()
    rows, total = actions.list_items(
        uow.session, viewer=who, filters=filters, now=now, limit=limit, offset=offset
    )
    return ActionItemPage(
        items=[actions.to_read(r, now=now) for r in rows], total=total, limit=limit, offset=offset
    )


@api.post("/action-items", response_model=ActionItemRead, status_code=201)
def create_action_item(
    data: ActionItemCreate, ctx: CtxDep, uow: UowDep, who: Responder, response: Response
) -> ActionItemRead:
    """Add an action item to an incident (and its postmortem); due from the priority's SLA."""
    try:
        incident = incidents.get(uow.session, key=data.incident, viewer=who)
    except NotFound as exc:
        raise NotFound(exc.message, field="incident") from None
    now = ctx.clock.now()
    item = actions.create(
        uow.session, config=ctx.config, incident=incident, data=data, actor=who.actor, now=now
    )
    response.headers["Location"] = f"/api/v1/action-items/{item.id}"
    read = actions.to_read(item, now=now)
    uow.commit()
    return read


@api.get("/action-items/{item_id}", response_model=ActionItemRead)
def show_action_item(item_id: ItemId, ctx: CtxDep, uow: UowDep, who: Viewer) -> ActionItemRead:
    item = actions.get(uow.session, item_id=item_id, viewer=who)
    return actions.to_read(item, now=ctx.clock.now())


@api.patch("/action-items/{item_id}", response_model=ActionItemRead)
def update_action_item(
    item_id: ItemId, data: ActionItemUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> ActionItemRead:
    """Change an action item; `status: wont_do` needs a `reason`."""
    item = actions.get(uow.session, item_id=item_id, viewer=who)
    now = ctx.clock.now()
    actions.update(uow.session, config=ctx.config, item=item, data=data, actor=who.actor, now=now)
    read = actions.to_read(item, now=now)
    uow.commit()
    return read


# The API and the web shell's edit page, registered with one line in app.py.
router = APIRouter()
router.include_router(api)
router.include_router(web_router)
