"""Who a page reaches and what it says: targets resolved to people, messages queued.

Names resolve *when the page is due* (who is on call then, who holds a role); each
message goes through the person's contact plan into the outbox, under a key derived from
the timer so that a handler run twice queues it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.config.escalation import EscalationTargetRef
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.errors import NotFound, ValidationFailed
from warroom.escalation.bookkeeping import (
    role_holder,
)
from warroom.escalation.logic import (
    Step,
    StepTarget,
    derive_key,
    sign_ack_token,
)
from warroom.escalation.matrix import (
    Delivery,
)
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications.logic import Urgency, contact_methods
from warroom.notifications.render import MessageContext, MessageKind
from warroom.notifications.service import notify_address, notify_user
from warroom.oncall import service as oncall
from warroom.settings import Settings

#: How long the acknowledge link in a page works.
ACK_LINK_TTL = timedelta(hours=24)


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


def role_recipients(incident: Incident | None, role: str) -> tuple[list[Recipient], str | None]:
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
        return role_recipients(incident, ref.role)
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
        return role_recipients(incident, target.name)
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
