"""What the incident room shows next: the current phase's open steps, approvals, the next
update due (a pending handoff is the handoffs' own panel, `warroom.handoffs.web`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.escalation import bookkeeping
from warroom.incidents.models import Incident
from warroom.runbooks import approvals
from warroom.runbooks import service as checklists
from warroom.runbooks.logic import StepState, current_phase, is_overdue
from warroom.runbooks.models import Approval, ChecklistStep
from warroom.sla import service as sla


@dataclass(frozen=True)
class Room:
    phase: str | None
    steps: list[ChecklistStep] = field(default_factory=list)
    overdue: frozenset[str] = frozenset()
    approvals: list[Approval] = field(default_factory=list)
    # When the next stakeholder update is due (the cadence clock), and if it is overdue.
    next_update_due: datetime | None = None
    update_overdue: bool = False


def room(
    session: Session, incident: Incident, now: datetime, config: WarroomConfig | None = None
) -> Room:
    """Read (never write) what is next on the incident."""
    due = sla.next_update_due(session, config or bookkeeping.config_of(session), incident, now=now)
    steps = checklists.steps_of(session, incident)
    phase = current_phase([(s.phase, s.state) for s in steps])
    open_steps = [s for s in steps if s.phase == phase and s.state == StepState.PENDING]
    return Room(
        phase=phase,
        steps=open_steps,
        overdue=frozenset(
            s.key for s in open_steps if is_overdue(state=s.state, due_at=s.due_at, now=now)
        ),
        approvals=[
            a for a in approvals.list_for(session, incident) if a.status == approvals.PENDING
        ],
        next_update_due=due,
        update_overdue=due is not None and due <= now,
    )
