"""The incident state machine and its timestamps.

Statuses follow Statuspage's public vocabulary so the public page is a projection of the
incident: investigating → identified → monitoring → resolved → closed.

- Moving forward may skip steps (a fix can land before the cause is named).
- Moving back is allowed while the incident is open (monitoring showed the fix did not
  hold), and `resolved → investigating` reopens it.
- `closed` is terminal and only reachable from `resolved`: the postmortem starts there.

Timestamps form one chain, each present one no earlier than every present one before it:
started ≤ detected ≤ declared ≤ acknowledged ≤ mitigated ≤ resolved ≤ closed.
A status change stamps the matching timestamp; a transition that implies someone acted
(identified, monitoring, resolved) also stamps `acknowledged_at` when nobody had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = frozenset({Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING})

_ORDER = [Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED]

TIMESTAMP_FIELDS = (
    "started_at",
    "detected_at",
    "declared_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
)


class TransitionRefused(ValueError):
    """The requested status change is not allowed from the current status."""


def allowed_transitions(current: Status) -> frozenset[Status]:
    if current is Status.CLOSED:
        return frozenset()
    if current is Status.RESOLVED:
        return frozenset({Status.CLOSED, Status.INVESTIGATING})
    return frozenset(s for s in _ORDER if s is not current)


def check_transition(current: Status, target: Status) -> None:
    if target is current:
        raise TransitionRefused(f"the incident is already {current.value}")
    if target not in allowed_transitions(current):
        if current is Status.CLOSED:
            raise TransitionRefused("a closed incident cannot change status")
        if target is Status.CLOSED:
            raise TransitionRefused(
                f"only a resolved incident can be closed (it is {current.value})"
            )
        raise TransitionRefused(
            "a resolved incident can only be closed or reopened as investigating, "
            f"not {target.value}"
        )


@dataclass(frozen=True)
class Timestamps:
    started_at: datetime | None = None
    detected_at: datetime | None = None
    declared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None

    def as_dict(self) -> dict[str, datetime | None]:
        return {name: getattr(self, name) for name in TIMESTAMP_FIELDS}


def timestamp_order_problems(stamps: dict[str, datetime | None]) -> list[tuple[str, str]]:
    """Return (field, message) for every timestamp earlier than one that must precede it."""
    problems: list[tuple[str, str]] = []
    latest: tuple[str, datetime] | None = None
    for name in TIMESTAMP_FIELDS:
        value = stamps.get(name)
        if value is None:
            continue
        if latest is not None and value < latest[1]:
            problems.append(
                (
                    name,
                    f"{name} ({value.isoformat()}) is before {latest[0]} ({latest[1].isoformat()})",
                )
            )
            continue
        latest = (name, value)
    return problems


def stamps_for_transition(
    current: Timestamps, target: Status, at: datetime
) -> dict[str, datetime | None]:
    """Return the timestamp fields a move to `target` at `at` sets or clears."""
    changes: dict[str, datetime | None] = {}
    if target in (Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED) and (
        current.acknowledged_at is None
    ):
        changes["acknowledged_at"] = at
    if target in (Status.MONITORING, Status.RESOLVED) and current.mitigated_at is None:
        changes["mitigated_at"] = at
    if target is Status.RESOLVED:
        changes["resolved_at"] = at
    if target is Status.CLOSED:
        changes["closed_at"] = at
    if target in (Status.INVESTIGATING, Status.IDENTIFIED):
        # Moving back means the mitigation did not hold (and a reopened incident is no
        # longer resolved); the timeline keeps the earlier stamps.
        if current.mitigated_at is not None:
            changes["mitigated_at"] = None
        if current.resolved_at is not None:
            changes["resolved_at"] = None
    return changes


def duration_seconds(stamps: Timestamps, now: datetime) -> float:
    """How long the incident has lasted: from its start (or detection, or declaration) to
    resolution, or to `now` while it is open."""
    begin = stamps.started_at or stamps.detected_at or stamps.declared_at
    if begin is None:
        return 0.0
    end = stamps.resolved_at or stamps.closed_at or now
    return max((end - begin).total_seconds(), 0.0)
