"""Evidence locker routes: `/api/v1/incidents/{id}/evidence…` and `…/custody`.

An upload streams: the body is sealed chunk by chunk as it arrives (never whole in
memory), and the database is touched only before (who is asking) and after (the row and
its custody entry), never while the bytes flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from warroom.api import Admin, CtxDep, Responder, UowDep, Viewer, authenticate, bearer_token
from warroom.auth.logic import Principal
from warroom.context import AppContext
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.security import audit, evidence, retention
from warroom.security.crypto import LockerKey
from warroom.security.logic import CustodyAction
from warroom.security.models import CustodyEntry, EvidenceItem
from warroom.security.schemas import (
    CustodyRead,
    EvidenceRead,
    EvidenceText,
    EvidenceVerification,
    HoldCreate,
    HoldRead,
    ItemVerification,
)
from warroom.security.store import EvidenceStore, LockerOff, PayloadTooLarge, Stored

router = APIRouter(prefix="/api/v1/incidents", tags=["security"])

_UPLOAD_BODY = {
    # The guard hands raw uploads over unread (warroom.hardening): this route bounds them.
    "x-warroom-streaming": True,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EvidenceText.model_json_schema()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


def _read(item: EvidenceItem, gone: dict[int, CustodyEntry]) -> EvidenceRead:
    read = EvidenceRead.model_validate(item)
    if item.id in gone:
        read.purged_at = gone[item.id].at
    return read


def evidence_store(ctx: AppContext) -> EvidenceStore:
    secret = ctx.settings.evidence_key
    if secret is None:
        raise LockerOff("the evidence locker is off: set WARROOM_EVIDENCE_KEY (32+ characters)")
    return EvidenceStore(ctx.settings.evidence_path, LockerKey(secret.get_secret_value()))


def _admit(ctx: AppContext, token: str | None, key: str) -> tuple[Principal, int]:
    with ctx.db.unit_of_work() as uow:
        who = authenticate(ctx, uow, token)
        incident = incidents.get(uow.session, key=key, viewer=who)
        evidence.check_access(incident, who, ctx.config, write=True)
        return who, incident.id


def _record(
    ctx: AppContext, who: Principal, incident_id: int, stored: Stored, **item: str
) -> EvidenceRead:
    with ctx.db.unit_of_work() as uow:
        audit.bind(uow.session, who, f"POST /api/v1/incidents/INC-{incident_id}/evidence")
        incident = incidents.get(uow.session, key=incident_id, viewer=who, for_update=True)
        row = evidence.add(
            uow.session, incident=incident, stored=stored, actor=who.actor,
            now=ctx.clock.now(), **item,
        )  # fmt: skip
        uow.commit()
        return EvidenceRead.model_validate(row)


_JSON_LIMIT = 4 * 1_000_000 + 16_000  # a million characters, escaped, and the other fields


async def _json_body(request: Request) -> bytes:
    """The JSON body, refused (413) as soon as it passes the limit, never read beyond it."""
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge("text evidence is limited to 1,000,000 characters", field="text")
    if declared.isdigit() and int(declared) > _JSON_LIMIT:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _JSON_LIMIT:
            raise too_large
    return bytes(body)


async def _stream_in(request: Request, store: EvidenceStore, limit: int) -> Stored:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"evidence is limited to {limit} bytes (security.evidence.max_bytes)", field="body"
        )
    intake = store.intake(limit)
    try:
        async for chunk in request.stream():
            if chunk:
                intake.write(chunk)
        return await asyncio.to_thread(intake.finish)
    except BaseException:
        intake.abort()
        raise


@router.post(
    "/{key}/evidence", status_code=201, response_model=EvidenceRead, openapi_extra=_UPLOAD_BODY
)
async def add_evidence(
    key: str,
    request: Request,
    name: Annotated[str | None, Query(max_length=255)] = None,
    reason: Annotated[str | None, Query(max_length=2000)] = None,
) -> EvidenceRead:
    """Add evidence: JSON `{text, reason, name?}` for text, any other body for a file (with
    `?name=&reason=`). Stored encrypted; its SHA-256 is recorded on the custody chain."""
    ctx: AppContext = request.app.state.ctx
    store = evidence_store(ctx)
    limit = ctx.config.security.evidence.max_bytes
    who, incident_id = await asyncio.to_thread(_admit, ctx, bearer_token(request), key)
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0]
    if media_type.strip().lower() == "application/json":
        raw = await _json_body(request)
        try:
            text = EvidenceText.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None
        data = text.text.encode()
        if len(data) > limit:
            raise PayloadTooLarge(f"evidence is limited to {limit} bytes", field="text")
        intake = store.intake(limit)
        intake.write(data)
        stored = await asyncio.to_thread(intake.finish)
        item = {
            "kind": "text",
            "name": text.name,
            "media_type": "text/plain",
            "reason": text.reason,
        }
    else:
        if not (name or "").strip():
            raise ValidationFailed("name: a file needs ?name=", field="name")
        if not (reason or "").strip():
            raise ValidationFailed("reason: say why this is evidence (?reason=)", field="reason")
        try:
            stored = await _stream_in(request, store, limit)
        except ClientDisconnect:
            raise ValidationFailed("body: the upload was interrupted", field="body") from None
        item = {
            "kind": "file",
            "name": (name or "").strip(),
            "media_type": media_type.strip()[:128] or "application/octet-stream",
            "reason": (reason or "").strip(),
        }
    return await asyncio.to_thread(_record, ctx, who, incident_id, stored, **item)


@router.get("/{key}/evidence", response_model=list[EvidenceRead])
def list_evidence(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> list[EvidenceRead]:
    """The incident's evidence (participants, the security team and admins only)."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    evidence.check_access(incident, who, ctx.config, write=False)
    audit.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}/evidence")
    gone = evidence.purged(uow.session, incident_id=incident.id)
    return [_read(i, gone) for i in evidence.list_items(uow.session, incident=incident)]


@router.get("/{key}/evidence/verify", response_model=EvidenceVerification)
def verify_evidence(
    key: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    reason: Annotated[str, Query(max_length=2000)] = "verification",
) -> EvidenceVerification:
    """Check every file against its intake SHA-256 and the custody chain; name what changed."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    evidence.check_access(incident, who, ctx.config, write=False)
    result = evidence.verify(uow.session, store=evidence_store(ctx), incident=incident)
    evidence.record_custody(
        uow.session, incident=incident, action=CustodyAction.VERIFY, actor=who.actor,
        now=ctx.clock.now(), reason=reason,
        details={"ok": result.ok, "problems": len(result.problems())},
    )  # fmt: skip
    uow.commit()
    return EvidenceVerification(
        incident=incident.key,
        ok=result.ok,
        items=[
            ItemVerification(
                id=i.id, name=i.name, sha256=i.sha256, ok=not i.problems, problems=i.problems
            )
            for i in result.items
        ],
        custody_entries=result.entries,
        custody_problems=result.custody,
        problems=result.problems(),
    )


@router.get("/{key}/evidence/{evidence_id}", response_model=EvidenceRead)
def show_evidence(
    key: str,
    evidence_id: int,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> EvidenceRead:
    """One item's record; the view goes on the custody chain."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    evidence.check_access(incident, who, ctx.config, write=False)
    item = evidence.get_item(uow.session, incident=incident, evidence_id=evidence_id)
    evidence.record_custody(
        uow.session, incident=incident, action=CustodyAction.VIEW, actor=who.actor,
        now=ctx.clock.now(), reason=reason, evidence_id=item.id,
    )  # fmt: skip
    uow.commit()
    return _read(item, evidence.purged(uow.session, incident_id=incident.id))


@router.get(
    "/{key}/evidence/{evidence_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_evidence(
    key: str,
    evidence_id: int,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
) -> StreamingResponse:
    """The content, decrypted as it streams; each chunk is authenticated before it is sent.
    The download and its reason go on the custody chain first."""
    store = evidence_store(ctx)
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    evidence.check_access(incident, who, ctx.config, write=False)
    item = evidence.get_item(uow.session, incident=incident, evidence_id=evidence_id)
    if item.id in evidence.purged(uow.session, incident_id=incident.id):
        raise Conflict(f"E-{item.id} was purged; its record stays, its content is gone")
    evidence.record_custody(
        uow.session, incident=incident, action=CustodyAction.DOWNLOAD, actor=who.actor,
        now=ctx.clock.now(), reason=reason, evidence_id=item.id,
    )  # fmt: skip
    uow.commit()
    address, sha, size, name = item.address, item.sha256, item.size, item.name

    def chunks() -> Iterator[bytes]:
        yield from store.read(address)

    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "evidence"
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(size),
            "X-Evidence-SHA256": sha,
            "Content-Disposition": f'attachment; filename="{safe_name}"',
        },
    )


@router.get("/{key}/custody", response_model=list[CustodyRead])
def list_custody(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> list[CustodyRead]:
    """The chain of custody: every add, view, download and verification, hash-chained."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    evidence.check_access(incident, who, ctx.config, write=False)
    audit.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}/custody")
    return [CustodyRead.model_validate(e) for e in evidence.custody(uow.session, incident=incident)]


@router.put("/{key}/legal-hold", response_model=HoldRead)
def place_hold(key: str, data: HoldCreate, ctx: CtxDep, uow: UowDep, who: Responder) -> HoldRead:
    """Place the incident's evidence under legal hold: nothing is purged until released."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    evidence.check_access(incident, who, ctx.config, write=True)
    row = retention.hold(
        uow.session, incident=incident, actor=who.actor, reason=data.reason, now=ctx.clock.now()
    )
    uow.commit()
    return HoldRead.model_validate(row)


@router.get("/{key}/legal-hold", response_model=HoldRead)
def show_hold(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> HoldRead:
    """The legal hold, if there is one (404 otherwise)."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    evidence.check_access(incident, who, ctx.config, write=False)
    row = retention.get_hold(uow.session, incident=incident)
    if row is None:
        raise NotFound(f"{incident.key} is not under legal hold", field="id")
    return HoldRead.model_validate(row)


@router.delete("/{key}/legal-hold", response_model=HoldRead)
def release_hold(
    key: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Admin,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
) -> HoldRead:
    """Release the legal hold (admins only); the release goes on the custody chain. The
    answer is the hold that was released."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    released = retention.release(
        uow.session, incident=incident, actor=who.actor, reason=reason, now=ctx.clock.now()
    )
    uow.commit()
    return released


@router.delete("/{key}/evidence/{evidence_id}", response_model=EvidenceRead)
def purge_evidence(
    key: str,
    evidence_id: int,
    ctx: CtxDep,
    uow: UowDep,
    who: Admin,
    reason: Annotated[str, Query(min_length=1, max_length=2000)],
) -> EvidenceRead:
    """Purge an item's content (admins only; refused under legal hold). Its record and
    custody stay."""
    store = evidence_store(ctx)
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = evidence.get_item(uow.session, incident=incident, evidence_id=evidence_id)
    addresses = retention.purge(
        uow.session, incident=incident, items=[item], actor=who.actor, reason=reason,
        now=ctx.clock.now(),
    )  # fmt: skip
    uow.after_commit(lambda: retention.remove_files(store, addresses))
    uow.commit()
    return _read(item, evidence.purged(uow.session, incident_id=incident.id))
