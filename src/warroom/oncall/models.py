"""Schedules defined through the API, and overrides of any schedule (configured or not)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class StoredSchedule(Base):
    """A schedule created with `POST /api/v1/schedules`; `spec` is its validated definition."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleOverride(Base):
    """A change to a schedule for a window of time: add, remove or replace someone.

    `schedule` is a name, not a foreign key: configured schedules have no row.
    """

    __tablename__ = "schedule_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(64))
    layer: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # add|remove|replace
    user: Mapped[str | None] = mapped_column(String(64))
    replaces: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_schedule_overrides_schedule_ends_at", ScheduleOverride.schedule, ScheduleOverride.ends_at)


class CalendarFeed(Base):
    """A secret URL a calendar app subscribes to: one person's shifts, or one schedule's.

    Only the SHA-256 of the secret is stored; the URL is shown once, when the feed is made
    or rotated. A revoked feed answers 404 like one that never existed.
    """

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # user|schedule
    target: Mapped[str] = mapped_column(String(64))  # a handle or a schedule name
    label: Mapped[str] = mapped_column(String(64), default="")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_calendar_feeds_kind_target", CalendarFeed.kind, CalendarFeed.target)
