"""Checklist and approval payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class StepUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["done", "skipped", "pending"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = None


class StepRead(BaseModel):
    key: str
    runbook: str
    phase: str
    text: str
    role: str | None
    requires_approval: str | None
    sla: str | None
    due_at: datetime | None
    overdue: bool
    state: str
    done_by: str | None
    done_at: datetime | None
    note: str | None
    extras: dict[str, Any]


class AttachedRead(BaseModel):
    name: str
    matched_by: str


class PhaseRead(BaseModel):
    name: str
    steps: list[StepRead]


class ChecklistRead(BaseModel):
    incident_id: str
    current_phase: str | None
    runbooks: list[AttachedRead]
    phases: list[PhaseRead]


class ApprovalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    reason: _Text


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    granted: bool
    reason: _Text


class ApprovalRead(BaseModel):
    id: int
    incident_id: str
    action: str
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    # Whether a role's `requires_ic_approval` lists the action.
    needs_ic: bool
