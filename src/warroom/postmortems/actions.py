"""Action-item use cases: follow-ups with an owner, a priority and a due date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.clock import as_utc
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.postmortems import logic
from warroom.postmortems.logic import FINISHED, ActionStatus, ActionType, Priority
from warroom.postmortems.models import ActionItem
from warroom.postmortems.schemas import ActionItemCreate, ActionItemRead, ActionItemUpdate
from warroom.postmortems.service import find, visible_incidents
from warroom.timeline.logic import EventType

_OPEN = [ActionStatus.OPEN.value, ActionStatus.IN_PROGRESS.value]


@dataclass(frozen=True)
class Filters:
    incident: int | None = None
    owner: str | None = None
    status: tuple[ActionStatus, ...] = ()
    priority: tuple[Priority, ...] = ()
    overdue: bool = False


def is_overdue(item: ActionItem, now: datetime) -> bool:
    return logic.is_overdue(
        as_utc(item.due_at), now, finished=ActionStatus(item.status) in FINISHED
    )


def to_read(item: ActionItem, *, now: datetime) -> ActionItemRead:
    return ActionItemRead(
        id=item.id,
        incident=f"INC-{item.incident_id}",
        postmortem=item.postmortem_id is not None,
        title=item.title,
        priority=Priority(item.priority),
        type=ActionType(item.type),
        owner=item.owner,
        due=item.due_at,
        status=ActionStatus(item.status),
        reason=item.reason,
        overdue=is_overdue(item, now),
        created_by=item.created_by,
        created_at=item.created_at,
        updated_at=item.updated_at,
        completed_at=item.completed_at,
    )


def get(session: Session, *, item_id: int, viewer: Principal) -> ActionItem:
    item = session.scalar(
        select(ActionItem).where(
            ActionItem.id == item_id, ActionItem.incident_id.in_(visible_incidents(viewer))
        )
    )
    if item is None:
        raise NotFound(f"no action item {item_id}", field="id")
    return item


def list_items(
    session: Session, *, viewer: Principal, filters: Filters, now: datetime, limit: int, offset: int
) -> tuple[list[ActionItem], int]:
    query = select(ActionItem).where(ActionItem.incident_id.in_(visible_incidents(viewer)))
    if filters.incident is not None:
        query = query.where(ActionItem.incident_id == filters.incident)
    if filters.owner:
        query = query.where(ActionItem.owner == filters.owner)
    if filters.status:
        query = query.where(ActionItem.status.in_([s.value for s in filters.status]))
    if filters.priority:
        query = query.where(ActionItem.priority.in_([p.value for p in filters.priority]))
    if filters.overdue:
        query = query.where(ActionItem.status.in_(_OPEN), ActionItem.due_at <= now)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ActionItem.due_at, ActionItem.priority, ActionItem.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def _check_owner(config: WarroomConfig, owner: str, field: str = "owner") -> None:
    if config.users and config.user(owner) is None:
        raise ValidationFailed(f"unknown user {owner!r}", field=field)


def create(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    data: ActionItemCreate,
    actor: str,
    now: datetime,
) -> ActionItem:
    """Add a follow-up to the incident (and its postmortem, when it has one)."""
    _check_owner(config, data.owner)
    due = (
        as_utc(data.due)
        if data.due
        else logic.action_due(config.postmortems.action_items, data.priority, now)
    )
    pm = find(session, incident.id)
    item = ActionItem(
        incident_id=incident.id,
        postmortem_id=pm.id if pm else None,
        title=data.title,
        priority=data.priority.value,
        type=data.type.value,
        owner=data.owner,
        due_at=due,
        status=ActionStatus.OPEN.value,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    incidents.record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"Action item #{item.id} ({item.priority}, {item.type}) for {item.owner}, "
        f"due {due:%Y-%m-%d}: {item.title}",
        now=now,
        actor=actor,
        details={"action_item": item.id},
    )
    return item


def update(
    session: Session,
    *,
    config: WarroomConfig,
    item: ActionItem,
    data: ActionItemUpdate,
    actor: str,
    now: datetime,
) -> ActionItem:
    """Change fields or move the status; won't do needs a reason."""
    fields = data.model_dump(exclude_unset=True)
    if not fields:
        raise ValidationFailed("nothing to change", field="body")
    if data.status is not None:
        try:
            logic.check_action_move(ActionStatus(item.status), data.status, data.reason)
        except logic.Refused as exc:
            field = (
                "reason"
                if data.status is ActionStatus.WONT_DO and "reason" in str(exc)
                else "status"
            )
            raise Conflict(str(exc), field=field) from None
    if data.owner is not None:
        _check_owner(config, data.owner)
    for name in ("title", "owner"):
        value = getattr(data, name)
        if value is not None:
            setattr(item, name, value)
    if data.priority is not None:
        item.priority = data.priority.value
    if data.type is not None:
        item.type = data.type.value
    if data.due is not None:
        item.due_at = as_utc(data.due)
    if data.status is not None and data.status.value != item.status:
        item.status = data.status.value
        item.completed_at = now if data.status in FINISHED else None
        item.reason = data.reason if data.status is ActionStatus.WONT_DO else item.reason
        incident = session.get(Incident, item.incident_id)
        if incident is not None:
            incidents.record(
                session,
                incident=incident,
                type=EventType.NOTE,
                description=f"Action item #{item.id} is now {data.status.value.replace('_', ' ')}"
                + (f": {data.reason}" if data.reason else ""),
                now=now,
                actor=actor,
                details={"action_item": item.id},
            )
    elif data.reason is not None:
        item.reason = data.reason
    item.updated_at = now
    return item


def completion_rate(session: Session, *, since: datetime, until: datetime) -> float | None:
    """The share of items due in [since, until) done by their due date (seed 000: > 90 %)."""
    rows = session.execute(
        select(ActionItem.status, ActionItem.due_at, ActionItem.completed_at).where(
            ActionItem.due_at >= since, ActionItem.due_at < until,
            ActionItem.status != ActionStatus.WONT_DO.value,
        )
    ).all()  # fmt: skip
    if not rows:
        return None
    on_time = sum(
        1
        for status, due, done in rows
        if status == ActionStatus.DONE.value and done is not None and as_utc(done) <= as_utc(due)
    )
    return on_time / len(rows)
