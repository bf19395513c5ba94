"""Checklist and approval routes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from warroom.api import CtxDep, IdPath, Responder, UowDep, Viewer
from warroom.config.schema import WarroomConfig
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.runbooks import approvals
from warroom.runbooks import service as checklists
from warroom.runbooks.logic import StepState, current_phase, is_overdue
from warroom.runbooks.models import Approval, ChecklistStep
from warroom.runbooks.schemas import (
    ApprovalCreate,
    ApprovalDecision,
    ApprovalRead,
    AttachedRead,
    ChecklistRead,
    PhaseRead,
    StepRead,
    StepUpdate,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["runbooks"])


def step_read(step: ChecklistStep, now: datetime) -> StepRead:
    return StepRead(
        key=step.key,
        runbook=step.runbook,
        phase=step.phase,
        text=step.text,
        role=step.role,
        requires_approval=step.requires_approval,
        sla=step.sla,
        due_at=step.due_at,
        overdue=is_overdue(state=step.state, due_at=step.due_at, now=now),
        state=step.state,
        done_by=step.done_by,
        done_at=step.done_at,
        note=step.note,
        extras=step.extras or {},
    )


def checklist_read(incident: Incident, steps: list[ChecklistStep], now: datetime) -> ChecklistRead:
    phases: dict[str, list[StepRead]] = {}
    for step in steps:
        phases.setdefault(step.phase, []).append(step_read(step, now))
    attached = dict.fromkeys((s.runbook, s.matched_by) for s in steps)
    return ChecklistRead(
        incident_id=incident.key,
        current_phase=current_phase([(s.phase, s.state) for s in steps]),
        runbooks=[AttachedRead(name=n, matched_by=m) for n, m in attached],
        phases=[PhaseRead(name=name, steps=items) for name, items in phases.items()],
    )


def approval_read(config: WarroomConfig, incident: Incident, item: Approval) -> ApprovalRead:
    return ApprovalRead(
        id=item.id,
        incident_id=incident.key,
        action=item.action,
        reason=item.reason,
        requested_by=item.requested_by,
        requested_at=item.requested_at,
        status=item.status,
        decided_by=item.decided_by,
        decided_at=item.decided_at,
        decision_reason=item.decision_reason,
        needs_ic=approvals.needs_ic(config, item.action),
    )


@router.get("/{key}/checklist", response_model=ChecklistRead)
def get_checklist(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> ChecklistRead:
    """The matched runbooks' steps by phase, with state, SLA and which rule matched."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who)
    made = not checklists.steps_of(uow.session, incident)
    steps = checklists.ensure_checklist(uow.session, config=ctx.config, incident=incident, now=now)
    if made and steps:
        uow.commit()
    return checklist_read(incident, steps, now)


@router.post("/{key}/checklist/{step}", response_model=StepRead)
def update_step(
    key: str, step: str, data: StepUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> StepRead:
    """Tick, skip (with a note) or reopen a step; the timeline records it."""
    now = ctx.clock.now()
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    row = checklists.set_state(
        uow.session,
        config=ctx.config,
        incident=incident,
        key=step,
        state=StepState(data.state),
        note=data.note,
        actor=who,
        now=now,
    )
    uow.commit()
    return step_read(row, now)


@router.get("/{key}/approvals", response_model=list[ApprovalRead])
def list_approvals(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> list[ApprovalRead]:
    """The incident's approval requests, oldest first."""
    incident = incidents.get(uow.session, key=key, viewer=who)
    return [
        approval_read(ctx.config, incident, a) for a in approvals.list_for(uow.session, incident)
    ]


@router.post("/{key}/approvals", status_code=201, response_model=ApprovalRead)
def request_approval(
    key: str, data: ApprovalCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> ApprovalRead:
    """Ask for approval of an action; the IC is told."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = approvals.request(
        ctx,
        uow.session,
        incident=incident,
        action=data.action,
        reason=data.reason,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return approval_read(ctx.config, incident, item)


@router.post("/{key}/approvals/{aid}/decision", response_model=ApprovalRead)
def decide_approval(
    key: str, aid: IdPath, data: ApprovalDecision, ctx: CtxDep, uow: UowDep, who: Responder
) -> ApprovalRead:
    """Grant or refuse; 403 naming who may decide when the caller may not."""
    incident = incidents.get(uow.session, key=key, viewer=who, for_update=True)
    item = approvals.decide(
        ctx,
        uow.session,
        incident=incident,
        approval=approvals.get(uow.session, incident, aid),
        granted=data.granted,
        reason=data.reason,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return approval_read(ctx.config, incident, item)
