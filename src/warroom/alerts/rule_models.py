"""Durable state of auto-declaration rules: how long each condition has held."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from warroom.db import Base, UTCDateTime


class RuleState(Base):
    """One row per rule and subject (an alert, a PromQL series, a service) while its
    condition holds; `for` durations count from `pending_since`."""

    __tablename__ = "rule_states"

    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject: Mapped[str] = mapped_column(String(512), primary_key=True)
    pending_since: Mapped[datetime] = mapped_column(UTCDateTime())
    last_evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
