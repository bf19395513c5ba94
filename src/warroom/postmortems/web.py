"""The postmortem edit page of the web shell: plain forms, CSRF-checked, autoescaped."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from warroom.api import CtxDep, IdPath, UowDep
from warroom.config.postmortems import SECTIONS
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.postmortems import actions, service
from warroom.postmortems.logic import ActionStatus, ActionType, PostmortemStatus, Priority
from warroom.postmortems.schemas import ActionItemCreate, ActionItemUpdate, PostmortemUpdate
from warroom.web.shell import (
    WebRoute,
    WebUser,
    current_user,
    form_caller,
    not_found_page,
    render_template,
    to_login,
)

router = APIRouter(include_in_schema=False, route_class=WebRoute)
FormStr = Annotated[str, Form()]
LABELS = {
    "summary": "1. Summary", "impact": "2. Impact", "root_cause": "4. What happened (root cause)",
    "contributing_factors": "Contributing factors", "resolution": "Resolution",
    "went_well": "5. What went well", "went_poorly": "6. What went poorly",
    "prevention": "8. Prevention and detection", "lessons_learned": "9. Lessons learned",
}  # fmt: skip
MOVES = {
    "draft": [("in_review", "Submit for review")],
    "in_review": [("published", "Publish"), ("draft", "Back to draft")],
    "published": [("draft", "Start a new revision")],
}
MAX_WHYS = 20


def _page(
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    key: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    incident = incidents.get(uow.session, key=key, viewer=user.principal)
    pm = service.get(uow.session, incident=incident)
    read = service.to_read(uow.session, ctx.config, pm, incident, now=ctx.clock.now())
    values = dict(read.sections)
    whys = [{"why": w.why, "because": w.because} for w in read.five_whys]
    category = read.root_cause_category or ""
    if typed:  # a refused save shows what was typed, not the stored text
        values, whys, category = typed["sections"], typed["whys"], typed["category"]
    editable = user.can_act and read.status is not PostmortemStatus.PUBLISHED
    if editable and len(whys) < MAX_WHYS:
        whys = [*whys, {"why": "", "because": ""}]
    now = ctx.clock.now()
    items = [actions.to_read(a, now=now) for a in service.actions_of(uow.session, incident.id)]
    return render_template(
        "postmortem.html", status_code, user=user, key=incident.key, title=incident.title,
        items=items, priorities=list(Priority), types=list(ActionType),
        statuses=list(ActionStatus),
        pm=read, values=values, whys=whys, category=category,
        sections=[(name, LABELS[name]) for name in SECTIONS],
        moves=MOVES[read.status.value], error=error, notice=notice,
    )  # fmt: skip


@router.get("/incidents/{key}/postmortem")
def postmortem_page(key: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    try:
        return _page(ctx, uow, user, key)
    except NotFound:
        return not_found_page(request, user)


def _checked(request: Request, ctx: AppContext, uow: UnitOfWork, csrf: str) -> WebUser | Response:
    return form_caller(request, ctx, uow, csrf, refusal="Your token may only read incidents.")


@router.post("/incidents/{key}/postmortem")
async def save_postmortem(key: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    form = await request.form()
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    checked = _checked(request, ctx, uow, text.get("csrf_token", ""))
    if not isinstance(checked, WebUser):
        return checked
    sections = {name: text.get(f"section_{name}", "") for name in SECTIONS}
    whys = [
        {"why": text.get(f"why_{i}", "").strip(), "because": text.get(f"because_{i}", "").strip()}
        for i in range(MAX_WHYS)
    ]
    whys = [w for w in whys if w["why"] or w["because"]]
    category = text.get("root_cause_category", "").strip()
    typed = {"sections": sections, "whys": whys, "category": category}
    try:
        incident = incidents.get(uow.session, key=key, viewer=checked.principal, for_update=True)
        pm = service.get(uow.session, incident=incident)
        version = text.get("version", "")
        try:
            data = PostmortemUpdate(
                sections=sections,
                five_whys=whys,
                root_cause_category=category or None,
                version=int(version) if version.isdigit() else None,
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        service.update(
            uow.session, config=ctx.config, pm=pm, incident=incident, data=data,
            actor=checked.principal.actor, now=ctx.clock.now(),
        )  # fmt: skip
    except NotFound:
        return not_found_page(request, checked)
    except (Conflict, ValidationFailed) as exc:
        uow.rollback()
        status = 409 if isinstance(exc, Conflict) else 422
        return _page(ctx, uow, checked, key, status_code=status, error=exc.message, typed=typed)
    uow.commit()
    return RedirectResponse(f"/incidents/{incident.key}/postmortem", status_code=303)


@router.post("/incidents/{key}/postmortem/status")
def move_postmortem(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, status: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    checked = _checked(request, ctx, uow, csrf_token)
    if not isinstance(checked, WebUser):
        return checked
    try:
        incident = incidents.get(uow.session, key=key, viewer=checked.principal, for_update=True)
        pm = service.get(uow.session, incident=incident)
        try:
            target = PostmortemStatus(status)
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", field="status") from None
        service.move(
            uow.session, config=ctx.config, pm=pm, incident=incident, status=target,
            actor=checked.principal.actor, now=ctx.clock.now(),
        )  # fmt: skip
    except NotFound:
        return not_found_page(request, checked)
    except (Conflict, ValidationFailed) as exc:
        uow.rollback()
        status_code = 409 if isinstance(exc, Conflict) else 422
        return _page(ctx, uow, checked, key, status_code=status_code, error=exc.message)
    uow.commit()
    return RedirectResponse(f"/incidents/{incident.key}/postmortem", status_code=303)


def _invalid(exc: ValidationError) -> ValidationFailed:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return ValidationFailed(f"{where}: {first['msg']}", field=where)


@router.post("/incidents/{key}/action-items")
def add_action_item(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, title: FormStr = "",
    priority: FormStr = "", type: FormStr = "", owner: FormStr = "", csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    checked = _checked(request, ctx, uow, csrf_token)
    if not isinstance(checked, WebUser):
        return checked
    try:
        incident = incidents.get(uow.session, key=key, viewer=checked.principal, for_update=True)
        try:
            data = ActionItemCreate.model_validate(
                {
                    "incident": incident.key,
                    "title": title,
                    "priority": priority,
                    "type": type,
                    "owner": owner,
                }
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        actions.create(
            uow.session, config=ctx.config, incident=incident, data=data,
            actor=checked.principal.actor, now=ctx.clock.now(),
        )  # fmt: skip
    except NotFound:
        return not_found_page(request, checked)
    except (Conflict, ValidationFailed) as exc:
        uow.rollback()
        status = 409 if isinstance(exc, Conflict) else 422
        return _page(ctx, uow, checked, key, status_code=status, error=exc.message)
    uow.commit()
    return RedirectResponse(f"/incidents/{incident.key}/postmortem", status_code=303)


@router.post("/action-items/{item_id}/status")
def move_action_item(
    item_id: IdPath, request: Request, ctx: CtxDep, uow: UowDep, status: FormStr = "",
    reason: FormStr = "", csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    checked = _checked(request, ctx, uow, csrf_token)
    if not isinstance(checked, WebUser):
        return checked
    try:
        item = actions.get(
            uow.session, item_id=min(item_id, service.MAX_ID), viewer=checked.principal
        )
        key = f"INC-{item.incident_id}"
        try:
            data = ActionItemUpdate.model_validate({"status": status, "reason": reason or None})
        except ValidationError as exc:
            raise _invalid(exc) from None
        actions.update(
            uow.session, config=ctx.config, item=item, data=data,
            actor=checked.principal.actor, now=ctx.clock.now(),
        )  # fmt: skip
    except NotFound:
        return not_found_page(request, checked)
    except (Conflict, ValidationFailed) as exc:
        uow.rollback()
        status_code = 409 if isinstance(exc, Conflict) else 422
        return _page(ctx, uow, checked, key, status_code=status_code, error=exc.message)
    uow.commit()
    return RedirectResponse(f"/incidents/{key}/postmortem", status_code=303)
