"""What the escalation routes answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class TargetRead(BaseModel):
    type: str
    name: str
    layer: str | None = None
    channel: str | None = None


class StepRead(BaseModel):
    delay_seconds: float
    urgency: Literal["high", "low"] | None
    method: str
    targets: list[TargetRead]


class PolicyRead(BaseModel):
    name: str
    title: str
    source: Literal["config", "matrix"]
    repeat: int
    ack_timeout_seconds: float | None
    steps: list[StepRead]
    # The services whose incidents page along it; `default` when services without a
    # policy of their own use it.
    services: list[str]
    default: bool


class TimerRead(BaseModel):
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]


class PagingRead(BaseModel):
    """An incident's escalation state: the paging round and every pending timer."""

    incident: str
    policy: str | None
    round: int | None
    paging: bool
    pending: list[TimerRead]
    result: str | None = None
