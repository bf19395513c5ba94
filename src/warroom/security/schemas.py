"""Security API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class EvidenceText(BaseModel):
    """Text evidence (a note, a pasted log excerpt): sent as JSON."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    reason: Reason
    name: Name = "note.txt"


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    kind: str
    name: str
    media_type: str
    size: int
    sha256: str
    reason: str
    added_by: str
    added_at: datetime
    # When the file was purged (by hand or by retention); the record stays.
    purged_at: datetime | None = None


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class HoldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    held_at: datetime
    held_by: str
    reason: str


class CustodyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    evidence_id: int | None
    action: str
    actor: str
    at: datetime
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class ItemVerification(BaseModel):
    id: int
    name: str
    sha256: str
    ok: bool
    problems: list[str]


class EvidenceVerification(BaseModel):
    incident: str
    ok: bool
    items: list[ItemVerification]
    custody_entries: int
    custody_problems: list[str]
    problems: list[str]


class BreachCreate(BaseModel):
    """Mark an incident as a personal-data breach; what Article 33(3) asks to describe."""

    model_config = ConfigDict(extra="forbid")

    aware_at: AwareDatetime
    regimes: Annotated[list[str], Field(min_length=1, max_length=16)] = ["gdpr"]
    nature: Annotated[str, Field(max_length=5000)] = ""
    data_categories: Annotated[
        list[Annotated[str, Field(max_length=200)]], Field(max_length=50)
    ] = []
    subject_categories: Annotated[
        list[Annotated[str, Field(max_length=200)]], Field(max_length=50)
    ] = []
    approx_subjects: Annotated[int, Field(ge=0, le=10**12)] | None = None
    approx_records: Annotated[int, Field(ge=0, le=10**15)] | None = None
    consequences: Annotated[str, Field(max_length=5000)] = ""
    measures: Annotated[str, Field(max_length=5000)] = ""


class NotificationCreate(BaseModel):
    """A notification was sent: it stops its clock."""

    model_config = ConfigDict(extra="forbid")

    regime: Annotated[str, Field(min_length=1, max_length=64)]
    obligation: Annotated[str, Field(min_length=1, max_length=64)]
    sent_at: AwareDatetime | None = None
    reference: Annotated[str, Field(max_length=255)] | None = None
    note: Annotated[str, Field(max_length=5000)] | None = None


class ClockRead(BaseModel):
    regime: str
    obligation: str
    recipient: str
    started_at: datetime
    deadline: datetime
    state: str
    seconds_left: float
    notified_at: datetime | None
    notified_by: str | None
    reference: str | None


class ChecklistItem(BaseModel):
    step: str
    done: bool


class BreachRead(BaseModel):
    incident: str
    aware_at: datetime
    marked_at: datetime
    marked_by: str
    details: dict[str, Any]
    clocks: list[ClockRead]
    checklist: list[ChecklistItem]


class DraftRead(BaseModel):
    regime: str
    obligation: str
    recipient: str
    deadline: datetime
    text: str


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRead]
    total: int
    limit: int
    offset: int


class ChainVerification(BaseModel):
    ok: bool
    entries: int
    problems: list[str]
