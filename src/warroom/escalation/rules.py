"""The escalation matrix and role triggers applied to incidents: armed, checked, fired.

Timer kind `matrix`: a rule may hold now: check it against the incident and fire it,
once per incident (under a once-marker).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom import events
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.escalation.bookkeeping import (
    ACTOR,
    MATRIX,
    generation,
    has_pending,
    is_open,
    marked,
    once,
)
from warroom.escalation.delivery import (
    Recipient,
    deliver,
    message_context,
    resolve_name,
    role_recipients,
)
from warroom.escalation.logic import (
    IncidentFacts,
    rule_due,
    rule_holds,
)
from warroom.escalation.matrix import (
    PLAN,
    ConditionKind,
    Delivery,
    Rule,
    compile_rules,
    matches_severity,
)
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications.logic import Urgency
from warroom.notifications.render import MessageKind
from warroom.timeline.logic import EventSource, EventType


def incident_facts(config: WarroomConfig, incident: Incident) -> IncidentFacts:
    tier0 = 0
    for item in incident.services:
        service = config.service(item.service)
        if service is not None and service.tier == 0:
            tier0 += 1
    return IncidentFacts(
        severity=incident.severity,
        declared_at=incident.declared_at,
        open=is_open(incident),
        impact=dict(incident.impact or {}),
        critical_services=tier0,
    )


def fired_key(incident_id: int, rule_id: str) -> str:
    return f"fired:{incident_id}:{rule_id}"


def _schedule_rule(
    session: Session, incident: Incident, rule: Rule, *, due: datetime, now: datetime, gen: int
) -> None:
    prefix = f"mx:{incident.id}:{rule.id}:"
    timers.cancel(session, now=now, incident_id=incident.id, kinds=(MATRIX,), key_prefix=prefix)
    timers.schedule(
        session,
        kind=MATRIX,
        key=f"{prefix}{gen}",
        due_at=due,
        now=now,
        incident_id=incident.id,
        payload={"rule": rule.id},
    )


def arm_time_rules(
    session: Session, config: WarroomConfig, incident: Incident, *, now: datetime
) -> None:
    """Schedule the time-based rules that apply at the incident's severity and have not
    fired; one already past is due now (its handler checks again when it runs)."""
    if not is_open(incident):
        return
    rules = [
        rule
        for rule in compile_rules(config).all
        if rule.condition.time_based and matches_severity(config, rule, incident.severity)
    ]
    if not rules:
        return
    gen = generation(session, incident.id, f"mx:{incident.id}:")
    for rule in rules:
        if marked(session, fired_key(incident.id, rule.id), incident_id=incident.id):
            continue
        due = rule_due(rule, incident.declared_at) or now
        _schedule_rule(session, incident, rule, due=max(due, now), now=now, gen=gen)


def check_impact_rules(
    session: Session, config: WarroomConfig, incident: Incident, *, now: datetime
) -> None:
    """Schedule (due now) every other rule that holds and has not fired."""
    if not is_open(incident):
        return
    facts = incident_facts(config, incident)
    gen: int | None = None
    for rule in compile_rules(config).all:
        if rule.condition.time_based or not matches_severity(config, rule, incident.severity):
            continue
        if rule_holds(rule, facts, now) is None or marked(
            session, fired_key(incident.id, rule.id), incident_id=incident.id
        ):
            continue
        if has_pending(session, incident.id, MATRIX, f"mx:{incident.id}:{rule.id}:"):
            continue
        if gen is None:
            gen = generation(session, incident.id, f"mx:{incident.id}:")
        _schedule_rule(session, incident, rule, due=now, now=now, gen=gen)


def _rule_names(rule: Rule, config: WarroomConfig, incident: Incident) -> tuple[str, ...]:
    """A vendor failure goes to the vendor named on the incident when that name is a
    known escalation target; otherwise to the rule's own names."""
    if rule.condition.kind is ConditionKind.VENDOR_FAILURE:
        vendor = (incident.impact or {}).get("vendor")
        if isinstance(vendor, str) and config.escalation_target(vendor) is not None:
            return (vendor,)
    return rule.targets


def fire_rule(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    rule: Rule,
    why: str,
    now: datetime,
) -> bool:
    """Escalate as `rule` says, once per incident; return whether it fired now."""
    if not once(session, fired_key(incident.id, rule.id), now=now, incident_id=incident.id):
        return False
    config = ctx.config
    reason = f"Escalation: {rule.trigger} ({why})."
    if rule.advice:
        reason = f"{rule.advice}: {rule.trigger} ({why})."
    context = message_context(ctx.settings, incident, kind=MessageKind.ESCALATION, reason=reason)
    key = f"mx:{incident.id}:{rule.id}"
    reached: list[str] = []
    missing: list[str] = []
    notified: list[dict[str, Any]] = []

    def send(recipients: Sequence[Recipient], delivery: Delivery, urgency: Urgency) -> list[str]:
        labels = []
        for recipient in recipients:
            outcome = deliver(
                ctx,
                session,
                incident=incident,
                recipient=recipient,
                delivery=delivery,
                context=context,
                reason="escalation",
                key=key,
                now=now,
                urgency=urgency,
            )
            if recipient.user is not None:  # the incident's channel invites them (chat)
                events.publish(
                    session,
                    events.PersonPaged(incident_id=incident.id, at=now, user=recipient.user),
                )
            labels.append(recipient.label)
            notified.append(
                {
                    "recipient": recipient.label,
                    "user": recipient.user,
                    "method": outcome.how,
                    "messages": outcome.count,
                    **({"problem": outcome.problem} if outcome.problem else {}),
                }
            )
        return labels

    if rule.advice:
        commander, problem = role_recipients(incident, "incident_commander")
        send(commander, PLAN, rule.urgency)
        description = f"{rule.advice}: {rule.trigger} ({why})"
        if commander:
            description += f"; told the incident commander ({commander[0].label})"
        elif problem:
            description += f"; {problem}"
    else:
        for name in _rule_names(rule, config, incident):
            recipients, problem = resolve_name(session, config, incident, name, now)
            if not recipients:
                missing.append(f"{name} ({problem})")
                continue
            labels = send(recipients, rule.delivery, rule.urgency)
            shown = ", ".join(label for label in labels if label != name)
            reached.append(f"{name} ({shown})" if shown else name)
        method = "" if rule.delivery.plan else f" by {rule.delivery.text}"
        description = (
            f"Escalated to {', '.join(reached)}{method}: {rule.trigger} ({why})"
            if reached
            else f"Escalation due: {rule.trigger} ({why})"
        )
        if missing:
            description += "; nobody to reach for " + ", ".join(missing)
    incidents.record(
        session,
        incident=incident,
        type=EventType.ESCALATION,
        description=description,
        now=now,
        actor=ACTOR,
        source=EventSource.AUTOMATION,
        details={
            "rule": rule.id,
            "where": rule.where,
            "trigger": rule.trigger,
            "action": rule.action or None,
            "values": why,
            "targets": list(rule.targets),
            "method": rule.delivery.text,
            "notified": notified,
            "unresolved": missing,
        },
    )
    return True


def fire_matching(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    kind: ConditionKind,
    why: str,
    now: datetime,
) -> list[str]:
    """Fire every rule of `kind` that applies at the incident's severity (once each)."""
    fired = []
    for rule in compile_rules(ctx.config).all:
        if (
            rule.condition.kind is kind
            and matches_severity(ctx.config, rule, incident.severity)
            and fire_rule(ctx, session, incident=incident, rule=rule, why=why, now=now)
        ):
            fired.append(rule.id)
    return fired


@handles(MATRIX)
def _rule_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None or not is_open(incident):
        return
    rule = compile_rules(ctx.config).get(str((timer.payload or {}).get("rule")))
    if rule is None or not matches_severity(ctx.config, rule, incident.severity):
        return
    why = rule_holds(rule, incident_facts(ctx.config, incident), now)
    if why is not None:
        fire_rule(ctx, session, incident=incident, rule=rule, why=why, now=now)
