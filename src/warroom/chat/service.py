"""Chat side effects of incident changes: queue chat actions in the change's transaction.

Subscribers run inside the committing transaction (see `warroom.events`) and only write
`ChatAction` rows; the chat job (`warroom.chat.job`) talks to Slack after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom import drillmarks as drills
from warroom import events
from warroom.chat.logic import IncidentView, escape, role_label
from warroom.chat.models import ChatAction, ChatChannel
from warroom.config.schema import WarroomConfig, names_severity
from warroom.db import insert_ignoring_conflict
from warroom.engine.wakeup import notify
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageContext, MessageKind
from warroom.notifications.service import notify_address

PENDING, DONE, FAILED = "pending", "done", "failed"


def open_key(incident_id: int) -> str:
    return f"slack:open:{incident_id}"


def queue(
    session: Session,
    *,
    key: str,
    kind: str,
    now: datetime,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    due_at: datetime | None = None,
) -> bool:
    """Queue one chat action unless one with this key exists; return whether it was new."""
    values = {
        "key": key[:255],
        "kind": kind,
        "incident_id": incident_id,
        "payload": payload or {},
        "status": PENDING,
        "due_at": due_at or now,
        "attempts": 0,
        "created_at": now,
    }
    stmt = insert_ignoring_conflict(session, ChatAction, values, conflict=["key"])
    if session.execute(stmt).first() is None:
        return False
    notify(session)  # the chat job runs once this commits, not at its next poll
    return True


def channel_of(session: Session, incident_id: int) -> ChatChannel | None:
    return session.scalar(select(ChatChannel).where(ChatChannel.incident_id == incident_id))


def incident_for_channel(session: Session, channel_id: str) -> Incident | None:
    """The incident whose channel this is."""
    return session.scalar(
        select(Incident)
        .join(ChatChannel, ChatChannel.incident_id == Incident.id)
        .where(ChatChannel.channel_id == channel_id)
    )


def has_channel_work(session: Session, incident_id: int) -> bool:
    """Whether the incident's channel was asked for (chat was on when it was declared)."""
    found = session.scalar(select(ChatAction.id).where(ChatAction.key == open_key(incident_id)))
    return found is not None


def incident_view(config: WarroomConfig, incident: Incident, base_url: str) -> IncidentView:
    """What chat messages show of `incident`."""
    level = config.severity(incident.severity)
    required = tuple(level.required_roles) if level else ()
    slack = config.chat.slack
    bridge = (
        slack.bridge_url
        if names_severity(config, slack.bridge_severities, incident.severity)
        else None
    )
    return IncidentView(
        key=incident.key,
        title=drills.labelled(incident.title) if incident.drill_id else incident.title,
        severity=incident.severity,
        status=incident.status,
        roles={r.role: r.user for r in incident.roles},
        services=tuple(s.service for s in incident.services),
        url=f"{base_url.rstrip('/')}/incidents/{incident.key}" if base_url else "",
        required_roles=tuple(str(r) for r in required),
        people={u.handle: u.name for u in config.users},
        bridge_url=bridge or "",
    )


# --- subscribers --------------------------------------------------------------------------


def _config(session: Session) -> WarroomConfig | None:
    config = session.info.get("config")
    return config if isinstance(config, WarroomConfig) else None


def _to_webhooks(session: Session, event: events.DomainEvent, what: str, text: str) -> None:
    """Send `text` about the incident to every configured Teams incoming webhook."""
    config = _config(session)
    if config is None or not (config.chat.teams_webhooks or config.chat.mattermost_webhooks):
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    base_url = str(session.info.get("base_url") or "")
    commander = next((r.user for r in incident.roles if r.role == "incident_commander"), None)
    context = MessageContext(
        kind=MessageKind.PAGE,
        title=incident.title,
        incident=incident.key,
        severity=incident.severity,
        status=incident.status,
        reason=text,
        incident_url=f"{base_url.rstrip('/')}/incidents/{incident.key}" if base_url else None,
        services=tuple(s.service for s in incident.services),
        started_at=incident.started_at or incident.declared_at,
        commander=commander,
    )
    title = drills.labelled(incident.title) if incident.drill_id else incident.title
    markdown = f"**{incident.key}** ({incident.severity}, {incident.status}): " + (
        f"{title}\n{text}"
    )
    if context.incident_url:
        markdown += f"\n[Open {incident.key} in warroom]({context.incident_url})"
    for i, url in enumerate(config.chat.mattermost_webhooks):
        queue(
            session,
            key=f"mattermost:{incident.id}:{i}:{what}:{event.at.isoformat()}",
            kind="mattermost",
            incident_id=incident.id,
            payload={"url": url, "text": markdown},
            now=event.at,
        )
    for url in config.chat.teams_webhooks:
        notify_address(
            session,
            channel="teams",
            address=url,
            context=context,
            reason="chat",
            key=f"chat:{incident.id}:{what}:{event.at.isoformat()}",
            now=event.at,
            incident_id=incident.id,
        )


@events.subscribe(events.IncidentDeclared)
def _open_channel(session: Session, event: events.IncidentDeclared) -> None:
    config = _config(session)
    if config is None:
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None or incident.status in (Status.RESOLVED, Status.CLOSED):
        return  # imported history needs no war room
    _to_webhooks(session, event, "declared", f"{incident.key} declared at {incident.severity}")
    if not config.chat.slack.enabled:
        return
    queue(session, key=open_key(incident.id), kind="open", incident_id=incident.id, now=event.at)


def invite_key(incident_id: int, handle: str) -> str:
    return f"slack:invite:{incident_id}:{handle}"


def _invite(session: Session, event: events.DomainEvent, handle: str) -> None:
    """Invite `handle` to the incident's channel, once per incident and person."""
    config = _config(session)
    if config is None or not config.chat.slack.enabled:
        return
    if not has_channel_work(session, event.incident_id):
        return
    queue(
        session,
        key=invite_key(event.incident_id, handle),
        kind="invite",
        incident_id=event.incident_id,
        payload={"user": handle},
        now=event.at,
    )


def _post(session: Session, event: events.DomainEvent, what: str, text: str) -> None:
    _to_webhooks(session, event, what, text)
    if not has_channel_work(session, event.incident_id):
        return
    if drills.is_drill(session, event.incident_id):
        text = drills.labelled(text)
    queue(
        session,
        key=f"slack:post:{event.incident_id}:{what}:{event.at.isoformat()}",
        kind="post",
        incident_id=event.incident_id,
        payload={"text": text, "refresh": True},
        now=event.at,
    )


@events.subscribe(events.IncidentAcknowledged)
def _acknowledged(session: Session, event: events.IncidentAcknowledged) -> None:
    _post(session, event, f"ack:{event.by}", f"Acknowledged by {event.by}.")


@events.subscribe(events.SeverityChanged)
def _severity(session: Session, event: events.SeverityChanged) -> None:
    _post(
        session,
        event,
        f"severity:{event.current}",
        f"Severity changed from {event.previous} to {event.current}.",
    )


@events.subscribe(events.RoleAssigned)
def _role(session: Session, event: events.RoleAssigned) -> None:
    _invite(session, event, event.user)  # a new role holder joins the channel
    _post(
        session,
        event,
        f"role:{event.role}:{event.user}",
        f"{role_label(event.role)}: {event.user}.",
    )


@events.subscribe(events.PersonPaged)
def _paged(session: Session, event: events.PersonPaged) -> None:
    _invite(session, event, event.user)  # whoever a later escalation step pages joins too


@events.subscribe(events.StatusChanged)
def _status(session: Session, event: events.StatusChanged) -> None:
    text = f"Status changed from {event.previous} to {event.current}."
    if event.message:
        text += f"\n> {escape(event.message)}"
    _post(session, event, f"status:{event.current}", text)
    if event.current != Status.RESOLVED or not has_channel_work(session, event.incident_id):
        return
    incident = session.get(Incident, event.incident_id)
    config = _config(session)
    if incident is None or config is None:
        return
    queue(
        session,
        key=f"slack:summary:{incident.id}:{event.at.isoformat()}",
        kind="post",
        incident_id=incident.id,
        payload={"text": resolution_summary(incident, event.message), "refresh": True},
        now=event.at,
    )
    if config.chat.slack.archive_on_resolve:
        queue(
            session,
            key=f"slack:archive:{incident.id}",
            kind="archive",
            incident_id=incident.id,
            now=event.at,
            due_at=event.at + config.chat.slack.archive_after,
        )


def resolution_summary(incident: Incident, message: str | None) -> str:
    """The summary posted when an incident is resolved."""
    lines = [
        f"*{incident.key} resolved*: {escape(incident.title)}",
        f"Severity: {incident.severity}",
    ]
    if incident.resolved_at is not None:
        lasted = incident.resolved_at - (incident.started_at or incident.declared_at)
        minutes = int(lasted.total_seconds() // 60)
        lines.append(f"Duration: {minutes // 60} h {minutes % 60:02d} min")
    roles = ", ".join(f"{r.role}: {r.user}" for r in incident.roles)
    if roles:
        lines.append(f"Roles: {roles}")
    if message:
        lines.append(f"Resolution: {escape(message)}")
    return "\n".join(lines)
