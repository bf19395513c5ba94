"""Escalation in the engine: incident events arm timers, timer handlers page and escalate.

Subscribers (inside the transaction that changed the incident) only write timers and
cancel them; the handlers, run by the engine, resolve who is on call *when the page is
due*, queue the messages through people's contact plans, write the timeline, and
schedule what comes next. Timer kinds:

- `escalate`: page one step of a policy (payload: policy, round, step, loop), then
  schedule the next step after the step's delay — or, after the last step of the last
  loop, a final `escalate` that records "Escalation policy … exhausted".
- `ack_timeout`: the acknowledged incident is still not resolved: record it and start a
  new paging round.
- `matrix`: an escalation rule (the matrix's or a role's trigger) may hold now: check it
  against the incident and fire it, once per incident.

Handlers run at least once; their effects are idempotent. Messages carry keys derived
from the timer (the outbox ignores a second copy), timeline lines are written under a
once-marker, and a rule fires under a once-marker per incident. A once-marker is a
finished timer row of kind `once`: the timers' unique key turns "only once" into one
INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom import events
from warroom.auth.logic import Principal
from warroom.config.durations import format_duration
from warroom.config.schema import EscalationTargetRef, WarroomConfig
from warroom.context import AppContext
from warroom.db import insert_ignoring_conflict
from warroom.engine import outbox, timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.errors import NotFound, ValidationFailed
from warroom.escalation.logic import (
    CHAIN_POLICY,
    IncidentFacts,
    Policy,
    Position,
    Step,
    StepTarget,
    derive_key,
    escalate_key,
    next_position,
    page_urgency,
    policy_from_chain,
    policy_from_spec,
    rule_due,
    rule_holds,
    sign_ack_token,
    step_description,
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
from warroom.notifications.logic import Urgency, contact_methods
from warroom.notifications.render import MessageContext, MessageKind
from warroom.notifications.service import notify_address, notify_user
from warroom.oncall import service as oncall
from warroom.settings import Settings
from warroom.timeline.logic import EventSource, EventType

log = logging.getLogger("warroom.escalation")

ESCALATE, ACK_TIMEOUT, MATRIX, ONCE = "escalate", "ack_timeout", "matrix", "once"
#: Every kind this module schedules (resolving an incident cancels them all).
KINDS = (ESCALATE, ACK_TIMEOUT, MATRIX)
ACTOR = "warroom"
#: How long the acknowledge link in a page works.
ACK_LINK_TTL = timedelta(hours=24)
_DONE = ("resolved", "closed")


# --- small pieces -----------------------------------------------------------------------


def config_of(session: Session) -> WarroomConfig:
    config: WarroomConfig = session.info["config"]
    return config


def is_open(incident: Incident) -> bool:
    return incident.status not in _DONE


def _fit(key: str) -> str:
    """Keys are at most 255 characters; a longer one keeps its start and a digest."""
    if len(key) <= 200:
        return key
    return key[:150] + ":" + hashlib.sha256(key.encode()).hexdigest()[:32]


def once(session: Session, key: str, *, now: datetime, incident_id: int | None = None) -> bool:
    """Record that `key` happened; True only the first time (see the module docstring)."""
    values = {
        "kind": ONCE,
        "key": _fit(key),
        "due_at": now,
        "payload": {},
        "status": timers.DONE,
        "incident_id": incident_id,
        "attempts": 0,
        "created_at": now,
        "finished_at": now,
    }
    stmt = insert_ignoring_conflict(session, Timer, values, conflict=["key"])
    return session.execute(stmt).first() is not None


def marked(session: Session, key: str) -> bool:
    return session.scalar(select(Timer.id).where(Timer.key == _fit(key))) is not None


def generation(session: Session, incident_id: int, prefix: str) -> int:
    """A number not yet used in keys starting with `prefix` (timers that were cancelled
    keep their keys, so a re-armed timer needs a new one)."""
    count = session.scalar(
        select(func.count())
        .select_from(Timer)
        .where(Timer.incident_id == incident_id, Timer.key.startswith(prefix, autoescape=True))
    )
    return int(count or 0)


def has_pending(session: Session, incident_id: int, kind: str, prefix: str | None = None) -> bool:
    query = select(Timer.id).where(
        Timer.incident_id == incident_id, Timer.kind == kind, Timer.status == timers.PENDING
    )
    if prefix is not None:
        query = query.where(Timer.key.startswith(prefix, autoescape=True))
    return session.scalar(query.limit(1)) is not None


def note(
    session: Session,
    incident: Incident,
    *,
    key: str,
    description: str,
    now: datetime,
    type: EventType = EventType.ESCALATION,
    timestamp: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Write an automation timeline event once per `key`; return whether it was written."""
    if not once(session, f"tl:{key}", now=now, incident_id=incident.id):
        return False
    incidents.record(
        session,
        incident=incident,
        type=type,
        description=description,
        now=now,
        actor=ACTOR,
        source=EventSource.AUTOMATION,
        timestamp=timestamp,
        details=details,
    )
    return True


def role_holder(incident: Incident, role: str) -> str | None:
    return next((r.user for r in incident.roles if r.role == role), None)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed
    return default


# --- policies ---------------------------------------------------------------------------

_policy_cache: dict[int, tuple[WarroomConfig, dict[str, Policy]]] = {}


def policies(config: WarroomConfig) -> dict[str, Policy]:
    """Every policy by name: the configured ones, and the matrix's on-call chain as
    `on-call-chain` (unless a configured policy has that name)."""
    cached = _policy_cache.get(id(config))
    if cached is None or cached[0] is not config:
        table: dict[str, Policy] = {}
        chain = policy_from_chain(compile_rules(config).matrix.chain)
        if chain is not None:
            table[chain.name] = chain
        for spec in config.escalation_policies:
            table[spec.name] = policy_from_spec(spec)
        if len(_policy_cache) > 8:
            _policy_cache.clear()
        cached = (config, table)
        _policy_cache[id(config)] = cached
    return cached[1]


def policy_for(
    config: WarroomConfig, services: Iterable[str], incident_type: str | None = None
) -> Policy | None:
    """Who pages an incident: its type's policy when the type names one (a security breach
    goes to the security team whatever service it touches); else the policy of the first
    service that has one; else the default (`on-call-chain`)."""
    table = policies(config)
    itype = config.incident_type(incident_type) if incident_type else None
    if itype is not None and itype.escalation_policy:
        found = table.get(itype.escalation_policy)
        if found is not None:
            return found
    for name in services:
        service = config.service(name)
        if service is not None and service.escalation_policy:
            found = table.get(service.escalation_policy)
            if found is not None:
                return found
    return table.get(CHAIN_POLICY)


@dataclass(frozen=True)
class PagingState:
    """The latest paging round of an incident: its policy and number."""

    policy: str
    round: int


def paging_state(session: Session, incident_id: int) -> PagingState | None:
    payload = session.scalar(
        select(Timer.payload)
        .where(Timer.incident_id == incident_id, Timer.kind == ESCALATE)
        .order_by(Timer.id.desc())
        .limit(1)
    )
    if not payload:
        return None
    return PagingState(str(payload.get("policy", "")), int(payload.get("round", 0)))


def incident_policy(session: Session, config: WarroomConfig, incident: Incident) -> Policy | None:
    """The policy paging the incident, else the one its services would use."""
    state = paging_state(session, incident.id)
    if state is not None and state.policy in policies(config):
        return policies(config)[state.policy]
    return policy_for(config, [s.service for s in incident.services], incident.type)


# --- who: recipients --------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """A configured user, or a destination that is not one (a contact card, a channel)."""

    label: str
    user: str | None = None
    addresses: tuple[tuple[str, str], ...] = ()


def _users(handles: Iterable[str]) -> list[Recipient]:
    return [Recipient(handle, user=handle) for handle in dict.fromkeys(handles)]


def _on_call(
    session: Session, config: WarroomConfig, schedule: str, layer: str | None, at: datetime
) -> tuple[list[Recipient], str | None]:
    try:
        shifts = oncall.on_call(session, config=config, at=at, schedule=schedule)
    except (NotFound, ValidationFailed) as exc:
        return [], exc.message
    users = [s.user for s in shifts if layer is None or s.layer == layer]
    if not users:
        where = f"layer {layer} of schedule {schedule}" if layer else f"schedule {schedule}"
        return [], f"nobody is on call in {where}"
    return _users(users), None


def _team(config: WarroomConfig, name: str) -> tuple[list[Recipient], str | None]:
    team = next((t for t in config.teams if t.name == name), None)
    if team is None:
        return [], f"no team {name!r}"
    if not team.members:
        return [], f"team {name} has no members"
    return _users(team.members), None


def _role(incident: Incident | None, role: str) -> tuple[list[Recipient], str | None]:
    if incident is None:
        return [], f"no incident, so nobody holds the {role} role"
    holder = role_holder(incident, role)
    if holder is None:
        return [], f"nobody holds the {role} role"
    return _users([holder]), None


def resolve_ref(
    session: Session,
    config: WarroomConfig,
    incident: Incident | None,
    ref: EscalationTargetRef,
    label: str,
    at: datetime,
) -> tuple[list[Recipient], str | None]:
    if ref.user:
        return _users([ref.user]), None
    if ref.team:
        return _team(config, ref.team)
    if ref.schedule:
        return _on_call(session, config, ref.schedule, ref.layer, at)
    if ref.role:
        return _role(incident, ref.role)
    return [Recipient(ref.name or label, addresses=tuple(ref.addresses))], None


def resolve_name(
    session: Session, config: WarroomConfig, incident: Incident | None, name: str, at: datetime
) -> tuple[list[Recipient], str | None]:
    """Who a name of the matrix or a role trigger stands for: an `escalation_targets`
    entry, else a user handle, a team or a schedule of that name."""
    ref = config.escalation_target(name)
    if ref is not None:
        return resolve_ref(session, config, incident, ref, name, at)
    if config.user(name) is not None:
        return _users([name]), None
    if any(t.name == name for t in config.teams):
        return _team(config, name)
    if any(s.name == name for s in config.schedules):
        return _on_call(session, config, name, None, at)
    return [], f"no escalation target named {name!r}"


def resolve_target(
    session: Session,
    config: WarroomConfig,
    incident: Incident | None,
    target: StepTarget,
    at: datetime,
) -> tuple[list[Recipient], str | None]:
    """Who one step target pages at `at`, or why nobody."""
    if target.kind == "user":
        if config.users and config.user(target.name) is None:
            return [], f"no user {target.name!r}"
        return _users([target.name]), None
    if target.kind == "schedule":
        return _on_call(session, config, target.name, target.layer, at)
    if target.kind == "team":
        return _team(config, target.name)
    if target.kind == "role":
        return _role(incident, target.name)
    if target.kind == "channel":
        return [Recipient(target.name, addresses=((target.channel or "slack", target.name),))], None
    return resolve_name(session, config, incident, target.name, at)


def resolve_step(
    session: Session, config: WarroomConfig, incident: Incident, step: Step, at: datetime
) -> list[Recipient]:
    found: list[Recipient] = []
    for target in step.targets:
        recipients, _ = resolve_target(session, config, incident, target, at)
        found.extend(r for r in recipients if r not in found)
    return found


# --- what: messages ---------------------------------------------------------------------


def ack_link_key(settings: Settings) -> bytes | None:
    """The key acknowledge links are signed with (docs/escalation.md), or None."""
    if settings.secret_key is not None:
        return derive_key(settings.secret_key.get_secret_value(), "acknowledge links")
    if settings.bootstrap_token:
        return derive_key(settings.bootstrap_token, "acknowledge links")
    return None


def ack_url(settings: Settings, *, incident_id: int, user: str, now: datetime) -> str | None:
    """A link that acknowledges the incident as `user`, or None when links are off."""
    key = ack_link_key(settings)
    if key is None:
        return None
    token = sign_ack_token(key, incident_id=incident_id, user=user, expires_at=now + ACK_LINK_TTL)
    return f"{settings.base_url.rstrip('/')}/ack/{token}"


def message_context(
    settings: Settings, incident: Incident, *, kind: MessageKind, reason: str
) -> MessageContext:
    return MessageContext(
        kind=kind,
        title=incident.title,
        incident=incident.key,
        severity=incident.severity,
        status=incident.status,
        reason=reason,
        incident_url=f"{settings.base_url.rstrip('/')}/incidents/{incident.key}",
        services=tuple(s.service for s in incident.services),
        started_at=incident.declared_at,
        commander=role_holder(incident, "incident_commander"),
    )


@dataclass(frozen=True)
class Delivered:
    """What `deliver` queued for one recipient: how many messages, how, or why none."""

    count: int
    how: str
    problem: str | None = None


def deliver(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    recipient: Recipient,
    delivery: Delivery,
    context: MessageContext,
    reason: str,
    key: str,
    now: datetime,
    urgency: Urgency,
    with_ack_link: bool = True,
) -> Delivered:
    """Queue `context` for `recipient`: their contact plan, or the delivery's channels."""
    config = ctx.config
    if recipient.user is not None:
        handle = recipient.user
        person = config.user(handle)
        if person is None:
            return Delivered(0, "", f"{handle} is not a configured user")
        # Whoever is paged about an incident works on it: a restricted one opens to them.
        incidents.join(incident, handle, "paged", now)
        link = (
            ack_url(ctx.settings, incident_id=incident.id, user=handle, now=now)
            if with_ack_link
            else None
        )
        personal = replace(context, ack_url=link, timezone=person.timezone)
        methods = contact_methods(person)
        if not methods:
            return Delivered(0, "", f"{handle} has no contact methods")
        chosen = [
            (str(m.type.value), m.address) for m in methods if m.type.value in delivery.channels
        ]
        if delivery.plan or not chosen:
            written = notify_user(
                session,
                config=config,
                user=handle,
                context=personal,
                reason=reason,
                key=key,
                now=now,
                urgency=urgency,
                incident_id=incident.id,
            )
            how = "contact plan" if delivery.plan else f"contact plan (no {delivery.text} on file)"
            return Delivered(len(written), how)
        count = 0
        for channel, address in dict.fromkeys(chosen):
            new = notify_address(
                session,
                channel=channel,
                address=address,
                context=personal,
                reason=reason,
                key=f"{key}:{handle}",
                now=now,
                incident_id=incident.id,
            )
            count += new is not None
        return Delivered(count, delivery.text)
    pairs = list(recipient.addresses)
    if not delivery.plan:
        pairs = [p for p in pairs if p[0] in delivery.channels] or pairs
    count = 0
    for channel, address in pairs:
        new = notify_address(
            session,
            channel=channel,
            address=address,
            context=context,
            reason=reason,
            key=f"{key}:{recipient.label}",
            now=now,
            incident_id=incident.id,
        )
        count += new is not None
    how = delivery.text if not delivery.plan else "every address on file"
    return Delivered(count, how)


# --- paging -----------------------------------------------------------------------------


def start_round(
    session: Session, incident: Incident, policy: Policy, *, round: int, at: datetime
) -> None:
    """Page from the policy's first step at `at`."""
    position = Position(round, 0, 0)
    timers.schedule(
        session,
        kind=ESCALATE,
        key=escalate_key(incident.id, position),
        due_at=at,
        now=at,
        incident_id=incident.id,
        payload={
            "policy": policy.name,
            "round": round,
            "step": 0,
            "loop": 0,
            "since": _iso(at),
        },
    )


def stop_paging(session: Session, incident: Incident, *, now: datetime) -> int:
    """End the current round: no more steps, no page message not yet sent."""
    state = paging_state(session, incident.id)
    if state is not None:
        once(session, f"acked:{incident.id}:{state.round}", now=now, incident_id=incident.id)
    cancelled = timers.cancel(session, now=now, incident_id=incident.id, kinds=(ESCALATE,))
    outbox.cancel_pending(session, incident_id=incident.id, now=now, reasons=("page",))
    return cancelled


def schedule_ack_timeout(
    session: Session, incident: Incident, policy: Policy, *, round: int, acked_at: datetime
) -> None:
    if policy.ack_timeout is None:
        return
    timers.schedule(
        session,
        kind=ACK_TIMEOUT,
        key=f"ackto:{incident.id}:{round}",
        due_at=acked_at + policy.ack_timeout,
        now=acked_at,
        incident_id=incident.id,
        payload={"policy": policy.name, "round": round, "acked_at": _iso(acked_at)},
    )


def paging_active(session: Session, incident_id: int) -> bool:
    return has_pending(session, incident_id, ESCALATE)


def acknowledge_page(
    session: Session, *, incident: Incident, actor: Principal, now: datetime
) -> str:
    """Acknowledge for someone answering a page; return what happened.

    The incident's first acknowledgement goes through the incident service (the
    acknowledged event then stops paging): "acknowledged". Once an acknowledgement timed
    out and paging started again, acknowledging ends that round and is recorded here, as
    the incident stays acknowledged since the first time: "paging stopped". Otherwise
    nothing changes: "already acknowledged".
    """
    if incident.acknowledged_at is None:
        incidents.acknowledge(session, incident=incident, actor=actor, now=now)
        return "acknowledged"
    if not is_open(incident) or not paging_active(session, incident.id):
        return "already acknowledged"
    end_round(session, incident, by=actor.actor, now=now)
    return "paging stopped"


def end_round(session: Session, incident: Incident, *, by: str, now: datetime) -> None:
    """An acknowledgement of a round that started again after an ack timeout: stop it,
    record who answered, and start the acknowledgement timeout again."""
    state = paging_state(session, incident.id)
    stop_paging(session, incident, now=now)
    round_text = f" (round {state.round + 1})" if state is not None else ""
    incidents.record(
        session,
        incident=incident,
        type=EventType.ACKNOWLEDGEMENT,
        description=f"Page acknowledged by {by}: paging stopped{round_text}",
        now=now,
        actor=by,
        details={"round": state.round + 1 if state else None},
    )
    config = config_of(session)
    if state is not None and state.policy in policies(config):
        schedule_ack_timeout(
            session, incident, policies(config)[state.policy], round=state.round + 1, acked_at=now
        )
    notify(session)


def _paging_wanted(session: Session, incident: Incident, round: int, since: datetime) -> bool:
    if not is_open(incident):
        return False
    acked = incident.acknowledged_at
    if acked is not None and acked >= since:
        return False
    return not marked(session, f"acked:{incident.id}:{round}")


def _severity_rank(config: WarroomConfig, severity: str) -> int | None:
    try:
        return config.severity_rank(severity)
    except KeyError:
        return None


def _page_step(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    position: Position,
    timer: Timer,
    now: datetime,
) -> None:
    config = ctx.config
    step = policy.steps[position.step]
    urgency = page_urgency(step, _severity_rank(config, incident.severity))
    where = step_description(policy, position)
    first = position == Position(position.round, 0, 0)
    if first:
        reason = f"You are paged by escalation policy {policy.label} ({where})."
        kind = MessageKind.PAGE
    else:
        previous = policy.steps[position.step - 1] if position.step else policy.steps[-1]
        reason = (
            f"Nobody acknowledged within {format_duration(previous.delay)}: "
            f"escalation policy {policy.label}, {where}."
        )
        kind = MessageKind.PAGE if position.step == 0 else MessageKind.ESCALATION
    context = message_context(ctx.settings, incident, kind=kind, reason=reason)
    paged: set[str] = set()
    for i, target in enumerate(step.targets):
        via = target.describe()
        recipients, problem = resolve_target(session, config, incident, target, now)
        if not recipients:
            note(
                session,
                incident,
                key=f"{timer.key}:none:{i}",
                description=f"Nobody to page for {where} via {via}: {problem}",
                now=now,
                details={"policy": policy.name, "target": via, "problem": problem},
            )
            continue
        for recipient in recipients:
            ident = recipient.user or recipient.label
            if ident in paged:
                continue
            paged.add(ident)
            outcome = deliver(
                ctx,
                session,
                incident=incident,
                recipient=recipient,
                delivery=step.delivery,
                context=context,
                reason="page",
                key=timer.key,
                now=now,
                urgency=urgency,
            )
            text = (
                f"Could not page {recipient.label} ({where}, via {via}): {outcome.problem}"
                if outcome.problem
                else f"Paged {recipient.label} ({where}, via {via})"
            )
            note(
                session,
                incident,
                key=f"{timer.key}:{ident}",
                description=text,
                now=now,
                details={
                    "policy": policy.name,
                    "round": position.round + 1,
                    "step": position.step + 1,
                    "loop": position.loop,
                    "target": via,
                    "user": recipient.user,
                    "urgency": urgency,
                    "method": outcome.how,
                },
            )


@handles(ESCALATE)
def _escalate_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None:
        return
    payload = timer.payload or {}
    position = Position(
        int(payload.get("round", 0)), int(payload.get("step", 0)), int(payload.get("loop", 0))
    )
    since = _parse(payload.get("since"), incident.declared_at)
    if not _paging_wanted(session, incident, position.round, since):
        return
    policy = policies(ctx.config).get(str(payload.get("policy")))
    if policy is None:
        note(
            session,
            incident,
            key=timer.key,
            description=f"Escalation policy {payload.get('policy')} is not configured any more; "
            "paging stopped",
            now=now,
        )
        return
    if payload.get("exhausted"):
        passes = policy.repeat + 1
        note(
            session,
            incident,
            key=timer.key,
            description=f"Escalation policy {policy.label} exhausted: nobody acknowledged "
            f"after {passes} pass{'es' if passes != 1 else ''} through its "
            f"{len(policy.steps)} step{'s' if len(policy.steps) != 1 else ''}",
            now=now,
            details={"policy": policy.name, "round": position.round + 1},
        )
        return
    if position.step >= len(policy.steps):
        return  # the policy lost steps since this was scheduled
    _page_step(
        ctx, session, incident=incident, policy=policy, position=position, timer=timer, now=now
    )
    step = policy.steps[position.step]
    following = next_position(position, len(policy.steps), policy.repeat)
    due = max(timer.due_at + step.delay, now)
    base = {"policy": policy.name, "round": position.round, "since": _iso(since)}
    if following is not None:
        timers.schedule(
            session,
            kind=ESCALATE,
            key=escalate_key(incident.id, following),
            due_at=due,
            now=now,
            incident_id=incident.id,
            payload={**base, "step": following.step, "loop": following.loop},
        )
    else:
        timers.schedule(
            session,
            kind=ESCALATE,
            key=f"esc:{incident.id}:{position.round}:end",
            due_at=due,
            now=now,
            incident_id=incident.id,
            payload={**base, "step": position.step, "loop": position.loop, "exhausted": True},
        )


@handles(ACK_TIMEOUT)
def _ack_timed_out(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None or not is_open(incident):
        return
    payload = timer.payload or {}
    policy = policies(ctx.config).get(str(payload.get("policy")))
    if policy is None or policy.ack_timeout is None:
        return
    round = int(payload.get("round", 1))
    wrote = note(
        session,
        incident,
        key=timer.key,
        description=(
            f"Acknowledgement timed out: not resolved {format_duration(policy.ack_timeout)} "
            f"after it was acknowledged; paging again (round {round + 1})"
        ),
        now=now,
        details={"policy": policy.name, "round": round + 1},
    )
    if wrote:
        start_round(session, incident, policy, round=round, at=now)


# --- the escalation matrix and role triggers -------------------------------------------


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
        if marked(session, fired_key(incident.id, rule.id)):
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
        if rule_holds(rule, facts, now) is None or marked(session, fired_key(incident.id, rule.id)):
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
        commander, problem = _role(incident, "incident_commander")
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


# --- subscribers ------------------------------------------------------------------------


def _incident(session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    config = config_of(session)
    if incident.acknowledged_at is None:
        policy = policy_for(config, event.services, incident.type)
        if policy is not None:
            start_round(session, incident, policy, round=0, at=event.at)
    arm_time_rules(session, config, incident, now=event.at)
    check_impact_rules(session, config, incident, now=event.at)
    notify(session)


@events.subscribe(events.IncidentAcknowledged)
def _on_acknowledged(session: Session, event: events.IncidentAcknowledged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    acked = incident.acknowledged_at
    if acked is not None and acked < event.at:
        # Acknowledged again (an incident service that reports repeated acknowledgements):
        # that ends a round paging again after an ack timeout, and nothing else.
        if is_open(incident) and paging_active(session, incident.id):
            end_round(session, incident, by=event.by, now=event.at)
        return
    state = paging_state(session, incident.id)
    stop_paging(session, incident, now=event.at)
    config = config_of(session)
    if state is not None and state.policy in policies(config):
        schedule_ack_timeout(
            session,
            incident,
            policies(config)[state.policy],
            round=state.round + 1,
            acked_at=event.at,
        )
    notify(session)


@events.subscribe(events.StatusChanged)
def _on_status(session: Session, event: events.StatusChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    if event.current in _DONE:
        timers.cancel(session, now=event.at, incident_id=incident.id, kinds=KINDS)
        outbox.cancel_pending(session, incident_id=incident.id, now=event.at, reasons=("page",))
        return
    if event.current in ("identified", "monitoring") and paging_active(session, incident.id):
        # Someone is working on it (the move stamped acknowledged_at if nobody had).
        stop_paging(session, incident, now=event.at)
    if event.previous in _DONE:
        arm_time_rules(session, config_of(session), incident, now=event.at)
        notify(session)


@events.subscribe(events.SeverityChanged)
def _on_severity(session: Session, event: events.SeverityChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    config = config_of(session)
    arm_time_rules(session, config, incident, now=event.at)
    check_impact_rules(session, config, incident, now=event.at)
    notify(session)


@events.subscribe(events.ImpactChanged)
def _on_impact(session: Session, event: events.ImpactChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    check_impact_rules(session, config_of(session), incident, now=event.at)
    notify(session)


def pending_timers(session: Session, incident_id: int) -> list[Timer]:
    """The incident's pending escalation, SLA and cadence timers, soonest first."""
    return list(
        session.scalars(
            select(Timer)
            .where(Timer.incident_id == incident_id, Timer.status == timers.PENDING)
            .order_by(Timer.due_at, Timer.id)
        )
    )


__all__ = [
    "ACK_TIMEOUT",
    "ESCALATE",
    "KINDS",
    "MATRIX",
    "Recipient",
    "ack_link_key",
    "ack_url",
    "acknowledge_page",
    "deliver",
    "fire_matching",
    "fire_rule",
    "incident_policy",
    "message_context",
    "note",
    "once",
    "paging_state",
    "pending_timers",
    "policies",
    "policy_for",
    "resolve_name",
    "resolve_step",
    "role_holder",
]
