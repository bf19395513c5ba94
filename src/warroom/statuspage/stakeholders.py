"""Stakeholder updates by audience: render the audience's template, send it to the
audience's recipients for the incident's severity (e-mail and chat, through the outbox),
record it on the timeline (which reschedules the update-cadence reminder).

Seed 004's three e-mail templates (initial notification, status update, resolution) are
the defaults, tailored per audience after seed 003: technical and internal readers get the
details, executives the business impact and timeline, customers plain language (and their
update is also published on the status page). Configured templates replace them; they are
rendered in Jinja's sandbox, as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom import events
from warroom.config.schema import WarroomConfig
from warroom.config.statuspage import MessageTemplate
from warroom.engine import outbox
from warroom.errors import ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.statuspage import service
from warroom.statuspage.logic import PublicStatus, public_status_for
from warroom.timeline.logic import EventType
from warroom.timeline.models import TimelineEvent

AUDIENCES = ("internal", "executive", "technical", "customer")
CHANNELS = ("email", "chat")

_DETAILS = """{% if kind == "initial" %}INCIDENT DETAILS:
- Severity: {{ severity }}
- System: {{ services }}
- Impact: {{ impact }}
- Started: {{ started }}
- Incident ID: {{ id }}

CURRENT STATUS:
- {{ status }}
- {{ message }}
{% elif kind == "update" %}INCIDENT UPDATE:
- Incident ID: {{ id }}
- Duration: {{ duration }}
- Status: {{ status }}

PROGRESS:
- {{ message }}
{% else %}INCIDENT RESOLVED:
- Incident ID: {{ id }}
- Total Duration: {{ duration }}
- Resolution: {{ message }}

IMPACT SUMMARY:
- {{ impact }}
{% endif %}
NEXT STEPS:
{% if kind == "resolution" %}- Post-incident review to be scheduled
- Full report to follow
{% else %}- Next update: {{ next_update }}
{% endif %}
Point of Contact: {{ contact }}
"""

_EXECUTIVE = """{{ title }} ({{ severity }}, {{ status }})

{{ message }}

Business impact: {{ impact }}
Customer-facing systems: {{ services }}
Timeline: started {{ started }}; {{ duration }} so far
{%- if kind != "resolution" %}; next update {{ next_update }}{% endif %}.

Point of Contact: {{ contact }}
"""

_CUSTOMER = """{{ message }}

{% if kind == "resolution" -%}
This issue is resolved. We apologise for the disruption.
{%- else -%}
We will post the next update by {{ next_update }}.
{%- endif %}
"""

_SUBJECTS = {
    "initial": "[{{ severity }}] INCIDENT: {{ title }}",
    "update": "[{{ severity }}] UPDATE: {{ title }}",
    "resolution": "[RESOLVED] {{ severity }}: {{ title }}",
}
_CUSTOMER_SUBJECTS = {
    "initial": "{{ public_title }}",
    "update": "Update: {{ public_title }}",
    "resolution": "Resolved: {{ public_title }}",
}
DEFAULTS: dict[str, dict[str, MessageTemplate]] = {
    audience: {
        kind: MessageTemplate(
            subject=(_CUSTOMER_SUBJECTS if audience == "customer" else _SUBJECTS)[kind],
            body={"executive": _EXECUTIVE, "customer": _CUSTOMER}.get(audience, _DETAILS),
        )
        for kind in ("initial", "update", "resolution")
    }
    for audience in AUDIENCES
}

_SANDBOX = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
)


@dataclass(frozen=True)
class Sent:
    audience: str
    kind: str
    subject: str
    recipients: list[str]
    published: bool


def _kind(session: Session, incident: Incident, audience: str) -> str:
    if incident.status in ("resolved", "closed"):
        return "resolution"
    earlier = session.scalars(
        select(TimelineEvent.details).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.type == EventType.COMMUNICATION.value,
        )
    )
    told = any(
        audience in (d or {}).get("stakeholder_update", {}).get("audiences", []) for d in earlier
    )
    return "update" if told else "initial"


def _duration(start: datetime, now: datetime) -> str:
    minutes = max(0, int((now - start).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _facts(
    config: WarroomConfig, incident: Incident, message: str, kind: str, now: datetime,
    public_title: str,
) -> dict[str, Any]:  # fmt: skip
    level = config.severity(incident.severity)
    started = incident.started_at or incident.declared_at
    roles = {r.role: r.user for r in incident.roles}
    contact_handle = roles.get("communications_lead") or roles.get("incident_commander")
    person = config.user(contact_handle) if contact_handle else None
    contact = (
        f"{person.name} ({person.email or person.slack or person.handle})"
        if person is not None
        else (contact_handle or "the incident commander")
    )
    impact = incident.impact or {}
    impact_text = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(impact.items()))
    return {
        "kind": kind,
        "id": incident.key,
        "title": incident.title,
        "public_title": public_title,
        "severity": incident.severity,
        "status": incident.status,
        "services": ", ".join(s.service for s in incident.services) or "not stated",
        "impact": impact_text or "being assessed",
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "duration": _duration(started, now),
        "next_update": (
            (now + level.update_interval).strftime("%H:%M UTC") if level is not None else "soon"
        ),
        "contact": contact,
        "message": message,
    }


def render(template: MessageTemplate, facts: dict[str, Any], *, field: str) -> tuple[str, str]:
    """Subject (one line) and body of a template; a template error is a 422 naming it."""
    try:
        subject = _SANDBOX.from_string(template.subject).render(facts)
        body = _SANDBOX.from_string(template.body).render(facts)
    except Exception as exc:  # a broken configured template: say which one
        raise ValidationFailed(f"{field}: {exc}", field=field) from None
    return " ".join(subject.split()), body


def _addresses(config: WarroomConfig, table: dict[str, list[str]], severity: str) -> list[str]:
    found: list[str] = []
    for entry in [*table.get(severity, []), *table.get("*", [])]:
        person = config.user(entry) if "@" not in entry and not entry.startswith("#") else None
        address = (person.email if person is not None else entry) or ""
        if address and address not in found:
            found.append(address)
    return found


def _chat(table: dict[str, list[str]], severity: str) -> list[str]:
    return list(dict.fromkeys([*table.get(severity, []), *table.get("*", [])]))


def send_update(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    audiences: Sequence[str],
    message: str,
    channels: Sequence[str] | None,
    actor: str,
    allow_restricted: bool,
    now: datetime,
) -> list[Sent]:
    """Render and queue a stakeholder update for each audience; record it on the timeline."""
    unknown = [a for a in audiences if a not in AUDIENCES]
    if unknown or not audiences:
        raise ValidationFailed(
            f"audiences: {', '.join(unknown) or 'none given'}; choose from {', '.join(AUDIENCES)}",
            field="audiences",
        )
    wanted = set(channels or CHANNELS)
    if not wanted <= set(CHANNELS):
        raise ValidationFailed(f"channels: choose from {', '.join(CHANNELS)}", field="channels")
    public = service.get_public(session, incident_id=incident.id)
    results: list[Sent] = []
    for audience in dict.fromkeys(audiences):
        settings = config.status_page.stakeholders.get(audience)  # type: ignore[call-overload]
        kind = _kind(session, incident, audience)
        template = (settings.templates.get(kind) if settings else None) or DEFAULTS[audience][kind]
        published = False
        if audience == "customer":
            public_status = public_status_for(incident.status) or PublicStatus.INVESTIGATING
            public = service.publish_update(
                session, incident=incident, status=public_status, body=message, now=now,
                actor=actor, allow_restricted=allow_restricted,
            )  # fmt: skip
            published = True
        facts = _facts(config, incident, message, kind, now, public.name if public else "")
        subject, body = render(
            template, facts, field=f"status_page.stakeholders.{audience}.templates.{kind}"
        )
        sent_to: list[str] = []
        targets: list[tuple[str, str]] = []
        if settings is not None and "email" in wanted:
            targets += [("email", a) for a in _addresses(config, settings.email, incident.severity)]
        if settings is not None and "chat" in wanted:
            targets += [("slack", a) for a in _chat(settings.chat, incident.severity)]
        for channel, address in targets:
            outbox.enqueue(
                session,
                outbox.NewNotification(
                    idempotency_key=f"stakeholder:{incident.id}:{now.isoformat()}:{audience}:{channel}:{address}",
                    channel=channel,
                    address=address,
                    reason="stakeholder",
                    subject=subject,
                    body=body if channel == "email" else f"*{subject}*\n{body}",
                    due_at=now,
                    incident_id=incident.id,
                ),
                now=now,
            )
            sent_to.append(address)
        results.append(Sent(audience, kind, subject, sent_to, published))
    summary = "; ".join(
        f"{r.audience} ({r.kind}) to {len(r.recipients)} recipient(s)"
        + (" and the status page" if r.published else "")
        for r in results
    )
    event = incidents.record(
        session,
        incident=incident,
        type=EventType.COMMUNICATION,
        description=f"Stakeholder update: {summary}: {message}",
        now=now,
        actor=actor,
        details={
            "stakeholder_update": {
                "audiences": [r.audience for r in results],
                "kinds": {r.audience: r.kind for r in results},
                "recipients": {r.audience: r.recipients for r in results},
            }
        },
    )
    session.flush()
    events.publish(
        session,
        events.TimelineEventAdded(incident_id=incident.id, at=event.timestamp, type=event.type),
    )
    return results
