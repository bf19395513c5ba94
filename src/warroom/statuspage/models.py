"""Status page tables: components, their status history, public incidents and updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warroom.db import Base, UTCDateTime


class StatusComponent(Base):
    __tablename__ = "status_components"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    group_name: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32))
    # Who set the status: manual, incident, maintenance, config.
    status_source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusComponentChange(Base):
    """Every status a component entered, for the uptime bars."""

    __tablename__ = "status_component_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("status_components.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublicIncident(Base):
    """The public projection of an internal incident: only what was published."""

    __tablename__ = "status_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    impact: Mapped[str] = mapped_column(String(16))
    # Component name → the status this incident gave it (put back when it resolves).
    components: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Its id on Atlassian Statuspage, once mirrored there.
    remote_id: Mapped[str | None] = mapped_column(String(64))
    updates: Mapped[list[PublicIncidentUpdate]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        order_by="PublicIncidentUpdate.id.desc()",
    )


class PublicIncidentUpdate(Base):
    __tablename__ = "status_incident_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_incident_id: Mapped[int] = mapped_column(
        ForeignKey("status_incidents.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    components: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    incident: Mapped[PublicIncident] = relationship(back_populates="updates")


class StatusPageState(Base):
    """One row: bumped by every public change; the publisher renders when it moved."""

    __tablename__ = "status_page_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusSubscriber(Base):
    """Someone who asked to hear about public updates: an e-mail address or a webhook.

    Double opt-in: nothing but the confirmation is sent until `confirmed_at` is set. The
    token is in the confirmation and in every message's unsubscribe link.
    """

    __tablename__ = "status_subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email|webhook
    address: Mapped[str] = mapped_column(String(512))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmations_sent: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_status_subscribers_kind_address", StatusSubscriber.kind, StatusSubscriber.address)


class StatusMaintenance(Base):
    """Scheduled maintenance of components. It owns the maintenance windows of the services
    behind them (`window_ids`), so alerts during it are suppressed: one concept, not two."""

    __tablename__ = "status_maintenances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    window_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Moves by time when `auto_transition`; a person may set verifying or completed.
    status: Mapped[str] = mapped_column(String(16))
    auto_transition: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
