"""Postmortem and action-item API shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from warroom.postmortems.logic import ActionStatus, ActionType, PostmortemStatus, Priority


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here so both databases answer the same 422.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _storable(value: datetime) -> datetime:
    # Year 9999 with a negative offset has no UTC form; such a time is nobody's due date.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1970 <= utc.year <= 9000:
        raise ValueError("must be a time between the years 1970 and 9000")
    return value


Clean = AfterValidator(_no_nul)
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Clean]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Clean]
Prose = Annotated[str, StringConstraints(max_length=50_000), Clean]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), Clean
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000), Clean]
When = Annotated[AwareDatetime, AfterValidator(_storable)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhyLink(Input):
    why: Line
    because: Line


class Sections(Input):
    """The narrative sections; any left out of an update keeps its text."""

    summary: Prose | None = None
    impact: Prose | None = None
    root_cause: Prose | None = None
    contributing_factors: Prose | None = None
    resolution: Prose | None = None
    went_well: Prose | None = None
    went_poorly: Prose | None = None
    prevention: Prose | None = None
    lessons_learned: Prose | None = None


class PostmortemUpdate(Input):
    sections: Sections | None = None
    five_whys: list[WhyLink] | None = Field(default=None, max_length=20)
    owner: Name | None = None
    root_cause_category: Name | None = None
    related_incidents: list[Name] | None = Field(default=None, max_length=50)
    # The version the editor saw: a stale one is a 409 instead of a lost edit.
    version: int | None = Field(default=None, ge=1)


class StatusMove(Input):
    status: PostmortemStatus


class ReviewRequest(Input):
    at: When | None = None
    participants: list[Name] | None = Field(default=None, max_length=100)


class PostmortemRead(BaseModel):
    incident: str
    status: PostmortemStatus
    owner: str | None
    deadline_at: datetime | None
    overdue: bool
    version: int
    sections: dict[str, str]
    five_whys: list[WhyLink]
    missing_sections: list[str]
    root_cause_category: str | None
    related_incidents: list[str]
    repeat_of: list[str]
    review_at: datetime | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class RevisionRead(BaseModel):
    version: int
    actor: str
    at: datetime
    summary: str
    changes: dict[str, Any]


class PostmortemPage(BaseModel):
    items: list[PostmortemRead]
    total: int


class ActionItemCreate(Input):
    incident: Name
    title: Title
    priority: Priority
    type: ActionType
    owner: Name
    due: When | None = None


class ActionItemUpdate(Input):
    title: Title | None = None
    priority: Priority | None = None
    type: ActionType | None = None
    owner: Name | None = None
    due: When | None = None
    status: ActionStatus | None = None
    reason: Reason | None = None


class ActionItemRead(BaseModel):
    id: int
    incident: str
    postmortem: bool
    title: str
    priority: Priority
    type: ActionType
    owner: str
    due: datetime
    status: ActionStatus
    reason: str | None
    overdue: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class ActionItemPage(BaseModel):
    items: list[ActionItemRead]
    total: int
    limit: int
    offset: int
