"""Running an incident from its page: severity, roles, impact, resolve; what to do next;
the live refresh.

The forms post to routes on the web router (session, CSRF, Origin and role checked by
`act_on_incident`), which call the incident service exactly as the API routes do: the authority
rules refuse a change here as they do there, and the refusal is shown on the page.

`INCIDENT_PANELS["nextup"]` is the "what to do next" card: who was paged and when the next
escalation step fires, the SLA clocks and time left, the next update due, the required
roles still empty. `GET /incidents/{key}/live` answers the polling with out-of-band
fragments of the parts that change (the head, this card, details, roles, timeline, and
the actions card unless the person is typing in it: warroom.js keeps a form being edited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.api import CtxDep, UowDep
from warroom.auth.logic import Principal
from warroom.authority.logic import missing_roles
from warroom.config.schema import WarroomConfig
from warroom.engine.models import Notification
from warroom.errors import NotFound, ValidationFailed
from warroom.escalation import bookkeeping, paging
from warroom.escalation.logic import Position, step_description
from warroom.escalation.service import pending_timers
from warroom.incidents import service
from warroom.incidents.models import Incident
from warroom.incidents.schemas import ImpactUpdate
from warroom.sla.logic import MILESTONES, SlaClock
from warroom.web.incident_page import INCIDENT_PANELS, act_on_incident, incident_context
from warroom.web.shell import (
    FormStr,
    current_user,
    not_found_page,
    render_template,
    router,
    to_login,
)

UPDATE_DUE = "update_due"
_PAGE_REASONS = ("page", "escalation")
_LEDGER_ROWS = 12


def _config(session: Session) -> WarroomConfig | None:
    config = session.info.get("config")
    return config if isinstance(config, WarroomConfig) else None


# --- what to do next --------------------------------------------------------------------


@dataclass(frozen=True)
class PageRow:
    recipient: str
    channel: str
    status: str
    reason: str
    at: datetime
    error: str | None


@dataclass(frozen=True)
class NextStep:
    due_at: datetime
    seconds_left: float
    what: str
    targets: str


@dataclass(frozen=True)
class Clock:
    name: str
    deadline: datetime
    target_seconds: float
    seconds_left: float
    stopped_at: datetime | None

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return "met" if self.stopped_at <= self.deadline else "missed"
        return "running" if self.seconds_left > 0 else "breached"


@dataclass(frozen=True)
class NowPanel:
    open: bool
    policy: str | None
    paging: bool
    next_step: NextStep | None
    pages: list[PageRow]
    clocks: list[Clock]
    update_due: datetime | None
    update_seconds_left: float | None
    empty_roles: list[str]
    ack_timeout: datetime | None = None
    notes: list[str] = field(default_factory=list)


def now_panel(session: Session, incident: Incident, now: datetime) -> NowPanel:
    """The incident's next things to happen and to do, read from its timers and messages."""
    config = _config(session)
    is_open = bookkeeping.is_open(incident)
    pending = pending_timers(session, incident.id)
    policy = paging.incident_policy(session, config, incident) if config else None
    next_step = None
    escalate = next((t for t in pending if t.kind == bookkeeping.ESCALATE), None)
    if escalate is not None and policy is not None:
        payload = escalate.payload or {}
        position = Position(
            int(payload.get("round", 0)), int(payload.get("step", 0)), int(payload.get("loop", 0))
        )
        step = policy.steps[position.step] if position.step < len(policy.steps) else None
        next_step = NextStep(
            due_at=escalate.due_at,
            seconds_left=(escalate.due_at - now).total_seconds(),
            what=step_description(policy, position),
            targets=", ".join(t.describe() for t in step.targets) if step else "",
        )
    ack_timeout = next((t.due_at for t in pending if t.kind == bookkeeping.ACK_TIMEOUT), None)
    update = next((t.due_at for t in pending if t.kind == UPDATE_DUE), None)
    pages = [
        PageRow(
            recipient=n.recipient or n.address,
            channel=n.channel,
            status=n.status,
            reason=n.reason,
            at=n.sent_at or n.created_at,
            error=n.last_error,
        )
        for n in session.scalars(
            select(Notification)
            .where(Notification.incident_id == incident.id, Notification.reason.in_(_PAGE_REASONS))
            .order_by(Notification.id.desc())
            .limit(_LEDGER_ROWS)
        )
    ]
    clocks: list[Clock] = []
    empty: list[str] = []
    level = config.severity(incident.severity) if config else None
    if config is not None and level is not None:
        for clock in SlaClock:
            target: timedelta = getattr(level.sla, clock.value)
            deadline = incident.declared_at + target
            clocks.append(
                Clock(
                    name=clock.value,
                    deadline=deadline,
                    target_seconds=target.total_seconds(),
                    seconds_left=(deadline - now).total_seconds(),
                    stopped_at=getattr(incident, MILESTONES[clock]),
                )
            )
        holders = {r.role: r.user for r in incident.roles}
        empty = [
            config.roles[r].title if r in config.roles else r
            for r in missing_roles(config, incident.severity, holders)
        ]
    return NowPanel(
        open=is_open,
        policy=policy.label if policy else None,
        paging=escalate is not None,
        next_step=next_step,
        pages=pages,
        clocks=clocks,
        update_due=update,
        update_seconds_left=(update - now).total_seconds() if update else None,
        empty_roles=empty if is_open else [],
        ack_timeout=ack_timeout,
    )


@dataclass(frozen=True)
class RunChoices:
    """What the forms offer: severities, roles, people, and what the authority rules say."""

    severities: list[tuple[str, str]]
    roles: list[tuple[str, str]]
    users: list[tuple[str, str]]
    impact: dict[str, Any]


def run_choices(session: Session, incident: Incident, now: datetime) -> RunChoices:
    config = _config(session)
    if config is None:
        return RunChoices([], [], [], dict(incident.impact or {}))
    return RunChoices(
        severities=[
            (s.name, f"{s.name} — {s.title}" if s.title else s.name) for s in config.severities
        ],
        roles=[(name, spec.title) for name, spec in config.roles.items()],
        users=[(u.handle, f"{u.name} ({u.handle})") for u in config.users],
        impact=dict(incident.impact or {}),
    )


INCIDENT_PANELS["nextup"] = now_panel  # _now.html on the incident page
INCIDENT_PANELS["run"] = run_choices  # the severity, role and impact forms


# --- the live refresh ---------------------------------------------------------------------


@router.get("/incidents/{key}/live")
def incident_live(key: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    """Out-of-band fragments of the incident page, for its polling."""
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    try:
        incident = service.get(uow.session, key=key, viewer=user.principal)
    except NotFound:
        return not_found_page(request, user)
    context = incident_context(ctx, uow, user, incident)
    return render_template("_incident_live.html", oob=True, **context)


# --- actions --------------------------------------------------------------------------------


@router.post("/incidents/{key}/severity")
def change_severity(
    key: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    severity: FormStr = "",
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def change(incident: Incident, who: Principal) -> str:
        text = reason.strip()
        if not text:
            raise ValidationFailed("say why the severity changes", field="reason")
        if len(text) > 2000:
            raise ValidationFailed("the reason is at most 2,000 characters", field="reason")
        previous = incident.severity
        service.change_severity(
            uow.session,
            config=ctx.config,
            incident=incident,
            severity=severity.strip(),
            reason=text,
            actor=who,
            now=ctx.clock.now(),
        )
        return f"Severity changed from {previous} to {incident.severity}."

    return act_on_incident(request, ctx, uow, key, csrf_token, change)


@router.post("/incidents/{key}/roles")
def assign_role(
    key: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    role: FormStr = "",
    user: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def assign(incident: Incident, who: Principal) -> str:
        handle = user.strip()
        if not handle or len(handle) > 64:
            raise ValidationFailed("choose who takes the role", field="user")
        done = service.assign_role(
            uow.session,
            config=ctx.config,
            incident=incident,
            role=role,
            user=handle,
            actor=who,
            now=ctx.clock.now(),
        )
        title = ctx.config.roles[role].title
        return f"{handle} is {title}." if done else f"{handle} already was {title}."

    return act_on_incident(request, ctx, uow, key, csrf_token, assign)


@router.post("/incidents/{key}/roles/{role}/claim")
def claim_role(
    key: str, role: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def claim(incident: Incident, who: Principal) -> str:
        if who.user is None:
            raise ValidationFailed(
                "this token belongs to no person; log in with your own token to claim a role",
                field="user",
            )
        done = service.assign_role(
            uow.session,
            config=ctx.config,
            incident=incident,
            role=role,
            user=who.user,
            actor=who,
            now=ctx.clock.now(),
        )
        title = ctx.config.roles[role].title
        return f"You are {title}." if done else f"You already were {title}."

    return act_on_incident(request, ctx, uow, key, csrf_token, claim)


@router.post("/incidents/{key}/roles/{role}/release")
def release_role(
    key: str, role: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def release(incident: Incident, who: Principal) -> str:
        service.unassign_role(
            uow.session,
            config=ctx.config,
            incident=incident,
            role=role,
            actor=who,
            now=ctx.clock.now(),
        )
        return f"{ctx.config.roles[role].title} is vacant."

    return act_on_incident(request, ctx, uow, key, csrf_token, release)


@router.post("/incidents/{key}/impact")
def update_impact(
    key: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    affected_users: FormStr = "",
    affected_users_percent: FormStr = "",
    revenue_loss: FormStr = "",
    revenue_impact_per_hour: FormStr = "",
    critical_systems_affected: FormStr = "",
    customer_data_exposed: FormStr = "",
    sla_breach_imminent: FormStr = "",
    third_party_failure: FormStr = "",
    vendor: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    numbers = {
        "affected_users": affected_users,
        "affected_users_percent": affected_users_percent,
        "revenue_loss": revenue_loss,
        "revenue_impact_per_hour": revenue_impact_per_hour,
        "critical_systems_affected": critical_systems_affected,
    }
    flags = {
        "customer_data_exposed": customer_data_exposed,
        "sla_breach_imminent": sla_breach_imminent,
        "third_party_failure": third_party_failure,
    }

    def record(incident: Incident, who: Principal) -> str:
        facts: dict[str, Any] = {}
        for name, raw in numbers.items():
            text = raw.strip().replace(",", "")
            if text:
                facts[name] = text
        for name, raw in flags.items():
            # Ticked means yes; an unticked box leaves what was recorded alone.
            if raw == "1":
                facts[name] = True
        if vendor.strip():
            facts["vendor"] = vendor.strip()
        if not facts:
            raise ValidationFailed("fill in at least one impact fact", field="impact")
        try:
            checked = ImpactUpdate.model_validate(facts).model_dump(exclude_none=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "impact"
            raise ValidationFailed(f"{name}: {first['msg']}", field=name) from None
        changed = service.update_impact(
            uow.session, incident=incident, impact=checked, actor=who, now=ctx.clock.now()
        )
        return "Impact recorded." if changed else "Nothing new in that impact."

    return act_on_incident(request, ctx, uow, key, csrf_token, record)
