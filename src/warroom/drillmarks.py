"""What the rest of warroom knows of drills: the drill row, the `[DRILL]` label, who a
drill may page, and which alerts a drill sent.

The drills capability (`warroom.drills`) runs exercises through the real intake, paging
and chat; those lower layers only ask these questions, so they import this module and
never the capability above them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from warroom.db import Base, UTCDateTime
from warroom.incidents.models import Incident

__all__ = [
    "DRILL_LABEL", "LABEL", "Drill", "drill_alert_ids", "drill_of_alert", "is_drill", "labelled",
    "participants",
]  # fmt: skip

LABEL = "[DRILL]"
#: The alert label a drill's injected alerts carry (its value: the drill's id).
DRILL_LABEL = "warroom_drill"


class _Alert(Protocol):
    id: int
    labels: Any


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


def labelled(title: str) -> str:
    """A drill's message title: `[DRILL] …` (once)."""
    return title if title.startswith(LABEL) else f"{LABEL} {title}"


def drill_of_alert(session: Session, alert: _Alert, cache: dict[int, set[int]]) -> int | None:
    """The drill this alert belongs to: labelled so, and sent by that drill."""
    labels = alert.labels if isinstance(alert.labels, dict) else {}
    value = labels.get(DRILL_LABEL)
    if not isinstance(value, str) or not value.isdigit():
        return None
    drill_id = int(value)
    if drill_id not in cache:
        drill = session.get(Drill, drill_id)
        cache[drill_id] = {e["alert_id"] for e in drill.injected} if drill is not None else set()
    return drill_id if alert.id in cache[drill_id] else None


def drill_alert_ids(session: Session, *, since: datetime, until: datetime) -> set[int]:
    """The alerts injected by the drills that ran at some time in [since, until]: what an
    alert count over that span leaves out (a drill's alerts arrive only while it runs)."""
    running = (Drill.finished_at.is_(None)) | (Drill.finished_at >= since)
    rows = session.scalars(select(Drill.injected).where(Drill.started_at <= until, running))
    return {e["alert_id"] for injected in rows for e in injected if e.get("alert_id")}


def participants(session: Session, incident: Incident) -> set[str] | None:
    """Who may be paged for the incident: its drill's participants, or None (anyone)."""
    if incident.drill_id is None:
        return None
    drill = session.get(Drill, incident.drill_id)
    return set(drill.participants) if drill is not None else set()


def is_drill(session: Session, incident_id: int | None) -> bool:
    if incident_id is None:
        return False
    incident = session.get(Incident, incident_id)
    return incident is not None and incident.drill_id is not None
