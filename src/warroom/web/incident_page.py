"""The incident page and the dashboard: what they show, and one change made from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from warroom.adapters.channels import setup_warnings
from warroom.auth.logic import Principal
from warroom.authority.logic import decide
from warroom.config.authority import Action as Governed
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.incidents import service
from warroom.incidents.logic import OPEN_STATUSES, Status, allowed_transitions
from warroom.incidents.models import Incident
from warroom.timeline.logic import EventType
from warroom.web.shell import (
    WebUser,
    form_caller,
    is_htmx,
    not_found_page,
    render_template,
    severity_class,
    severity_rank,
)

ACTIVE_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
_STATUS_ORDER = list(Status)
# The kinds of entry a person adds by hand from the incident page.
NOTE_TYPES = (
    EventType.NOTE,
    EventType.INVESTIGATION,
    EventType.ACTION,
    EventType.DECISION,
    EventType.COMMUNICATION,
)
_RECENTLY_RESOLVED = 5

# --- view models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    key: str
    number: int
    title: str
    severity: str
    severity_class: str
    rank: int
    status: str
    services: list[str]
    commander: str | None
    restricted: bool
    declared_at: datetime
    resolved_at: datetime | None
    age_seconds: float


def incident_row(config: WarroomConfig, incident: Incident, now: datetime) -> IncidentRow:
    began = incident.started_at or incident.declared_at
    return IncidentRow(
        key=incident.key,
        number=incident.id,
        title=incident.title,
        severity=incident.severity,
        severity_class=severity_class(config, incident.severity),
        rank=severity_rank(config, incident.severity),
        status=incident.status,
        services=[s.service for s in incident.services],
        commander=next((r.user for r in incident.roles if r.role == "incident_commander"), None),
        restricted=incident.restricted,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        age_seconds=(now - began).total_seconds(),
    )


def dashboard_context(ctx: AppContext, uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    now = ctx.clock.now()
    active, total = service.list_incidents(
        uow.session,
        viewer=principal,
        filters=service.Filters(status=ACTIVE_STATUSES),
        limit=200,
        offset=0,
    )
    done, _ = service.list_incidents(
        uow.session,
        viewer=principal,
        filters=service.Filters(status=(Status.RESOLVED, Status.CLOSED)),
        limit=4 * _RECENTLY_RESOLVED,
        offset=0,
    )
    rows = sorted(
        (incident_row(ctx.config, i, now) for i in active),
        key=lambda r: (r.rank, r.declared_at),
    )
    resolved = sorted(
        (incident_row(ctx.config, i, now) for i in done),
        key=lambda r: r.resolved_at or r.declared_at,
        reverse=True,
    )[:_RECENTLY_RESOLVED]
    return {
        "active": rows,
        "active_total": total,
        "resolved": resolved,
        "now": now,
        "setup_warnings": setup_warnings(ctx),
        "nav_here": "/",
        **{name: panel(uow.session, principal, now) for name, panel in DASHBOARD_PANELS.items()},
    }


#: What capabilities add to the dashboard: a name its template reads, and a function of
#: (session, viewer, now) that reads it (the failing-channels banner: `warroom.web.ops_pages`).
DASHBOARD_PANELS: dict[str, Callable[[Session, Principal, datetime], object]] = {}


@dataclass(frozen=True)
class RoleSlot:
    name: str
    title: str
    holder: str | None


def role_slots(config: WarroomConfig, incident: Incident) -> list[RoleSlot]:
    held = {r.role: r.user for r in incident.roles}
    slots = [
        RoleSlot(name, spec.title, held.pop(name, None)) for name, spec in config.roles.items()
    ]
    # A role the configuration no longer defines is still shown while someone holds it.
    slots.extend(RoleSlot(name, name.replace("_", " ").title(), who) for name, who in held.items())
    return slots


def transition_choices(current: Status) -> list[tuple[str, str]]:
    """(value, label) for the status select: the way forward first, then the way back."""
    here = _STATUS_ORDER.index(current)
    choices = []
    for target in sorted(allowed_transitions(current), key=_STATUS_ORDER.index):
        label = target.value
        if _STATUS_ORDER.index(target) < here:
            label = f"{target.value} (reopen)" if current is Status.RESOLVED else f"back to {label}"
        choices.append((target.value, label))
    return sorted(choices, key=lambda c: _STATUS_ORDER.index(Status(c[0])) < here)


def incident_context(
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    incident: Incident,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    now = ctx.clock.now()
    current = Status(incident.status)
    incident_type = ctx.config.incident_type(incident.type) if incident.type else None
    return {
        "user": user,
        "incident": service.to_read(incident, now=now),
        "severity_class": severity_class(ctx.config, incident.severity),
        "type_title": incident_type.title if incident_type else incident.type,
        "roles": role_slots(ctx.config, incident),
        "events": service.timeline(uow.session, incident=incident),
        "transitions": transition_choices(current),
        "can_ack": incident.acknowledged_at is None and current in OPEN_STATUSES,
        "note_types": [t.value for t in NOTE_TYPES],
        "refusals": refusals(ctx.config, incident, user.principal),
        "nav_here": "/",
        **{name: panel(uow.session, incident, now) for name, panel in INCIDENT_PANELS.items()},
        "notice": notice,
        "error": error,
    }


def refusals(config: WarroomConfig, incident: Incident, who: Principal) -> dict[str, str]:
    """What the authority rules would say to this person, per action (absent: allowed)."""
    holders = {r.role: r.user for r in incident.roles}
    found = {}
    for action in (Governed.CHANGE_SEVERITY, Governed.ASSIGN_ROLES, Governed.RESOLVE):
        decision = decide(
            config, action=action, severity=incident.severity, holders=holders, actor=who
        )
        if not decision.allowed:
            found[action.value] = decision.message
        elif decision.override:
            found[action.value] = f"as an admin you may; otherwise {decision.message}"
    return found


#: What capabilities add to the incident page: a name its template reads, and a function
#: of (session, incident, now) that reads (never writes) it. They register themselves
#: (the incident room: `warroom.runbooks.web`), so the web shell imports none of them.
INCIDENT_PANELS: dict[str, Callable[[Session, Incident, datetime], object]] = {}


Action = Callable[[Incident, Principal], str]


def act_on_incident(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    key: str,
    form_csrf: str,
    action: Action,
) -> Response:
    """Run one change for a responder: check session, CSRF and role, commit, re-render."""
    user = form_caller(request, ctx, uow, form_csrf, refusal="Your token may only read incidents.")
    if isinstance(user, Response):
        return user
    try:
        incident = service.get(uow.session, key=key, viewer=user.principal, for_update=True)
    except NotFound:
        return not_found_page(request, user)
    try:
        notice = action(incident, user.principal)
    except (Conflict, ValidationFailed, Forbidden) as exc:
        # A refusal by the authority rules (403) names who may act, next to the incident.
        uow.rollback()
        incident = service.get(uow.session, key=key, viewer=user.principal)
        status = exc.status_code
        context = incident_context(ctx, uow, user, incident, error=exc.message)
        template = "_incident.html" if is_htmx(request) else "incident.html"
        return render_template(template, status, **context)
    uow.commit()
    if not is_htmx(request):
        return RedirectResponse(f"/incidents/{incident.key}", status_code=303)
    return render_template(
        "_incident.html", **incident_context(ctx, uow, user, incident, notice=notice)
    )
