"""The Incident Commander rotation: who commands an incident declared by a rule.

Seed 000 gives the role a `rotation` (weekly, handoff Monday 09:00 UTC, a backup
required). Who takes the turns comes from an on-call schedule when one is named
(`authority.ic_rotation.schedule`, or the role's `rotation.schedule` when that is a
schedule's name), read with the on-call machinery (overrides included); otherwise
`authority.ic_rotation.participants` take turns at the role's rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from warroom.auth.logic import SYSTEM
from warroom.config.incidents import RoleRotation
from warroom.config.oncall import Schedule
from warroom.config.schema import WarroomConfig
from warroom.errors import NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.oncall import logic as oncall_logic
from warroom.oncall import service as oncall
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent


@dataclass(frozen=True)
class Turn:
    """Who commands now (None when nobody), the backup, and where it was read."""

    commander: str | None
    backup: str | None
    source: str


def _schedule_name(session: Session, config: WarroomConfig) -> str | None:
    rotation = config.authority.ic_rotation
    if rotation.schedule:
        return rotation.schedule
    role = config.roles.get(rotation.role)
    named = role.rotation.schedule if role and role.rotation else None
    if named and oncall.get(session, config=config, name=named) is not None:
        return named
    return None


def _cadence_schedule(rotation: RoleRotation, participants: list[str]) -> Schedule:
    """The role's rotation as an on-call schedule: a primary layer, a backup beside it."""
    clock, _, zone = (rotation.handoff_time or "09:00").partition(" ")
    layer = {
        "rotation": rotation.schedule.lower(),
        "handoff_time": clock,
        "participants": participants,
    }
    if rotation.schedule.lower() == "weekly" and rotation.handoff_day:
        layer["handoff_day"] = rotation.handoff_day.lower()
    layers = [{"name": "primary", **layer}]
    if rotation.backup_required and len(participants) > 1:
        layers.append(
            {"name": "backup", **layer, "participants": participants[1:] + participants[:1]}
        )
    return Schedule.model_validate(
        {"name": "ic-rotation", "time_zone": zone.strip() or "UTC", "layers": layers}
    )


def commander_at(session: Session, config: WarroomConfig, at: datetime) -> Turn:
    """Whose turn it is to command at `at`."""
    rotation = config.authority.ic_rotation
    name = _schedule_name(session, config)
    if name is not None:
        try:
            shifts = oncall.on_call(session, config=config, at=at, schedule=name)
        except (NotFound, ValidationFailed) as exc:
            return Turn(None, None, f"schedule {name}: {exc.message}")
        where = f"schedule {name}"
    else:
        role = config.roles.get(rotation.role)
        if not rotation.participants or role is None or role.rotation is None:
            return Turn(None, None, "no IC rotation is configured")
        try:
            spec = _cadence_schedule(role.rotation, list(rotation.participants))
        except ValidationError as exc:
            return Turn(None, None, f"the role's rotation cannot be read: {exc.errors()[0]['msg']}")
        shifts = oncall_logic.who_is_on_call(oncall_logic.from_spec(spec), at)
        where = f"the {role.short_name} rotation"
    users = [s.user for s in shifts if rotation.layer is None or s.layer == rotation.layer]
    if not users:
        return Turn(None, None, f"nobody is on call in {where}")
    backup = next((s.user for s in shifts if s.user != users[0]), None)
    return Turn(users[0], backup, where)


def assign_from_rotation(
    session: Session, *, config: WarroomConfig, incident: Incident, now: datetime
) -> str | None:
    """Give an incident nobody commands the commander whose turn it is; return who."""
    role = config.authority.ic_rotation.role
    if any(r.role == role for r in incident.roles):
        return None
    turn = commander_at(session, config, now)
    if turn.commander is None:
        if turn.source != "no IC rotation is configured":
            incidents.record(
                session,
                incident=incident,
                type=EventType.NOTE,
                description=f"No commander from the IC rotation: {turn.source}",
                now=now,
                actor=SYSTEM.actor,
                source=EventSource.AUTOMATION,
                details={"ic_rotation": turn.source},
            )
        return None
    incidents.assign_role(
        session,
        config=config,
        incident=incident,
        role=role,
        user=turn.commander,
        actor=SYSTEM,
        now=now,
        check=False,
    )
    for event in session.new:  # the role change is the rotation's doing, not a person's
        if (
            isinstance(event, TimelineEvent)
            and event.incident_id == incident.id
            and event.type == EventType.ROLE_CHANGE.value
        ):
            event.source = EventSource.AUTOMATION.value
    backup = f"; backup {turn.backup}" if turn.backup else ""
    incidents.record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"{turn.commander} commands from {turn.source}{backup}",
        now=now,
        actor=SYSTEM.actor,
        source=EventSource.AUTOMATION,
        details={"ic_rotation": turn.source, "commander": turn.commander, "backup": turn.backup},
    )
    return turn.commander
