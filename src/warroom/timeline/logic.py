"""Timeline vocabulary and rendering (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from warroom.config.durations import format_duration


class EventType(StrEnum):
    # Seed 000's event types.
    ALERT = "alert"
    DECLARATION = "declaration"
    ESCALATION = "escalation"
    INVESTIGATION = "investigation"
    ACTION = "action"
    DECISION = "decision"
    COMMUNICATION = "communication"
    RESOLUTION = "resolution"
    # warroom records these by itself as the incident changes.
    ACKNOWLEDGEMENT = "acknowledgement"
    STATUS_CHANGE = "status_change"
    SEVERITY_CHANGE = "severity_change"
    ROLE_CHANGE = "role_change"
    NOTE = "note"
    # A change of one of the incident's services (a deploy, a config push): see `changes`.
    CHANGE = "change"


class EventSource(StrEnum):
    MONITORING = "monitoring"
    HUMAN = "human"
    AUTOMATION = "automation"
    EXTERNAL = "external"


@dataclass(frozen=True)
class Entry:
    """A timeline event as the renderers see it."""

    timestamp: datetime
    type: str
    source: str
    description: str
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def sort_entries(entries: Sequence[Entry]) -> list[Entry]:
    # Stable: events with the same timestamp keep the order they were recorded in.
    return sorted(entries, key=lambda e: e.timestamp)


def _md_text(text: str) -> str:
    """Keep user text from turning into Markdown structure."""
    escaped = text.replace("\\", "\\\\")
    for char in "`*_[]<>|#":
        escaped = escaped.replace(char, "\\" + char)
    return " ".join(escaped.splitlines())


def render_markdown(
    *,
    incident_key: str,
    title: str,
    severity: str,
    status: str,
    services: Sequence[str],
    entries: Sequence[Entry],
    duration_seconds: float,
    ongoing: bool,
) -> str:
    lines = [
        f"# Incident timeline: {incident_key} — {_md_text(title)}",
        "",
        f"**Severity:** {_md_text(severity)} · **Status:** {status}"
        + (f" · **Services:** {_md_text(', '.join(services))}" if services else ""),
        "",
    ]
    for entry in sort_entries(entries):
        stamp = entry.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC")
        actor = f" · {_md_text(entry.actor)}" if entry.actor else ""
        lines.append(f"- **{stamp}** · {entry.type.upper()} · {entry.source}{actor}")
        lines.append(f"  {_md_text(entry.description)}")
        for key, value in entry.details.items():
            lines.append(f"  - {_md_text(str(key))}: {_md_text(_plain(value))}")
    lines.append("")
    label = "Duration so far" if ongoing else "Total duration"
    minutes = duration_seconds / 60
    lines.append(
        f"**{label}:** {minutes:.1f} minutes ({format_duration_seconds(duration_seconds)})"
    )
    return "\n".join(lines) + "\n"


def format_duration_seconds(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)
