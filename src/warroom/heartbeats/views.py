"""Heartbeat check-ins: `GET` or `POST /api/v1/heartbeats/{key}`, public by key (cron curls it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from warroom.alerts.service import Outcome
from warroom.api import CtxDep, UowDep
from warroom.errors import NotFound
from warroom.heartbeats import service
from warroom.integrations.service import plausible_key

router = APIRouter(prefix="/api/v1/heartbeats", tags=["heartbeats"])


class CheckInRead(BaseModel):
    status: str
    next_deadline: datetime
    resolved_alert_id: int | None = None


@router.get("/{key}", response_model=CheckInRead, operation_id="heartbeat_check_in_get")
@router.post("/{key}", response_model=CheckInRead, operation_id="heartbeat_check_in")
def heartbeat_check_in(
    key: Annotated[str, Path(min_length=1, max_length=64)], ctx: CtxDep, uow: UowDep
) -> CheckInRead:
    """Check in (no token: the key in the URL is the credential); a missed-heartbeat alert
    resolves, and the next deadline is now + interval + grace."""
    if not plausible_key(key):
        raise NotFound("no heartbeat with this key", field="key")  # as for any unknown key
    result = service.check_in(uow.session, key=key, now=ctx.clock.now())
    uow.commit()
    resolved = result.resolved
    if resolved is None or resolved.outcome is not Outcome.RESOLVED:
        return CheckInRead(status="ok", next_deadline=result.next_deadline)
    return CheckInRead(
        status="ok", next_deadline=result.next_deadline, resolved_alert_id=resolved.alert_id
    )
