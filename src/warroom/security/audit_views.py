"""Audit log routes (admin only): `/api/v1/audit`, `/api/v1/audit/verify`,
`/api/v1/audit/export`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from warroom.api import Admin, CtxDep, UowDep
from warroom.security import audit
from warroom.security.models import AuditEntry
from warroom.security.schemas import AuditPage, AuditRead, ChainVerification

router = APIRouter(prefix="/api/v1/audit", tags=["security"])

Filter = Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00]*$")]


@router.get("", response_model=AuditPage)
def list_audit(
    uow: UowDep,
    who: Admin,
    actor: Filter = None,
    action: Filter = None,
    target: Filter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> AuditPage:
    """Audit entries, newest first; `action` and `target` match by prefix."""
    rows, total = audit.page(
        uow.session, actor=actor, action=action, target=target, limit=limit, offset=offset
    )
    return AuditPage(
        items=[AuditRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/verify", response_model=ChainVerification)
def verify_audit(uow: UowDep, who: Admin) -> ChainVerification:
    """Walk the chain: name every changed, deleted or out-of-place entry."""
    count, problems = audit.verify(uow.session)
    return ChainVerification(ok=not problems, entries=count, problems=[str(p) for p in problems])


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_audit(ctx: CtxDep, uow: UowDep, who: Admin) -> StreamingResponse:
    """The whole log as JSON lines, oldest first, with the hashes to check it elsewhere."""
    uow.rollback()  # end the authentication's transaction: SQLite has one writer at a time

    def lines() -> Iterator[bytes]:
        with ctx.db.unit_of_work(read_only=True) as reading:
            query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=500)
            for entry in reading.session.scalars(query):
                row = AuditRead.model_validate(entry).model_dump(mode="json")
                yield (json.dumps(row, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")
