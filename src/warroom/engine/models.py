"""The engine's durable state: timers and the notification outbox.

Nothing time-driven lives only in memory. A timer is a row that says "do this at that
time"; a notification is a row written in the same transaction as the change that
caused it. Workers claim rows with a lease; a killed worker's lease runs out and another
worker carries on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class Timer(Base):
    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # One live timer per key: scheduling the same thing twice is a no-op.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|cancelled
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index(
    "ix_timers_pending_due",
    Timer.due_at,
    sqlite_where=text("status = 'pending'"),
    postgresql_where=text("status = 'pending'"),
)


class Notification(Base):
    """One message to one destination, sent at most once (idempotency_key is unique)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    recipient: Mapped[str | None] = mapped_column(String(64), index=True)  # a user handle
    channel: Mapped[str] = mapped_column(String(16))  # email|sms|voice|slack|webhook|teams
    address: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(String(32))  # page|escalation|sla|reminder|shift|...
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending → sending → sent | failed | cancelled | throttled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The notification this one replaces after its contact method failed.
    fallback_of: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index(
    "ix_notifications_ready",
    Notification.next_attempt_at,
    sqlite_where=text("status IN ('pending', 'sending')"),
    postgresql_where=text("status IN ('pending', 'sending')"),
)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(
        String(24)
    )  # sent|temporary_failure|permanent_failure
    provider_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class EngineBeat(Base):
    """An engine process says it is alive: `beat_at` moves every few seconds while it runs
    (`warroom doctor` reads it; rows of engines gone for a day are pruned)."""

    __tablename__ = "engine_beats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), unique=True)  # host:pid:random
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
