"""The handoff document (pure): seed 000's template, prefilled from what the incident knows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from warroom.config.durations import format_duration


class HandoffStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


# The timeline entries worth a line in the handoff: decisions, actions, escalations...
HIGHLIGHT_TYPES = frozenset(
    {
        "alert",
        "declaration",
        "escalation",
        "investigation",
        "action",
        "decision",
        "resolution",
        "status_change",
        "severity_change",
    }
)
#: The sections the outgoing IC may edit (PATCH), as the seed's template names them.
EDITABLE = (
    "current_status",
    "timeline_highlights",
    "actions_taken",
    "pending_actions",
    "open_questions",
    "stakeholder_status",
    "environment_state",
    "witnesses",
)


@dataclass(frozen=True)
class Snapshot:
    """What the incident knows when the handoff is drafted."""

    key: str
    severity: str
    status: str
    summary: str
    declared_at: datetime
    outgoing: str | None
    incoming: str
    roles: dict[str, str]
    # (timestamp, type, description) of the timeline, oldest first.
    events: Sequence[tuple[datetime, str, str]]
    # (text, owner, due) of the checklist's pending steps.
    pending: Sequence[tuple[str, str | None, datetime | None]]
    done: Sequence[str]
    approvals: Sequence[str]
    next_update_due: datetime | None = None
    # (service, reason, ends_at) of the maintenance windows open now on its services.
    windows: Sequence[tuple[str, str, datetime]] = ()
    # (summary, service) of the unresolved alerts of its services suppressed by maintenance.
    silenced: Sequence[tuple[str, str]] = ()
    # Who speaks to stakeholders (whom the update-cadence reminder goes to).
    contact: str | None = None


def stakeholder_status(snapshot: Snapshot, *, now: datetime) -> dict[str, Any]:
    """The last communication, the next update due (and whether it is overdue), the contact."""
    told = [ts for ts, kind, _ in snapshot.events if kind == "communication"]
    due = snapshot.next_update_due
    return {
        "last_update": max(told).isoformat() if told else None,
        "next_update": due.isoformat() if due else None,
        "update_overdue": due is not None and due <= now,
        "contact": snapshot.contact,
    }


def environment_state(snapshot: Snapshot) -> dict[str, Any]:
    """The maintenance windows open now, the alerts they silence, the open approvals."""
    until: dict[str, datetime] = {}
    for service, _, ends_at in snapshot.windows:
        until[service] = max(ends_at, until.get(service, ends_at))
    return {
        "maintenance_windows": [
            {"service": service, "reason": reason, "until": ends_at.isoformat()}
            for service, reason, ends_at in snapshot.windows
        ],
        "alerts_silenced": [
            f"{summary} ({service})"
            + (f" until {until[service].isoformat()}" if service in until else "")
            for summary, service in snapshot.silenced
        ],
        "open_approvals": list(snapshot.approvals),
    }


def draft(snapshot: Snapshot, *, now: datetime, highlights: int = 10) -> dict[str, Any]:
    """Return the handoff document, in the seed template's shape, for `snapshot` at `now`."""
    witnesses = sorted(
        {u for r, u in snapshot.roles.items() if u not in (snapshot.outgoing, snapshot.incoming)}
    )
    picked = [e for e in snapshot.events if e[1] in HIGHLIGHT_TYPES][-highlights:]
    actions = [d for _, t, d in snapshot.events if t in ("action", "decision")]
    return {
        "incident_id": snapshot.key,
        "handoff_time": None,
        "participants": {
            "outgoing_ic": snapshot.outgoing,
            "incoming_ic": snapshot.incoming,
            "witnesses": witnesses,
        },
        "current_status": {
            "severity": snapshot.severity,
            "duration": format_duration(now - snapshot.declared_at),
            "state": snapshot.status,
            "summary": snapshot.summary,
        },
        "timeline_highlights": [{"time": ts.isoformat(), "event": text} for ts, _, text in picked],
        "actions_taken": list(dict.fromkeys([*snapshot.done, *actions])),
        "pending_actions": [
            {"action": text, "owner": owner, "eta": due.isoformat() if due else None}
            for text, owner, due in snapshot.pending
        ],
        "open_questions": [],
        "stakeholder_status": stakeholder_status(snapshot, now=now),
        "environment_state": environment_state(snapshot),
        "handoff_confirmed": {
            "outgoing_signature": None,
            "incoming_signature": None,
            "handoff_complete": False,
        },
    }


def edit(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return the document with the edited sections replaced (witnesses under participants)."""
    result = {**document}
    for name, value in changes.items():
        if name == "witnesses":
            result["participants"] = {**result.get("participants", {}), "witnesses": value}
        elif name == "current_status" and isinstance(value, dict):
            result["current_status"] = {**result.get("current_status", {}), **value}
        else:
            result[name] = value
    return result


def sign(
    document: dict[str, Any], *, outgoing: str | None, incoming: str, at: datetime
) -> dict[str, Any]:
    """Return the document as confirmed by `incoming` at `at`."""
    return {
        **document,
        "handoff_time": at.isoformat(),
        "handoff_confirmed": {
            "outgoing_signature": outgoing,
            "incoming_signature": incoming,
            "handoff_complete": True,
        },
    }
