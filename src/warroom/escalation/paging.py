"""Paging by escalation policy: rounds of steps, acknowledgement, the ack timeout.

Timer kinds handled here: `escalate` pages one step of a policy (payload: policy, round,
step, loop), then schedules the next step after the step's delay — or, after the last
step of the last loop, a final `escalate` that records "Escalation policy … exhausted";
`ack_timeout`: the acknowledged incident is still not resolved: record it and start a
new paging round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom import events
from warroom.auth.logic import Principal
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.drillmarks import participants as drill_participants
from warroom.engine import outbox, timers
from warroom.engine.handlers import handles, handles_batch
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.escalation.bookkeeping import (
    ACK_TIMEOUT,
    ESCALATE,
    Note,
    config_of,
    has_pending,
    is_open,
    iso_time,
    marked,
    note,
    note_many,
    once,
    parse_time,
)
from warroom.escalation.delivery import (
    deliver,
    message_context,
    resolve_target,
)
from warroom.escalation.logic import (
    CHAIN_POLICY,
    Policy,
    Position,
    escalate_key,
    next_position,
    page_urgency,
    policy_from_chain,
    policy_from_spec,
    step_description,
)
from warroom.escalation.matrix import (
    compile_rules,
)
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.timeline.logic import EventType

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


# --- paging -----------------------------------------------------------------------------


def _round_start(incident: Incident, policy: Policy, *, round: int, at: datetime) -> dict[str, Any]:
    """The first `escalate` timer of a paging round (for `timers.schedule_many`)."""
    return {
        "kind": ESCALATE,
        "key": escalate_key(incident.id, Position(round, 0, 0)),
        "due_at": at,
        "incident_id": incident.id,
        "payload": {
            "policy": policy.name,
            "round": round,
            "step": 0,
            "loop": 0,
            "since": iso_time(at),
        },
    }


def start_round(
    session: Session, incident: Incident, policy: Policy, *, round: int, at: datetime
) -> None:
    """Page from the policy's first step at `at`."""
    timer = _round_start(incident, policy, round=round, at=at)
    timers.schedule(
        session,
        kind=ESCALATE,
        key=timer["key"],
        due_at=at,
        now=at,
        incident_id=incident.id,
        payload=timer["payload"],
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
        payload={"policy": policy.name, "round": round, "acked_at": iso_time(acked_at)},
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
    allowed = drill_participants(session, incident)
    for i, target in enumerate(step.targets):
        via = target.describe()
        recipients, problem = resolve_target(session, config, incident, target, now)
        if allowed is not None:
            # A drill pages its participants only; the rest of the rota sleeps on.
            left_out = [r.label for r in recipients if r.user not in allowed]
            recipients = [r for r in recipients if r.user in allowed]
            if left_out:
                note(
                    session,
                    incident,
                    key=f"{timer.key}:drill:{i}",
                    description=(
                        f"Drill: not paging {', '.join(left_out)} ({where}, via {via}): "
                        "not a participant"
                    ),
                    now=now,
                    details={"policy": policy.name, "target": via, "left_out": left_out},
                )
            problem = problem or "no drill participant among them"
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
            if recipient.user is not None:  # the incident's channel invites them (chat)
                events.publish(
                    session,
                    events.PersonPaged(incident_id=incident.id, at=now, user=recipient.user),
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
    since = parse_time(payload.get("since"), incident.declared_at)
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
    base = {"policy": policy.name, "round": position.round, "since": iso_time(since)}
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


@dataclass(frozen=True)
class _AckTimeout:
    """What one `ack_timeout` timer does, worked out before anything is written."""

    timer: Timer
    incident: Incident
    policy: Policy
    round: int

    def note(self) -> Note:
        assert self.policy.ack_timeout is not None
        return Note(
            incident=self.incident,
            key=self.timer.key,
            description=(
                "Acknowledgement timed out: not resolved "
                f"{format_duration(self.policy.ack_timeout)} after it was acknowledged; "
                f"paging again (round {self.round + 1})"
            ),
            details={"policy": self.policy.name, "round": self.round + 1},
        )


def _plan_ack_timeout(ctx: AppContext, session: Session, timer: Timer) -> _AckTimeout | None:
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None or not is_open(incident):
        return None
    payload = timer.payload or {}
    policy = policies(ctx.config).get(str(payload.get("policy")))
    if policy is None or policy.ack_timeout is None:
        return None
    return _AckTimeout(timer, incident, policy, int(payload.get("round", 1)))


@handles(ACK_TIMEOUT)
def _ack_timed_out(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    plan = _plan_ack_timeout(ctx, session, timer)
    if plan is None:
        return
    item = plan.note()
    if note(
        session, plan.incident, key=item.key, description=item.description, now=now,
        details=item.details,
    ):  # fmt: skip
        start_round(session, plan.incident, plan.policy, round=plan.round, at=now)


@handles_batch(ACK_TIMEOUT)
def _ack_timed_out_batch(
    ctx: AppContext, session: Session, batch: list[Timer], now: datetime
) -> None:
    """`_ack_timed_out` on each timer of `batch`: the once-markers of their notes in one
    statement, the notes in one, the new rounds' first steps in one. (A timer's checks read
    only its incident's status and the configuration, which none of the others changes.)"""
    plans = [p for p in (_plan_ack_timeout(ctx, session, t) for t in batch) if p is not None]
    wrote = note_many(session, [p.note() for p in plans], now=now)
    timers.schedule_many(
        session,
        [
            _round_start(p.incident, p.policy, round=p.round, at=now)
            for p, written in zip(plans, wrote, strict=True)
            if written
        ],
        now=now,
    )
