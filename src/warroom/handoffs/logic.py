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
        "stakeholder_status": {
            "next_update": snapshot.next_update_due.isoformat()
            if snapshot.next_update_due
            else None
        },
        "environment_state": {"open_approvals": list(snapshot.approvals)},
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
