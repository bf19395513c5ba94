"""Alerts: one row per open problem per integration and dedup key, counting its occurrences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16))
    component: Mapped[str | None] = mapped_column(String(255))
    group: Mapped[str | None] = mapped_column("group_name", String(255))
    class_: Mapped[str | None] = mapped_column("class_name", String(255))
    group_key: Mapped[str | None] = mapped_column(String(512))
    instance: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    # When the source says the problem began (PD payload.timestamp, Alertmanager startsAt).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Alerts recorded while their service is in maintenance never page or declare.
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Routing (grouping, auto-declaration) runs after the commit; NULL means not yet routed.
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)


# One open alert per integration and key; a trigger after a resolve opens a new one.
Index(
    "uq_alerts_open_key",
    Alert.integration_id,
    Alert.dedup_key,
    unique=True,
    sqlite_where=text("resolved_at IS NULL"),
    postgresql_where=text("resolved_at IS NULL"),
)
# Late copies of ended Alertmanager firings are looked up among resolved alerts.
Index(
    "ix_alerts_resolved_key",
    Alert.integration_id,
    Alert.dedup_key,
    sqlite_where=text("resolved_at IS NOT NULL"),
    postgresql_where=text("resolved_at IS NOT NULL"),
)
# Grouping by Alertmanager group and counting alerts in a window.
Index("ix_alerts_group_key", Alert.integration_id, Alert.group_key)
Index("ix_alerts_first_seen", Alert.first_seen)
Index("ix_alerts_status_id", Alert.status, Alert.id)
Index(
    "ix_alerts_unrouted",
    Alert.id,
    sqlite_where=text("routed_at IS NULL"),
    postgresql_where=text("routed_at IS NULL"),
)
