"""`/incident` and the opening message's buttons, run as the mapped warroom user.

Each command opens its own unit of work and calls the incident services, so Slack users
meet the same rules as the API (visibility, authority); a refusal is answered ephemerally
with the service's own message, which names who may.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from warroom.auth.logic import Principal, Role
from warroom.chat import logic
from warroom.chat.adapters import ChatPort
from warroom.chat.job import person_for_slack
from warroom.chat.service import incident_for_channel
from warroom.context import AppContext
from warroom.errors import NotFound, WarroomError
from warroom.handoffs import service as handoffs
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import EventCreate, IncidentCreate
from warroom.notifications.ports import DeliveryFailure
from warroom.statuspage import service as statuspage
from warroom.statuspage import stakeholders
from warroom.statuspage.schemas import StakeholderUpdateCreate


@dataclass(frozen=True)
class Caller:
    """Who sent a Slack request, and where."""

    user_id: str
    user_name: str = ""
    channel_id: str = ""
    trigger_id: str = ""


def reply(text: str, *, public: bool = False) -> dict[str, Any]:
    """A slash-command answer: ephemeral (only the caller sees it) unless `public`."""
    return {"response_type": "in_channel" if public else "ephemeral", "text": text}


def principal_for(
    ctx: AppContext, caller: Caller, port: ChatPort | None = None
) -> Principal | None:
    """The warroom user behind a Slack member: by `slack:` id or @name, else (asking Slack)
    by the e-mail address in their `slack:` or `email:` field."""
    handle = person_for_slack(ctx.config, caller.user_id, caller.user_name)
    if handle is None and port is not None:
        handle = _person_by_email(ctx, caller.user_id, port)
    if handle is None:
        return None
    return Principal(name=f"slack:{caller.user_id}", role=Role.RESPONDER, user=handle)


def _person_by_email(ctx: AppContext, user_id: str, port: ChatPort) -> str | None:
    """One `users.info` for the member's address, matched against the configuration."""
    email = port.email_of(user_id)
    if email is None:
        return None
    for user in ctx.config.users:
        slack = (user.slack or "").strip()
        addresses = {a.lower() for a in (user.email, slack if "@" in slack[1:] else None) if a}
        if email.lower() in addresses:
            return user.handle
    return None


def unmapped(caller: Caller) -> dict[str, Any]:
    return reply(
        f"Your Slack account ({caller.user_id}) is not mapped to a warroom user, so nothing "
        f"was changed. Ask an admin to add `slack: {caller.user_id}` to your user in the "
        "warroom configuration."
    )


def run_command(
    ctx: AppContext, caller: Caller, text: str, port: ChatPort | None = None
) -> dict[str, Any]:
    """Run one `/incident …` and return Slack's answer."""
    try:
        command = logic.parse_command(text)
    except logic.CommandError as exc:
        return reply(f"{exc}\n\n{logic.HELP}")
    if command.verb == "help":
        return reply(logic.HELP)
    who = principal_for(ctx, caller, port)
    if who is None:
        return unmapped(caller)
    if command.verb == "declare" and not command.rest and port is not None and caller.trigger_id:
        modal = logic.declare_modal([s.name for s in ctx.config.severities], caller.channel_id)
        try:
            port.open_view(caller.trigger_id, modal)
        except DeliveryFailure as exc:
            return reply(
                f"Could not open the form ({exc.reason}); "
                "use `/incident declare SEVERITY TITLE` instead."
            )
        return {}
    try:
        if command.verb == "resolve" and not command.rest and port and caller.trigger_id:
            return _resolve_form(ctx, caller, who, command, port)
        return _run(ctx, caller, who, command)
    except WarroomError as exc:
        return reply(f"Refused: {logic.escape(exc.message)}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return reply(f"Refused: {where}: {first.get('msg')}")


def _target(
    ctx: AppContext, session: Any, caller: Caller, who: Principal, key: str | None
) -> Incident:
    if key is None:
        found = incident_for_channel(session, caller.channel_id) if caller.channel_id else None
        if found is None:
            raise NotFound("name the incident (INC-N), or run the command in its channel")
        key = found.key
    return incidents.get(session, key=key, viewer=who, for_update=True)


def _run(ctx: AppContext, caller: Caller, who: Principal, command: logic.Command) -> dict[str, Any]:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        session = uow.session
        if command.verb == "declare":
            title, severity = command.rest, None
            words = command.rest.split(maxsplit=1)
            if words and ctx.config.severity(words[0]) is not None:
                level = ctx.config.severity(words[0])
                assert level is not None
                severity = level.name
                title = words[1] if len(words) > 1 else ""
            if not title.strip():
                return reply("usage: /incident declare [SEVERITY] TITLE")
            severity = severity or ctx.config.severities[-1].name
            incident = incidents.declare(
                session,
                config=ctx.config,
                data=IncidentCreate(title=title, severity=severity),
                actor=who,
                now=now,
            )
            key = incident.key
            uow.commit()
            return reply(
                f"{key} declared at {severity} by {who.actor}: {logic.escape(title)}", public=True
            )
        incident = _target(ctx, session, caller, who, command.incident)
        key = incident.key
        if command.verb == "ack":
            incidents.acknowledge(session, incident=incident, actor=who, now=now)
            text = f"{key} acknowledged by {who.actor}"
        elif command.verb in ("status", "resolve"):
            raw = command.args[0] if command.verb == "status" else Status.RESOLVED.value
            try:
                status = Status(raw.lower())
            except ValueError:
                allowed = ", ".join(s.value for s in Status)
                return reply(f"unknown status {raw!r}; one of: {allowed}")
            incidents.change_status(
                session,
                incident=incident,
                status=status,
                message=command.rest or None,
                public=False,
                actor=who,
                now=now,
            )
            text = f"{key} is now {status.value} ({who.actor})"
        elif command.verb == "note":
            if not command.rest:
                return reply("usage: /incident note [INC-N] TEXT")
            incidents.add_event(
                session,
                incident=incident,
                data=EventCreate(type="note", description=command.rest),
                actor=who,
                now=now,
            )
            text = f"Note added to {key} by {who.actor}"
        elif command.verb == "update":
            text = _update(ctx, session, who, incident, command)
        elif command.verb == "handoff":
            text = _handoff(ctx, session, caller, who, incident, command.args[0])
        elif command.verb == "severity":
            incidents.change_severity(
                session,
                config=ctx.config,
                incident=incident,
                severity=command.args[0],
                reason=command.rest or f"changed from Slack by {who.actor}",
                actor=who,
                now=now,
            )
            text = f"{key} is now {incident.severity} ({who.actor})"
        else:  # assign, claim
            role = logic.role_name(command.args[0])
            if command.verb == "claim":
                user = who.user
            else:
                user = _user_named(ctx, command.args[1])
                if user is None:
                    return reply(f"{logic.escape(command.args[1])} is not a warroom user")
            assert user is not None
            incidents.assign_role(
                session,
                config=ctx.config,
                incident=incident,
                role=role,
                user=user,
                actor=who,
                now=now,
            )
            text = f"{logic.role_label(role)} of {key}: {user}"
        uow.commit()
    if command.verb == "update":
        ctx.wakeups.set()  # wake the engine: the messages leave at once
    return reply(text, public=True)


def _user_named(ctx: AppContext, text: str) -> str | None:
    """The warroom handle of a Slack mention `<@U…|name>`, `@handle` or `handle`."""
    user_id, name = logic.mentioned_user(text)
    user = person_for_slack(ctx.config, user_id or "", name) if user_id else None
    return user or (name if ctx.config.user(name) else None)


def _update(
    ctx: AppContext, session: Any, who: Principal, incident: Incident, command: logic.Command
) -> str:
    """A stakeholder update, as `POST /api/v1/incidents/{key}/updates` sends it."""
    data = StakeholderUpdateCreate.model_validate(
        {"audiences": command.args[0].lower().split(","), "message": command.rest}
    )
    now = ctx.clock.now()
    statuspage.sync_components(session, config=ctx.config, now=now)
    sent = stakeholders.send_update(
        session,
        config=ctx.config,
        incident=incident,
        audiences=list(data.audiences),
        message=data.message,
        channels=None,
        actor=who.actor,
        allow_restricted=who.has(Role.ADMIN),
        now=now,
    )
    told = ", ".join(
        f"{s.audience} ({len(s.recipients)})" + (" and the status page" if s.published else "")
        for s in sent
    )
    return f"Stakeholder update on {incident.key} by {who.actor} to {told}"


def _handoff(
    ctx: AppContext, session: Any, caller: Caller, who: Principal, incident: Incident, to: str
) -> str:
    """Draft a handoff of command to a user, or (`confirm`) take over as its incoming IC."""
    now = ctx.clock.now()
    if to.lower() == "confirm":
        waiting = handoffs.pending(session, incident)
        if waiting is None:
            raise NotFound(f"{incident.key} has no handoff waiting for confirmation")
        handoffs.confirm(
            session, config=ctx.config, incident=incident, handoff=waiting, actor=who, now=now
        )
        return f"{waiting.to_user} took over command of {incident.key} from {waiting.from_user}"
    user = _user_named(ctx, to)
    if user is None:
        raise NotFound(f"{to} is not a warroom user")
    drafted = handoffs.create(
        session, config=ctx.config, incident=incident, to=user, actor=who, now=now
    )
    return (
        f"Handoff of command of {incident.key} drafted by {who.actor}: "
        f"{drafted.from_user or 'nobody'} to {user}. {user} confirms with "
        f"`/incident handoff {incident.key} confirm`"
    )


def _resolve_form(
    ctx: AppContext, caller: Caller, who: Principal, command: logic.Command, port: ChatPort
) -> dict[str, Any]:
    with ctx.db.unit_of_work() as uow:
        incident = _target(ctx, uow.session, caller, who, command.incident)
        key, title = incident.key, incident.title
    try:
        port.open_view(caller.trigger_id, logic.resolve_modal(key, title))
    except DeliveryFailure as exc:
        return reply(f"Could not open the form ({exc.reason}); use `/incident resolve {key} TEXT`.")
    return {}


def run_resolve_form(
    ctx: AppContext, caller: Caller, view: dict[str, Any], port: ChatPort | None = None
) -> dict[str, Any]:
    """The resolve modal was submitted: resolve, or show why not in the form."""
    message = logic.submitted(view, "message")
    if not message:
        return {"response_action": "errors", "errors": {"message": "Say how it was resolved"}}
    key = str(view.get("private_metadata") or "")
    answer = run_command(ctx, caller, f"resolve {key} {message}", port)
    if answer.get("response_type") != "in_channel":
        return {"response_action": "errors", "errors": {"message": answer.get("text", "")[:150]}}
    return {}


def run_declare_form(
    ctx: AppContext, caller: Caller, view: dict[str, Any], port: ChatPort | None = None
) -> dict[str, Any]:
    """The declare modal was submitted: declare, or show the errors in the form."""
    title, severity = logic.submitted(view, "title"), logic.submitted(view, "severity")
    errors = {}
    if not title:
        errors["title"] = "Say what is happening"
    if ctx.config.severity(severity) is None:
        errors["severity"] = "Choose a severity"
    if errors:
        return {"response_action": "errors", "errors": errors}
    answer = run_command(ctx, caller, f"declare {severity} {title}", port)
    if answer.get("response_type") != "in_channel":
        return {"response_action": "errors", "errors": {"title": answer.get("text", "")[:150]}}
    return {}


def run_status_form(
    ctx: AppContext, caller: Caller, view: dict[str, Any], port: ChatPort | None = None
) -> dict[str, Any]:
    """The status modal was submitted: change the status, or show why not in the form."""
    status = logic.submitted(view, "status")
    if not status:
        return {"response_action": "errors", "errors": {"status": "Choose a status"}}
    key = str(view.get("private_metadata") or "")
    text = f"status {key} {status} {logic.submitted(view, 'message')}"
    answer = run_command(ctx, caller, text, port)
    if answer.get("response_type") != "in_channel":
        return {"response_action": "errors", "errors": {"status": answer.get("text", "")[:150]}}
    return {}


def _status_form(
    ctx: AppContext, caller: Caller, key: str, port: ChatPort | None
) -> dict[str, Any]:
    hint = reply(f"Set the status with `/incident status {key} STATUS [message]`.")
    who = principal_for(ctx, caller, port)
    if who is None:
        return unmapped(caller)
    if port is None or not caller.trigger_id:
        return hint
    try:
        with ctx.db.unit_of_work() as uow:
            key = incidents.get(uow.session, key=key, viewer=who).key
    except WarroomError as exc:
        return reply(f"Refused: {logic.escape(exc.message)}")
    try:
        port.open_view(
            caller.trigger_id,
            logic.status_modal(key, [s.value for s in Status if s is not Status.CLOSED]),
        )
    except DeliveryFailure as exc:
        return reply(f"Could not open the form ({exc.reason}). {hint['text']}")
    return {}


def run_action(
    ctx: AppContext, caller: Caller, action_id: str, value: str, port: ChatPort | None = None
) -> dict[str, Any]:
    """A button of the opening message, as the command it stands for."""
    if action_id == "warroom_update_status":
        return _status_form(ctx, caller, value, port)
    verbs = {
        "warroom_ack": "ack",
        "warroom_claim_ic": "claim",
        "warroom_resolve": "resolve",
    }
    verb = verbs.get(action_id)
    if verb is None:
        return reply(f"unknown action {action_id!r}")
    text = f"{verb} {value}" + (" ic" if verb == "claim" else "")
    return run_command(ctx, caller, text, port)
