"""On-call API shapes. A schedule's body is the YAML definition, as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from warroom.config.schema import Handle
from warroom.config.schema import Schedule as ScheduleSpec
from warroom.oncall.logic import OverrideKind

__all__ = [
    "EntryRead",
    "OnCallRead",
    "OverrideCreate",
    "OverrideRead",
    "ScheduleCreate",
    "ScheduleRead",
    "ShiftsRead",
]

#: `POST /api/v1/schedules` takes exactly what a `schedules:` item in the YAML holds.
ScheduleCreate = ScheduleSpec
LayerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ScheduleRead(ScheduleSpec):
    source: Literal["config", "api"]
    created_at: datetime | None = None
    created_by: str | None = None


class EntryRead(BaseModel):
    """Someone on call: in `layer` (null: added on top of every layer), from start to end."""

    schedule: str
    layer: str | None
    user: str
    start: datetime
    end: datetime


class OnCallRead(BaseModel):
    at: datetime
    entries: list[EntryRead]


class ShiftsRead(BaseModel):
    schedule: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    shifts: list[EntryRead]


class OverrideCreate(BaseModel):
    """add: `user` on call too; remove: nobody (or not `user`); replace: `user` for `replaces`."""

    model_config = ConfigDict(extra="forbid")

    kind: OverrideKind
    start: AwareDatetime
    end: AwareDatetime
    user: Handle | None = None
    layer: LayerName | None = None
    replaces: Handle | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] = ""


class OverrideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    schedule: str
    kind: OverrideKind
    layer: str | None
    user: str | None
    replaces: str | None
    start: datetime = Field(validation_alias="starts_at")
    end: datetime = Field(validation_alias="ends_at")
    reason: str
    created_by: str | None
    created_at: datetime
    cancelled_at: datetime | None
