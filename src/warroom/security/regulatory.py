"""Regulatory clocks: a personal-data breach starts the notifications its regimes require.

Marking an incident as a breach writes one clock per obligation of each regime (GDPR:
the supervisory authority within 72 hours of awareness, the data subjects without undue
delay), and a timer per reminder. Timer kinds:

- `regulatory_reminder`: the deadline is near and nobody has recorded the notification:
  a timeline event and a message to the incident commander and `security.notify`; the
  last reminder before the deadline escalates (high urgency).
- `regulatory_deadline`: the deadline passed without the notification: the same, marked
  overdue, at high urgency.

Recording that a notification was sent stops its clock and cancels its timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.config.security import Regime
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.escalation.bookkeeping import note, role_holder
from warroom.escalation.delivery import Recipient, deliver, message_context
from warroom.escalation.matrix import PLAN
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.security import logic
from warroom.security.models import Breach, RegulatoryClock
from warroom.security.schemas import (
    BreachCreate,
    BreachRead,
    ChecklistItem,
    ClockRead,
    DraftRead,
    NotificationCreate,
)
from warroom.timeline.logic import EventType

REMINDER, DEADLINE = "regulatory_reminder", "regulatory_deadline"
_FUTURE_TOLERANCE = timedelta(minutes=5)


def _key(clock: RegulatoryClock) -> str:
    return f"reg:{clock.incident_id}:{clock.regime}:{clock.obligation}:"


def _regime(config: WarroomConfig, name: str) -> Regime:
    regime = config.security.regimes.get(name)
    if regime is None:
        known = ", ".join(sorted(config.security.regimes)) or "none"
        raise ValidationFailed(
            f"regimes: unknown regime {name!r} (configured: {known})", field="regimes"
        )
    return regime


def get_breach(session: Session, *, incident: Incident) -> Breach | None:
    return session.get(Breach, incident.id)


def clocks(session: Session, *, incident: Incident) -> list[RegulatoryClock]:
    return list(
        session.scalars(
            select(RegulatoryClock)
            .where(RegulatoryClock.incident_id == incident.id)
            .order_by(RegulatoryClock.deadline, RegulatoryClock.id)
        )
    )


def mark_breach(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    data: BreachCreate,
    actor: Principal,
    now: datetime,
) -> Breach:
    """Mark the incident as a personal-data breach and start its regimes' clocks.

    Marking again adds the clocks of regimes not yet started and updates the description;
    the moment of awareness, once recorded, does not move.
    """
    aware_at = data.aware_at.astimezone(now.tzinfo)
    if aware_at > now + _FUTURE_TOLERANCE:
        raise ValidationFailed("aware_at: is in the future", field="aware_at")
    regimes = {name: _regime(config, name) for name in dict.fromkeys(data.regimes)}
    details = data.model_dump(exclude={"aware_at", "regimes"}, mode="json")
    breach = get_breach(session, incident=incident)
    if breach is None:
        breach = Breach(
            incident_id=incident.id, aware_at=aware_at, marked_at=now,
            marked_by=actor.actor, details=details,
        )  # fmt: skip
        session.add(breach)
    elif breach.aware_at != aware_at:
        raise Conflict(
            f"{incident.key} was marked aware at {breach.aware_at.isoformat()}; "
            "the clocks run from then",
            field="aware_at",
        )
    else:
        breach.details = details
    started = {(c.regime, c.obligation) for c in clocks(session, incident=incident)}
    new: list[RegulatoryClock] = []
    for name, regime in regimes.items():
        for obligation in regime.obligations:
            if (name, obligation.name) in started:
                continue
            clock = RegulatoryClock(
                incident_id=incident.id,
                regime=name,
                obligation=obligation.name,
                recipient=obligation.recipient,
                started_at=aware_at,
                deadline=logic.deadline(obligation, regime, aware_at),
            )
            session.add(clock)
            new.append(clock)
            _arm(session, clock, obligation.reminders, now=now)
    session.flush()
    if new:
        due = "; ".join(
            f"{c.regime}: {c.recipient} by {c.deadline.strftime('%Y-%m-%d %H:%M UTC')}" for c in new
        )
        incidents.record(
            session,
            incident=incident,
            type=EventType.DECISION,
            description=f"Marked as a personal-data breach (aware since "
            f"{aware_at.strftime('%Y-%m-%d %H:%M UTC')}). Notifications due: {due}",
            now=now,
            actor=actor.actor,
            details={"regimes": list(regimes), "aware_at": aware_at.isoformat()},
        )
    return breach


def _arm(
    session: Session, clock: RegulatoryClock, offsets: list[timedelta], *, now: datetime
) -> None:
    payload = {
        "regime": clock.regime,
        "obligation": clock.obligation,
        "deadline": clock.deadline.isoformat(),
    }
    for index, reminder in enumerate(logic.reminders(offsets, clock.deadline, now=now)):
        timers.schedule(
            session, kind=REMINDER, key=f"{_key(clock)}{index}", due_at=reminder.at, now=now,
            incident_id=clock.incident_id,
            payload={**payload, "escalate": reminder.escalate},
        )  # fmt: skip
    timers.schedule(
        session, kind=DEADLINE, key=f"{_key(clock)}deadline", due_at=max(clock.deadline, now),
        now=now, incident_id=clock.incident_id, payload=payload,
    )  # fmt: skip


def record_notification(
    session: Session,
    *,
    incident: Incident,
    data: NotificationCreate,
    actor: Principal,
    now: datetime,
) -> RegulatoryClock:
    """Record that a notification was sent: its clock stops, its reminders are cancelled."""
    clock = session.scalar(
        select(RegulatoryClock).where(
            RegulatoryClock.incident_id == incident.id,
            RegulatoryClock.regime == data.regime,
            RegulatoryClock.obligation == data.obligation,
        )
    )
    if clock is None:
        raise NotFound(
            f"{incident.key} has no {data.regime} clock for {data.obligation!r}",
            field="obligation",
        )
    if clock.notified_at is not None:
        raise Conflict(
            f"{data.regime} {data.obligation} was already recorded as notified at "
            f"{clock.notified_at.isoformat()} by {clock.notified_by}",
            field="obligation",
        )
    sent_at = data.sent_at.astimezone(now.tzinfo) if data.sent_at else now
    if sent_at > now + _FUTURE_TOLERANCE:
        raise ValidationFailed("sent_at: is in the future", field="sent_at")
    if sent_at < clock.started_at:
        raise ValidationFailed("sent_at: is before the breach was known", field="sent_at")
    clock.notified_at, clock.notified_by = sent_at, actor.actor
    clock.reference, clock.note = data.reference, data.note
    timers.cancel(session, now=now, incident_id=incident.id, key_prefix=_key(clock))
    late = "" if sent_at <= clock.deadline else " (after the deadline)"
    incidents.record(
        session,
        incident=incident,
        type=EventType.COMMUNICATION,
        description=f"{clock.regime}: {clock.recipient} notified{late}"
        + (f", reference {data.reference}" if data.reference else ""),
        now=now,
        timestamp=sent_at,
        actor=actor.actor,
        details={"regime": clock.regime, "obligation": clock.obligation},
    )
    return clock


def _clock_read(clock: RegulatoryClock, now: datetime) -> ClockRead:
    return ClockRead(
        regime=clock.regime,
        obligation=clock.obligation,
        recipient=clock.recipient,
        started_at=clock.started_at,
        deadline=clock.deadline,
        state=logic.clock_state(clock.deadline, clock.notified_at, now=now).value,
        seconds_left=(clock.deadline - now).total_seconds(),
        notified_at=clock.notified_at,
        notified_by=clock.notified_by,
        reference=clock.reference,
    )


def checklist(
    breach: Breach, rows: list[RegulatoryClock], has_evidence: bool
) -> list[ChecklistItem]:
    """Seed 001's data-breach steps, ticked from what the incident records."""
    details = breach.details or {}
    described = bool(details.get("nature")) and bool(details.get("data_categories"))
    return [
        ChecklistItem(step="Breach detected and the moment of awareness recorded", done=True),
        ChecklistItem(step="Evidence preserved in the locker", done=has_evidence),
        ChecklistItem(step="Breach documented (nature, categories, numbers)", done=described),
        ChecklistItem(step="Likely consequences assessed", done=bool(details.get("consequences"))),
        ChecklistItem(step="Mitigation measures recorded", done=bool(details.get("measures"))),
        *(
            ChecklistItem(step=f"Notify {c.recipient} ({c.regime})", done=c.notified_at is not None)
            for c in rows
        ),
    ]


def breach_read(session: Session, *, incident: Incident, now: datetime) -> BreachRead:
    from warroom.security.models import EvidenceItem

    breach = get_breach(session, incident=incident)
    if breach is None:
        raise NotFound(f"{incident.key} is not marked as a personal-data breach", field="id")
    rows = clocks(session, incident=incident)
    has_evidence = (
        session.scalar(
            select(EvidenceItem.id).where(EvidenceItem.incident_id == incident.id).limit(1)
        )
        is not None
    )
    return BreachRead(
        incident=incident.key,
        aware_at=breach.aware_at,
        marked_at=breach.marked_at,
        marked_by=breach.marked_by,
        details=breach.details,
        clocks=[_clock_read(c, now) for c in rows],
        checklist=checklist(breach, rows, has_evidence),
    )


def _listing(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "[to be completed]"


def draft(
    session: Session, *, config: WarroomConfig, incident: Incident, regime: str, obligation: str
) -> DraftRead:
    """A notification filled from the incident with what Article 33(3) lists."""
    breach = get_breach(session, incident=incident)
    clock = session.scalar(
        select(RegulatoryClock).where(
            RegulatoryClock.incident_id == incident.id,
            RegulatoryClock.regime == regime,
            RegulatoryClock.obligation == obligation,
        )
    )
    if breach is None or clock is None:
        raise NotFound(
            f"{incident.key} has no {regime} clock for {obligation!r}", field="obligation"
        )
    d = breach.details or {}
    title = config.security.regimes[regime].title if regime in config.security.regimes else regime

    def number(key: str) -> str:
        return f"approximately {d[key]:,}" if d.get(key) is not None else "[unknown]"

    nature = d.get("nature") or incident.description or "[to be completed]"
    text = "\n".join(
        [
            f"To: {clock.recipient}",
            f"Subject: Personal data breach notification ({title}) - {incident.key}",
            "",
            f"Became aware: {breach.aware_at.strftime('%Y-%m-%d %H:%M UTC')}",
            f"Incident: {incident.key} - {incident.title}",
            "",
            f"(a) Nature of the breach: {nature}",
            f"    Categories of data subjects: {_listing(d.get('subject_categories'))}",
            f"    Number of data subjects concerned: {number('approx_subjects')}",
            f"    Categories of personal data records: {_listing(d.get('data_categories'))}",
            f"    Number of personal data records concerned: {number('approx_records')}",
            f"(b) Contact point: {config.security.contact_point or '[to be completed]'}",
            f"(c) Likely consequences: {d.get('consequences') or '[to be completed]'}",
            f"(d) Measures taken or proposed: {d.get('measures') or '[to be completed]'}",
        ]
    )
    return DraftRead(
        regime=regime, obligation=obligation, recipient=clock.recipient,
        deadline=clock.deadline, text=text,
    )  # fmt: skip


# --- the engine's part ------------------------------------------------------------------


def _due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    payload = timer.payload or {}
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None:
        return
    clock = session.scalar(
        select(RegulatoryClock).where(
            RegulatoryClock.incident_id == incident.id,
            RegulatoryClock.regime == str(payload.get("regime")),
            RegulatoryClock.obligation == str(payload.get("obligation")),
        )
    )
    if clock is None or clock.notified_at is not None:
        return
    left = clock.deadline - timer.due_at
    overdue = timer.kind == DEADLINE
    escalate = overdue or bool(payload.get("escalate"))
    label = clock.regime.upper()
    if overdue:
        text = f"{label}: the notification to {clock.recipient} is overdue (was due " \
            f"{clock.deadline.strftime('%Y-%m-%d %H:%M UTC')})"  # fmt: skip
    else:
        text = f"{label}: notify {clock.recipient} within {logic.format_left(left)} " \
            f"(due {clock.deadline.strftime('%Y-%m-%d %H:%M UTC')})"  # fmt: skip
    details = {
        "regime": clock.regime, "obligation": clock.obligation,
        "deadline": clock.deadline.isoformat(), "escalate": escalate,
    }  # fmt: skip
    if not note(
        session, incident, key=timer.key, description=text, now=now,
        timestamp=timer.due_at, details=details,
    ):  # fmt: skip
        return
    notify = logic.people(ctx.config, ctx.config.security.notify)
    people = [role_holder(incident, "incident_commander"), *notify]
    context = message_context(
        ctx.settings, incident, kind=MessageKind.ESCALATION if escalate else MessageKind.REMINDER,
        reason=f"{text}.",
    )  # fmt: skip
    for user in dict.fromkeys(p for p in people if p):
        deliver(
            ctx, session, incident=incident, recipient=Recipient(user, user=user),
            delivery=PLAN, context=context, reason="regulatory", key=timer.key, now=now,
            urgency="high" if escalate else "low",
        )  # fmt: skip


handles(REMINDER)(_due)
handles(DEADLINE)(_due)
