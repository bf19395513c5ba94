"""Checklist steps (a runbook instantiated for one incident) and approval requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class ChecklistStep(Base):
    """One step of a matched runbook on one incident, with its state and SLA."""

    __tablename__ = "checklist_steps"
    __table_args__ = (UniqueConstraint("incident_id", "key", name="uq_checklist_steps_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    runbook: Mapped[str] = mapped_column(String(128))
    # Which rule attached the runbook ("no match rule: every incident", "service api").
    matched_by: Mapped[str] = mapped_column(String(255))
    phase: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(String(64))
    requires_approval: Mapped[str | None] = mapped_column(String(200))
    sla: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extras: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    done_by: Mapped[str | None] = mapped_column(String(128))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)


Index("ix_checklist_steps_incident", ChecklistStep.incident_id, ChecklistStep.position)


class Approval(Base):
    """A request for an action that needs approval, and the decision on it."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
