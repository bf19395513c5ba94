"""Drills: a scripted exercise, the alerts it injected, and (through incidents.drill_id)
the incident it opened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class Drill(Base):
    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # The validated scenario (warroom.drills.scenario.Scenario), as JSON.
    scenario: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | finished
    integration: Mapped[str] = mapped_column(String(128))
    participants: Mapped[list[str]] = mapped_column(JSON)
    # One entry per alert sent: {"index", "alert_id", "dedup_key", "at"}.
    injected: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def key(self) -> str:
        return f"DRILL-{self.id}"
