"""SLA clocks and update-cadence reminders in the engine (docs/sla.md).

Subscribers arm the timers as the incident changes; handlers check the incident when a
timer comes due. Timer kinds:

- `sla_warning`: a clock reached its warning fraction without its milestone: a timeline
  event ("SLA at risk: acknowledge within 15 minutes (3 minutes left)") and the
  escalation rules for "SLA breach imminent" (once per incident).
- `sla_breach`: the clock ran out: a timeline event ("SLA breached: …") and a message to
  the incident commander and to the last step of the incident's escalation policy (the
  Engineering Manager in the seed's chain), at low urgency.
- `update_due`: an update is due: a reminder to the communications lead (else the
  incident commander) and a timeline note; the next reminder follows an interval later
  while the incident is open.

Keys carry a generation: re-planning (a new severity, a status change) cancels the
pending timers and schedules new ones under new keys; cancelled keys are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom import events
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles, handles_batch
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.escalation import bookkeeping, delivery, paging, rules
from warroom.escalation.matrix import PLAN, ConditionKind
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.sla.logic import (
    MILESTONES,
    SlaClock,
    breach_text,
    next_update,
    pending,
    reminder_text,
    warning_text,
)
from warroom.timeline.logic import EventType

SLA_WARNING, SLA_BREACH, UPDATE_DUE = "sla_warning", "sla_breach", "update_due"
SLA_KINDS = (SLA_WARNING, SLA_BREACH)
KINDS = (SLA_WARNING, SLA_BREACH, UPDATE_DUE)
#: Who is reminded that an update is due, in order of preference.
COMMUNICATORS = ("communications_lead", "incident_commander")


def _incident(session: Session, incident_id: int | None) -> Incident | None:
    return session.get(Incident, incident_id) if incident_id else None


# --- SLA clocks -------------------------------------------------------------------------


def reached_clocks(incident: Incident) -> set[SlaClock]:
    return {clock for clock, name in MILESTONES.items() if getattr(incident, name) is not None}


def arm_sla(session: Session, config: WarroomConfig, incident: Incident, *, now: datetime) -> int:
    """(Re)plan the incident's SLA timers from its declaration; return how many."""
    timers.cancel(session, now=now, incident_id=incident.id, kinds=SLA_KINDS)
    level = config.severity(incident.severity)
    if level is None or not bookkeeping.is_open(incident):
        return 0
    gen = bookkeeping.generation(session, incident.id, f"sla:{incident.id}:")
    planned = pending(
        level.sla,
        incident.declared_at,
        config.sla_warning_fraction,
        reached=reached_clocks(incident),
        now=now,
    )
    timers.schedule_many(
        session,
        [
            {
                "kind": SLA_WARNING if item.kind == "warning" else SLA_BREACH,
                "key": f"sla:{incident.id}:{item.clock.value}:{gen}:{item.kind}",
                "due_at": max(item.at, now),
                "incident_id": incident.id,
                "payload": {
                    "clock": item.clock.value,
                    "severity": incident.severity,
                    "deadline": item.deadline.isoformat(),
                    "target": item.target.total_seconds(),
                },
            }
            for item in planned
        ],
        now=now,
    )
    return len(planned)


@dataclass(frozen=True)
class _SlaDue:
    """What one `sla_warning` or `sla_breach` timer does, worked out before any write."""

    timer: Timer
    incident: Incident
    clock: SlaClock
    target: timedelta
    text: str
    details: dict[str, object]

    def note(self) -> bookkeeping.Note:
        return bookkeeping.Note(
            incident=self.incident,
            key=self.timer.key,
            description=self.text,
            timestamp=self.timer.due_at,
            details=self.details,
        )


def _plan_sla(session: Session, timer: Timer) -> _SlaDue | None:
    incident = _incident(session, timer.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return None
    payload = timer.payload or {}
    try:
        clock = SlaClock(str(payload.get("clock")))
    except ValueError:
        return None
    if getattr(incident, MILESTONES[clock]) is not None:
        return None
    if incident.severity != payload.get("severity"):
        return None  # re-planned for another severity; that plan has its own timers
    target = timedelta(seconds=float(payload.get("target", 0)))
    deadline = datetime.fromisoformat(str(payload["deadline"]))
    details: dict[str, object] = {
        "clock": clock.value,
        "severity": incident.severity,
        "target_seconds": target.total_seconds(),
        "deadline": deadline.isoformat(),
    }
    if timer.kind == SLA_WARNING:
        left = deadline - timer.due_at
        details["seconds_left"] = max(left.total_seconds(), 0)
        text = warning_text(clock, target, left)
    else:
        text = breach_text(clock, target)
    return _SlaDue(timer, incident, clock, target, text, details)


def _after_sla_note(ctx: AppContext, session: Session, plan: _SlaDue, now: datetime) -> None:
    """What follows a clock's note the first time: the rules for "SLA breach imminent"
    (warning), or a message to the commander and the policy's last step (breach)."""
    if plan.timer.kind == SLA_WARNING:
        left = max(datetime.fromisoformat(str(plan.details["deadline"])) - plan.timer.due_at,
                   timedelta(0))  # fmt: skip
        rules.fire_matching(
            ctx,
            session,
            incident=plan.incident,
            kind=ConditionKind.SLA_AT_RISK,
            why=f"{plan.clock.value} within {format_duration(plan.target)}, "
            f"{format_duration(left)} left",
            now=now,
        )
        return
    _tell_about_breach(
        ctx, session, incident=plan.incident, text=plan.text, key=plan.timer.key, now=now
    )


def _sla_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    plan = _plan_sla(session, timer)
    if plan is None:
        return
    item = plan.note()
    if bookkeeping.note(
        session, plan.incident, key=item.key, description=item.description, now=now,
        timestamp=item.timestamp, details=item.details,
    ):  # fmt: skip
        _after_sla_note(ctx, session, plan, now)


def _sla_due_batch(ctx: AppContext, session: Session, batch: list[Timer], now: datetime) -> None:
    """`_sla_due` on each timer of `batch`: the once-markers of their notes in one
    statement, the notes in one; then, timer by timer in order, the rules fired by a
    warning or the messages of a breach, as one by one. A timer's checks read its
    incident's status, severity and milestones, which neither the rules (pages) nor the
    messages change, so checking them all first gives the same answers."""
    plans = [p for p in (_plan_sla(session, t) for t in batch) if p is not None]
    wrote = bookkeeping.note_many(session, [p.note() for p in plans], now=now)
    for plan, written in zip(plans, wrote, strict=True):
        if written:
            _after_sla_note(ctx, session, plan, now)


def _tell_about_breach(
    ctx: AppContext, session: Session, *, incident: Incident, text: str, key: str, now: datetime
) -> None:
    """The incident commander and the last step of the incident's policy hear of it."""
    recipients: list[delivery.Recipient] = []
    commander = bookkeeping.role_holder(incident, "incident_commander")
    if commander is not None:
        recipients.append(delivery.Recipient(commander, user=commander))
    policy = paging.incident_policy(session, ctx.config, incident)
    if policy is not None:
        for recipient in delivery.resolve_step(
            session, ctx.config, incident, policy.steps[-1], now
        ):
            if recipient not in recipients:
                recipients.append(recipient)
    context = delivery.message_context(
        ctx.settings, incident, kind=MessageKind.SLA, reason=f"{text}."
    )
    for recipient in recipients:
        delivery.deliver(
            ctx,
            session,
            incident=incident,
            recipient=recipient,
            delivery=PLAN,
            context=context,
            reason="sla",
            key=key,
            now=now,
            urgency="low",
        )


handles(SLA_WARNING)(_sla_due)
handles(SLA_BREACH)(_sla_due)
handles_batch(SLA_WARNING)(_sla_due_batch)
handles_batch(SLA_BREACH)(_sla_due_batch)


# --- update cadence ---------------------------------------------------------------------


def _last_update(session: Session, incident: Incident) -> datetime:
    """Since when the cadence counts: the latest reminder plan's start, or declaration."""
    payload = session.scalar(
        select(Timer.payload)
        .where(Timer.incident_id == incident.id, Timer.kind == UPDATE_DUE)
        .order_by(Timer.id.desc())
        .limit(1)
    )
    if payload and payload.get("since"):
        return datetime.fromisoformat(str(payload["since"]))
    return incident.declared_at


def next_update_due(
    session: Session, config: WarroomConfig, incident: Incident, *, now: datetime
) -> datetime | None:
    """When the next update is due by the cadence clock (`now` if overdue); None if none runs."""
    level = config.severity(incident.severity)
    if level is None or not bookkeeping.is_open(incident):
        return None
    return next_update(_last_update(session, incident), level.update_interval, now)


def arm_cadence(
    session: Session,
    config: WarroomConfig,
    incident: Incident,
    *,
    since: datetime,
    now: datetime,
) -> None:
    """Plan the next update reminder an interval after `since`."""
    timers.cancel(session, now=now, incident_id=incident.id, kinds=(UPDATE_DUE,))
    level = config.severity(incident.severity)
    if level is None or not bookkeeping.is_open(incident):
        return
    gen = bookkeeping.generation(session, incident.id, f"upd:{incident.id}:")
    timers.schedule(
        session,
        kind=UPDATE_DUE,
        key=f"upd:{incident.id}:{gen}:0",
        due_at=since + level.update_interval,
        now=now,
        incident_id=incident.id,
        payload={"gen": gen, "seq": 0, "since": since.isoformat()},
    )


@dataclass(frozen=True)
class _Reminder:
    """What one `update_due` timer does, worked out before anything is written."""

    timer: Timer
    incident: Incident
    interval: timedelta
    since: datetime
    text: str
    holder: str | None

    @property
    def description(self) -> str:
        return self.text + (f"; reminded {self.holder}" if self.holder else "; nobody to remind")

    def details(self) -> dict[str, object]:
        return {"since": self.since.isoformat(), "reminded": self.holder}

    def follow_up(self, now: datetime) -> dict[str, object]:
        payload = self.timer.payload or {}
        gen, seq = int(payload.get("gen", 0)), int(payload.get("seq", 0))
        return {
            "kind": UPDATE_DUE,
            "key": f"upd:{self.incident.id}:{gen}:{seq + 1}",
            "due_at": max(self.timer.due_at + self.interval, now),
            "incident_id": self.incident.id,
            "payload": {"gen": gen, "seq": seq + 1, "since": self.since.isoformat()},
        }


def _plan_reminder(ctx: AppContext, session: Session, timer: Timer) -> _Reminder | None:
    incident = _incident(session, timer.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return None
    level = ctx.config.severity(incident.severity)
    if level is None:
        return None
    payload = timer.payload or {}
    since = datetime.fromisoformat(str(payload.get("since") or incident.declared_at.isoformat()))
    holder = next(
        (u for u in (bookkeeping.role_holder(incident, r) for r in COMMUNICATORS) if u), None
    )
    return _Reminder(
        timer=timer,
        incident=incident,
        interval=level.update_interval,
        since=since,
        text=reminder_text(incident.severity, level.update_interval, since, timer.due_at),
        holder=holder,
    )


def _remind(ctx: AppContext, session: Session, plan: _Reminder, now: datetime) -> None:
    assert plan.holder is not None
    incident = plan.incident
    context = delivery.message_context(
        ctx.settings,
        incident,
        kind=MessageKind.REMINDER,
        reason=(
            f"{plan.text}. Post an update: `warroom update {incident.key} --audience "
            "executive -m …` (POST /api/v1/incidents/{id}/updates), a public status "
            "update or a communication on the timeline resets the clock."
        ),
    )
    delivery.deliver(
        ctx,
        session,
        incident=incident,
        recipient=delivery.Recipient(plan.holder, user=plan.holder),
        delivery=PLAN,
        context=context,
        reason="reminder",
        key=plan.timer.key,
        now=now,
        urgency="low",
        with_ack_link=False,
    )


@handles(UPDATE_DUE)
def _update_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    plan = _plan_reminder(ctx, session, timer)
    if plan is None:
        return
    wrote = bookkeeping.note(
        session,
        plan.incident,
        key=timer.key,
        description=plan.description,
        now=now,
        type=EventType.NOTE,
        timestamp=timer.due_at,
        details=plan.details(),
    )
    if wrote and plan.holder is not None:
        _remind(ctx, session, plan, now)
    follow = plan.follow_up(now)
    timers.schedule(
        session,
        kind=UPDATE_DUE,
        key=str(follow["key"]),
        due_at=follow["due_at"],  # type: ignore[arg-type]
        now=now,
        incident_id=plan.incident.id,
        payload=follow["payload"],  # type: ignore[arg-type]
    )


@handles_batch(UPDATE_DUE)
def _update_due_batch(ctx: AppContext, session: Session, batch: list[Timer], now: datetime) -> None:
    """`_update_due` on each timer of `batch`, in three statements for the whole batch
    (their once-markers, their notes, their follow-ups) instead of three per timer."""
    plans = [p for p in (_plan_reminder(ctx, session, t) for t in batch) if p is not None]
    wrote = bookkeeping.note_many(
        session,
        [
            bookkeeping.Note(
                incident=p.incident,
                key=p.timer.key,
                description=p.description,
                type=EventType.NOTE,
                timestamp=p.timer.due_at,
                details=p.details(),
            )
            for p in plans
        ],
        now=now,
    )
    for plan, written in zip(plans, wrote, strict=True):
        if written and plan.holder is not None:
            _remind(ctx, session, plan, now)
    timers.schedule_many(session, [p.follow_up(now) for p in plans], now=now)


# --- subscribers ------------------------------------------------------------------------


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return
    config = bookkeeping.config_of(session)
    arm_sla(session, config, incident, now=event.at)
    arm_cadence(session, config, incident, since=incident.declared_at, now=event.at)
    notify(session)


@events.subscribe(events.SeverityChanged)
def _on_severity(session: Session, event: events.SeverityChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return
    config = bookkeeping.config_of(session)
    arm_sla(session, config, incident, now=event.at)
    since = _last_update(session, incident)
    arm_cadence(session, config, incident, since=since, now=event.at)
    notify(session)


@events.subscribe(events.IncidentAcknowledged)
def _on_acknowledged(session: Session, event: events.IncidentAcknowledged) -> None:
    timers.cancel(
        session,
        now=event.at,
        incident_id=event.incident_id,
        kinds=SLA_KINDS,
        key_prefix=f"sla:{event.incident_id}:{SlaClock.ACKNOWLEDGE.value}:",
    )


@events.subscribe(events.StatusChanged)
def _on_status(session: Session, event: events.StatusChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    if not bookkeeping.is_open(incident):
        timers.cancel(session, now=event.at, incident_id=incident.id, kinds=KINDS)
        return
    config = bookkeeping.config_of(session)
    # A milestone reached (or undone by moving back) changes which clocks still run.
    arm_sla(session, config, incident, now=event.at)
    reopened = event.previous in ("resolved", "closed")
    if event.public or reopened:
        arm_cadence(session, config, incident, since=event.at, now=event.at)
    notify(session)


@events.subscribe(events.TimelineEventAdded)
def _on_timeline(session: Session, event: events.TimelineEventAdded) -> None:
    if event.type != EventType.COMMUNICATION.value:
        return
    incident = _incident(session, event.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return
    since = max(event.at, _last_update(session, incident))
    arm_cadence(session, bookkeeping.config_of(session), incident, since=since, now=event.at)
    notify(session)
