"""Incident tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warroom.db import Base, UTCDateTime


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), index=True)
    type: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    impact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(64))
    # The auto-declaration rule that opened it, if one did.
    declared_by_rule: Mapped[str | None] = mapped_column(String(128))
    # Required roles of its level still empty after the level's response time (flagged by
    # the engine, cleared as they are filled): see warroom.authority.staffing.
    unfilled_roles: Mapped[list[str] | None] = mapped_column(JSON)
    # The drill that opened it (warroom.drills): left out of metrics, labelled [DRILL] on
    # every message, never on the public status page, paging only the drill's participants.
    drill_id: Mapped[int | None] = mapped_column(Integer, index=True)

    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    services: Mapped[list[IncidentService]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentService.service"
    )
    roles: Mapped[list[IncidentRole]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentRole.role"
    )
    participants: Mapped[list[IncidentParticipant]] = relationship(
        back_populates="incident", cascade="all, delete-orphan"
    )

    @property
    def key(self) -> str:
        return f"INC-{self.id}"


class IncidentService(Base):
    __tablename__ = "incident_services"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    incident: Mapped[Incident] = relationship(back_populates="services")


class IncidentRole(Base):
    """Who holds each role now; every change is also a timeline event."""

    __tablename__ = "incident_roles"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str | None] = mapped_column(String(64))
    incident: Mapped[Incident] = relationship(back_populates="roles")


class IncidentParticipant(Base):
    """Everyone who may see a restricted incident: declarer, role holders, invitees."""

    __tablename__ = "incident_participants"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    incident: Mapped[Incident] = relationship(back_populates="participants")


Index("ix_incident_participants_user", IncidentParticipant.user)
