"""Alerts that are not part of an incident: the `alert_routing` action of their severity.

The routing job calls `apply` once an alert is routed, triggered, not suppressed and not
attached to an incident; it calls `stop_paging` when the alert is acknowledged or
resolved at its source, or joins an incident (whose own paging then takes over).

- `page`: an `escalate_alert` timer (payload: alert_id, policy, step, loop) pages one step
  of the service's escalation policy, then schedules the next step after the step's
  delay; it does nothing once the alert is acknowledged, resolved or in an incident.
- `notify`: one message to the owning team: its Slack channel, and each member by e-mail.
- `none`: nothing is sent (the alert is recorded; warroom has no ticket system yet).

Every key starts with `alert:<id>:` (timers and outbox rows alike), so applying twice
sends once. Messages carry the alert's id, so stopping cancels the ones not yet sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.alerts.logic import AlertStatus
from warroom.alerts.models import Alert
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import outbox, timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.escalation.delivery import resolve_target
from warroom.escalation.logic import Position, next_position, step_description
from warroom.escalation.paging import policies, policy_for
from warroom.notifications.logic import Urgency, contact_methods
from warroom.notifications.render import MessageContext, MessageKind
from warroom.notifications.service import notify_address, notify_user

log = logging.getLogger("warroom.escalation")

ESCALATE_ALERT = "escalate_alert"


def alert_key(alert_id: int) -> str:
    return f"alert:{alert_id}:"


def page_key(alert_id: int, position: Position) -> str:
    return f"{alert_key(alert_id)}esc:{position.step}:{position.loop}"


class PagedAlert(Protocol):
    """What paging reads of an alert: a stored one (`Alert`), or one being routed."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def suppressed(self) -> bool: ...
    @property
    def incident_id(self) -> int | None: ...


def pages_wanted(alert: PagedAlert) -> bool:
    return (
        alert.status == AlertStatus.TRIGGERED
        and alert.resolved_at is None
        and not alert.suppressed
        and alert.incident_id is None
    )


def _context(alert: PagedAlert, *, kind: MessageKind, reason: str) -> MessageContext:
    return MessageContext(
        kind=kind,
        title=f"Alert: {alert.summary}",
        severity=alert.severity,
        status=alert.status,
        reason=reason,
        services=(alert.service,),
        started_at=alert.started_at or alert.first_seen,
    )


def apply(session: Session, config: WarroomConfig, alert: PagedAlert, *, now: datetime) -> None:
    """Start the action of the alert's severity (once per alert)."""
    if not pages_wanted(alert):
        return
    action = config.alert_routing.action_for(alert.severity)
    if action.action == "page":
        policy = policy_for(config, [alert.service])
        if policy is None or not policy.steps:
            log.warning("alert %s of %s: no escalation policy to page", alert.id, alert.service)
            return
        start = Position(0, 0, 0)
        created = timers.schedule(
            session,
            kind=ESCALATE_ALERT,
            key=page_key(alert.id, start),
            due_at=now,
            now=now,
            payload={"alert_id": alert.id, "policy": policy.name, "step": 0, "loop": 0},
        )
        if created:
            notify(session)
    elif action.action == "notify":
        _notify_team(session, config, alert, channels=action.channels, now=now)


# When a service's alerts have nobody to notify, the log says so once every ten minutes per
# service: a storm of its alerts would otherwise write a line per alert.
_UNOWNED_NOTE_EVERY = timedelta(minutes=10)
_unowned_noted: dict[str, datetime] = {}


def _note_unowned(alert: PagedAlert, now: datetime) -> None:
    last = _unowned_noted.get(alert.service)
    if last is not None and last <= now < last + _UNOWNED_NOTE_EVERY:
        return
    _unowned_noted[alert.service] = now
    log.info(
        "alert %s: service %s has no owning team to notify (said once per %d minutes)",
        alert.id,
        alert.service,
        _UNOWNED_NOTE_EVERY.total_seconds() // 60,
    )


def _notify_team(
    session: Session,
    config: WarroomConfig,
    alert: PagedAlert,
    *,
    channels: Sequence[str],
    now: datetime,
) -> None:
    service = config.service(alert.service)
    team = next((t for t in config.teams if service and t.name == service.owner), None)
    if team is None:
        _note_unowned(alert, now)
        return
    reason = f"A {alert.severity} alert on {alert.service} (team {team.name})."
    context = _context(alert, kind=MessageKind.ESCALATION, reason=reason)
    key = f"{alert_key(alert.id)}notify"
    pairs: list[tuple[str, str]] = []
    if "slack" in channels and team.slack_channel:
        pairs.append(("slack", team.slack_channel))
    if "email" in channels:
        for member in team.members:
            person = config.user(member)
            if person is None:
                continue
            emails = [m.address for m in contact_methods(person) if m.type.value == "email"]
            pairs.extend(("email", address) for address in emails[:1])
    for channel, address in dict.fromkeys(pairs):
        notify_address(
            session,
            channel=channel,
            address=address,
            context=context,
            reason="alert",
            key=key,
            now=now,
            alert_id=alert.id,
        )
    if pairs:
        notify(session)


def stop_paging(session: Session, alert: PagedAlert, *, now: datetime) -> None:
    """No more steps and no page not yet sent (a no-op for an alert that never paged)."""
    first = page_key(alert.id, Position(0, 0, 0))
    if session.scalar(select(Timer.id).where(Timer.key == first)) is None:
        return
    timers.cancel(session, now=now, kinds=(ESCALATE_ALERT,), key_prefix=alert_key(alert.id))
    outbox.cancel_pending(session, alert_id=alert.id, now=now, reasons=("page",))


@handles(ESCALATE_ALERT)
def _escalate_alert(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    payload = timer.payload or {}
    alert = session.get(Alert, int(payload.get("alert_id", 0)))
    if alert is None or not pages_wanted(alert):
        return
    policy = policies(ctx.config).get(str(payload.get("policy")))
    position = Position(0, int(payload.get("step", 0)), int(payload.get("loop", 0)))
    if policy is None or position.step >= len(policy.steps):
        log.warning("alert %s: escalation policy %s is gone", alert.id, payload.get("policy"))
        return
    step = policy.steps[position.step]
    where = step_description(policy, position)
    if position == Position(0, 0, 0):
        reason = f"Alert on {alert.service}: escalation policy {policy.label} ({where})."
        kind = MessageKind.PAGE
    else:
        previous = policy.steps[position.step - 1] if position.step else policy.steps[-1]
        reason = (
            f"Nobody acknowledged the alert within {format_duration(previous.delay)}: "
            f"escalation policy {policy.label}, {where}."
        )
        kind = MessageKind.PAGE if position.step == 0 else MessageKind.ESCALATION
    context = _context(alert, kind=kind, reason=reason)
    urgency: Urgency = step.urgency or ("high" if alert.severity == "critical" else "low")
    paged: set[str] = set()
    for target in step.targets:
        recipients, problem = resolve_target(session, ctx.config, None, target, now)
        if not recipients:
            log.warning("alert %s, %s: nobody to page via %s: %s", alert.id, where, target, problem)
        for recipient in recipients:
            ident = recipient.user or recipient.label
            if ident in paged:
                continue
            paged.add(ident)
            if recipient.user is not None:
                notify_user(
                    session,
                    config=ctx.config,
                    user=recipient.user,
                    context=context,
                    reason="page",
                    key=timer.key,
                    now=now,
                    urgency=urgency,
                    alert_id=alert.id,
                )
                continue
            for channel, address in recipient.addresses:
                notify_address(
                    session,
                    channel=channel,
                    address=address,
                    context=context,
                    reason="page",
                    key=f"{timer.key}:{recipient.label}",
                    now=now,
                    alert_id=alert.id,
                )
    following = next_position(position, len(policy.steps), policy.repeat)
    if following is None:
        log.info("alert %s: escalation policy %s exhausted", alert.id, policy.name)
        return
    timers.schedule(
        session,
        kind=ESCALATE_ALERT,
        key=page_key(alert.id, following),
        due_at=max(timer.due_at + step.delay, now),
        now=now,
        payload={
            "alert_id": alert.id,
            "policy": policy.name,
            "step": following.step,
            "loop": following.loop,
        },
    )


__all__ = ["ESCALATE_ALERT", "apply", "pages_wanted", "stop_paging"]
