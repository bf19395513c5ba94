"""Handoff payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
_Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class HandoffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Name


class PendingAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: _Line
    owner: str | None = Field(default=None, max_length=128)
    eta: str | None = Field(default=None, max_length=64)


class CurrentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=20_000)


class HandoffUpdate(BaseModel):
    """The sections the outgoing IC edits; the ones not given stay as they are."""

    model_config = ConfigDict(extra="forbid")

    current_status: CurrentStatus | None = None
    timeline_highlights: list[dict[str, str]] | None = Field(default=None, max_length=100)
    actions_taken: list[_Line] | None = Field(default=None, max_length=200)
    pending_actions: list[PendingAction] | None = Field(default=None, max_length=200)
    open_questions: list[_Line] | None = Field(default=None, max_length=200)
    stakeholder_status: dict[str, Any] | None = None
    environment_state: dict[str, Any] | None = None
    witnesses: list[Name] | None = Field(default=None, max_length=50)


class HandoffRead(BaseModel):
    id: int
    incident_id: str
    from_user: str | None
    to: str
    status: str
    document: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
