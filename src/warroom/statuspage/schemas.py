"""Status page API shapes (the authenticated management API, not the public documents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from warroom.config.incidents import ComponentStatus
from warroom.statuspage.logic import MaintenanceStatus, PublicStatus

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1_000)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentCreate(Input):
    name: Label
    description: Description = ""
    group: Label | None = None
    status: ComponentStatus = ComponentStatus.OPERATIONAL


class ComponentUpdate(Input):
    status: ComponentStatus | None = None
    description: Description | None = None
    # An empty string takes the component out of its group.
    group: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class ComponentRead(BaseModel):
    id: int
    name: str
    description: str
    group: str | None
    position: int
    status: ComponentStatus
    status_source: str
    updated_at: datetime


class PublicUpdateCreate(Input):
    """An explicit public update; an admin may publish a restricted incident this way."""

    status: PublicStatus
    message: Body | None = None
    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
        | None
    ) = None
    components: dict[Label, ComponentStatus] = Field(default_factory=dict, max_length=100)


class PublicUpdateRead(BaseModel):
    status: PublicStatus
    body: str
    components: dict[str, dict[str, str]]
    created_at: datetime


class PublicIncidentRead(BaseModel):
    code: str
    incident: str
    name: str
    status: PublicStatus
    impact: str
    components: dict[str, str]
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    updates: list[PublicUpdateRead]


class MaintenanceCreate(Input):
    name: Title
    body: Body = ""
    components: list[Label] = Field(min_length=1, max_length=100)
    scheduled_for: AwareDatetime
    scheduled_until: AwareDatetime
    auto_transition: bool = True


class MaintenanceUpdate(Input):
    status: MaintenanceStatus


class MaintenanceRead(BaseModel):
    id: int
    code: str
    name: str
    body: str
    components: list[str]
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    auto_transition: bool
    suppressing_windows: list[int]


class StakeholderUpdateCreate(Input):
    audiences: list[Literal["internal", "executive", "technical", "customer"]] = Field(
        min_length=1, max_length=4
    )
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)
    ]
    channels: list[Literal["email", "chat"]] | None = None


class StakeholderUpdateSent(BaseModel):
    audience: str
    kind: str
    subject: str
    recipients: list[str]
    published: bool


class StakeholderUpdateRead(BaseModel):
    incident: str
    sent: list[StakeholderUpdateSent]
