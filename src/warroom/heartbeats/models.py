"""Heartbeat monitors: a service checks in within its interval, or an alert is raised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=0)
    last_checkin_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the next check-in is due (last check-in + interval + grace); indexed for the checker.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    alerting: Mapped[bool] = mapped_column(Boolean, default=False)
