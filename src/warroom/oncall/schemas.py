"""On-call API shapes. A schedule's body is the YAML definition, as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from warroom.config.base import Handle
from warroom.config.oncall import Schedule as ScheduleSpec
from warroom.oncall.logic import OverrideKind

__all__ = [
    "EntryRead",
    "FeedCreate",
    "FeedRead",
    "FeedWithUrl",
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


class FeedCreate(BaseModel):
    """A calendar feed of one person's shifts (`user`) or of one schedule (`schedule`)."""

    model_config = ConfigDict(extra="forbid")

    user: Handle | None = None
    schedule: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""

    @model_validator(mode="after")
    def _one_target(self) -> FeedCreate:
        if (self.user is None) == (self.schedule is None):
            raise ValueError("give either user or schedule")
        return self


class FeedRead(BaseModel):
    """A feed as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["user", "schedule"]
    target: str
    label: str
    created_by: str
    created_at: datetime
    rotated_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class FeedWithUrl(FeedRead):
    """A feed just made or rotated: `url` holds the secret and is shown this once."""

    url: str
    webcal_url: str
