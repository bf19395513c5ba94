"""Slack's requests: `/api/v1/integrations/slack/{commands,interactions,events}`.

Each request is checked against `WARROOM_SLACK_SIGNING_SECRET` (HMAC-SHA256 over the raw
body and `X-Slack-Request-Timestamp`, within five minutes of the server's clock) before
anything is read from it; a bad, missing or replayed signature is 401 and changes
nothing, and so is every request while no signing secret is set.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from warroom.api import CtxDep, Responder, UowDep
from warroom.chat import logic
from warroom.chat.adapters import SlackChat
from warroom.chat.commands import (
    Caller,
    run_action,
    run_command,
    run_declare_form,
    run_resolve_form,
    run_status_form,
)
from warroom.chat.models import ChatAction
from warroom.chat.service import channel_of, incident_for_channel, queue
from warroom.context import AppContext
from warroom.errors import Unauthorized, ValidationFailed
from warroom.incidents.models import Incident

router = APIRouter(prefix="/api/v1/integrations/slack", tags=["chat"])
MAX_BODY = 256 * 1024


async def _verified_body(request: Request, ctx: AppContext) -> bytes:
    secret = ctx.settings.slack_signing_secret
    if secret is None:
        raise Unauthorized(
            "Slack requests cannot be verified: WARROOM_SLACK_SIGNING_SECRET is not set"
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ValidationFailed("request body too large", field="body")
    problem = logic.signature_problem(
        secret=secret.get_secret_value(),
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
        body=body,
        now=ctx.clock.now(),
    )
    if problem is not None:
        raise Unauthorized(problem)
    return body


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8 form data", field="body") from None


@router.post("/commands")
async def slash_command(request: Request, ctx: CtxDep) -> Response:
    """`/incident …`: answered within Slack's 3 seconds, ephemerally unless it changed something."""
    form = _form(await _verified_body(request, ctx))
    if form.get("ssl_check") == "1":
        return Response(status_code=200)  # Slack checking the certificate, nothing to do
    if not form.get("user_id"):
        raise ValidationFailed("user_id is missing", field="user_id")
    caller = Caller(
        form["user_id"],
        form.get("user_name", ""),
        form.get("channel_id", ""),
        form.get("trigger_id", ""),
    )
    answer = await run_in_threadpool(run_command, ctx, caller, form.get("text", ""), _port(ctx))
    return JSONResponse(answer) if answer else Response(status_code=200)


def _port(ctx: AppContext) -> SlackChat | None:
    token = ctx.settings.slack_token
    if token is None:
        return None
    return SlackChat(token=token.get_secret_value(), base_url=ctx.settings.slack_base_url)


@router.post("/interactions")
async def interaction(request: Request, ctx: CtxDep) -> Response:
    """A button press on a warroom message (`block_actions`)."""
    form = _form(await _verified_body(request, ctx))
    try:
        payload = json.loads(form.get("payload") or "")
    except json.JSONDecodeError:
        raise ValidationFailed("payload is not JSON", field="payload") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("payload must be an object", field="payload")
    user = payload.get("user") or {}
    view = payload.get("view") or {}
    if payload.get("type") == "view_submission" and isinstance(view, dict):
        forms = {
            logic.DECLARE_CALLBACK: run_declare_form,
            logic.RESOLVE_CALLBACK: run_resolve_form,
            logic.STATUS_CALLBACK: run_status_form,
        }
        form_handler = forms.get(str(view.get("callback_id") or ""))
        if form_handler is None or not isinstance(user, dict):
            return Response(status_code=200)
        metadata = str(view.get("private_metadata") or "")
        caller = Caller(str(user.get("id") or ""), str(user.get("username") or ""),
                        metadata if metadata.startswith(("C", "G")) else "")  # fmt: skip
        answer = await run_in_threadpool(form_handler, ctx, caller, view, _port(ctx))
        return JSONResponse(answer) if answer else Response(status_code=200)
    if payload.get("type") != "block_actions":
        return Response(status_code=200)
    actions = payload.get("actions") or []
    if not isinstance(user, dict) or not user.get("id") or not actions:
        raise ValidationFailed("block_actions needs user.id and actions", field="payload")
    channel = payload.get("channel") or {}
    caller = Caller(
        str(user["id"]),
        str(user.get("username") or user.get("name") or ""),
        str(channel.get("id") or "") if isinstance(channel, dict) else "",
        str(payload.get("trigger_id") or ""),
    )
    first = actions[0] if isinstance(actions[0], dict) else {}
    action_id, value = str(first.get("action_id") or ""), str(first.get("value") or "")
    answer = await run_in_threadpool(run_action, ctx, caller, action_id, value, _port(ctx))
    return JSONResponse(answer) if answer else Response(status_code=200)


@router.post("/events")
async def slack_event(request: Request, ctx: CtxDep) -> JSONResponse:
    """Events API: `url_verification`; messages marked by the reaction or pinned."""
    body = await _verified_body(request, ctx)
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed("the body is not JSON", field="body") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be an object", field="body")
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge") or "")})
    event = payload.get("event")
    if payload.get("type") == "event_callback" and isinstance(event, dict):
        await run_in_threadpool(_on_event, ctx, event)
    return JSONResponse({"ok": True})


def _marked_message(ctx: AppContext, event: dict[str, Any]) -> tuple[bool, str, str] | None:
    """(marked?, channel, ts) for a marking event: the reaction, or a pin; else None."""
    kind = event.get("type")
    item = event.get("item") or {}
    if not isinstance(item, dict):
        return None
    if kind in ("reaction_added", "reaction_removed"):
        if event.get("reaction") != ctx.config.chat.slack.timeline_reaction:
            return None
        if item.get("type") != "message":
            return None
        ts = item.get("ts")
    elif kind in ("pin_added", "pin_removed"):
        message = item.get("message") or {}
        ts = message.get("ts") if isinstance(message, dict) else None
        ts = ts or item.get("ts")
    else:
        return None
    channel = item.get("channel") or event.get("channel_id")
    if not channel or not ts:
        return None
    return kind in ("reaction_added", "pin_added"), str(channel), str(ts)


def _on_event(ctx: AppContext, event: dict[str, Any]) -> None:
    found = _marked_message(ctx, event)
    if found is None:
        return
    marked, channel, ts = found
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        incident = incident_for_channel(uow.session, channel)
        if incident is None:
            return
        opening = channel_of(uow.session, incident.id)
        if opening is not None and opening.opening_ts == ts:
            return  # warroom's own opening message, pinned by warroom
        user = str(event.get("user") or "")
        if marked:
            queue(
                uow.session,
                key=f"slack:capture:{channel}:{ts}",
                kind="capture",
                incident_id=incident.id,
                payload={"channel": channel, "ts": ts, "marked_by": user},
                now=now,
            )
        else:
            queue(
                uow.session,
                key=f"slack:uncapture:{channel}:{ts}:{event.get('event_ts') or now.isoformat()}",
                kind="uncapture",
                incident_id=incident.id,
                payload={"channel": channel, "ts": ts, "unmarked_by": user},
                now=now,
            )
        uow.commit()


@router.get("/actions")
def chat_actions(
    uow: UowDep,
    who: Responder,
    status: Literal["pending", "done", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """The chat outbox, newest first: what was or will be done in Slack, and its errors."""
    query = select(ChatAction).order_by(ChatAction.id.desc()).limit(limit)
    if status is not None:
        query = query.where(ChatAction.status == status)
    result = []
    for action in uow.session.scalars(query):
        incident = uow.session.get(Incident, action.incident_id) if action.incident_id else None
        if incident is not None and not who.can_see(
            restricted=incident.restricted, participants={p.user for p in incident.participants}
        ):
            continue  # restricted incidents stay invisible to outsiders
        result.append(
            {
                "id": action.id,
                "kind": action.kind,
                "incident": incident.key if incident is not None else None,
                "status": action.status,
                "attempts": action.attempts,
                "due_at": action.due_at.isoformat(),
                "last_error": action.last_error,
                "finished_at": action.finished_at.isoformat() if action.finished_at else None,
            }
        )
    return result
