"""Drills and game days (docs/drills.md): start a scenario, inject its alerts through the
real intake as their offsets come, and measure the response against the targets.

A drill's alerts carry the `warroom_drill` label and are listed on the drill; routing
treats an alert as a drill's only when both agree, so a label sent from outside makes
nothing a drill. The incident they open (or one declared with `declare`) has
`drill_id` set: metrics leave it out, every message about it is labelled [DRILL], the
public status page never shows it, and only the drill's participants are paged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.alerts.logic import Action, AlertEvent
from warroom.alerts.models import Alert
from warroom.alerts.service import Source, apply_event
from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.drillmarks import (
    DRILL_LABEL,
    Drill,
)
from warroom.drills.scenario import Scenario
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import checks
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident, IncidentRole
from warroom.incidents.schemas import IncidentCreate
from warroom.integrations.models import Integration
from warroom.runbooks.models import ChecklistStep
from warroom.timeline.logic import EventType
from warroom.timeline.models import TimelineEvent

RUNNING = "running"
FINISHED = "finished"
# Seed 000: acknowledge within 5 minutes (MTTA target for SEV1); roles within 15.
DEFAULT_DECLARE = timedelta(minutes=5)
DEFAULT_ROLES = timedelta(minutes=15)


def parse_key(key: str | int) -> int:
    text = str(key).strip().upper().removeprefix("DRILL-")
    if not text.isdigit():
        raise NotFound(f"no drill {key!r}")
    return int(text)


def check_scenario(config: WarroomConfig, data: Any) -> Scenario:
    """Validate a scenario against the schema and the configuration; errors name the field."""
    if not isinstance(data, dict):
        raise ValidationFailed("a scenario is a mapping", field="scenario")
    try:
        scenario = Scenario.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "scenario"
        raise ValidationFailed(
            f"{where}: {str(first['msg']).removeprefix('Value error, ')}",
            field=f"scenario.{where}",
        ) from None
    for i, user in enumerate(scenario.participants):
        checks.check_user(config, user, f"scenario.participants.{i}")
    expected = scenario.expected
    if expected.severity is not None:
        checks.check_severity(config, expected.severity, "scenario.expected.severity")
    for i, role in enumerate(expected.roles or []):
        if role not in config.roles:
            raise ValidationFailed(f"unknown role {role!r}", field=f"scenario.expected.roles.{i}")
    keys = [a.key for a in scenario.alerts if a.key]
    if len(keys) != len(set(keys)):
        raise ValidationFailed("alert keys must differ", field="scenario.alerts")
    return scenario


def _integration(session: Session, name: str) -> Integration:
    found = session.scalar(select(Integration).where(Integration.name == name))
    if found is None or found.disabled_at is not None:
        raise ValidationFailed(f"no enabled integration named {name!r}", field="integration")
    return found


def start(
    session: Session,
    *,
    config: WarroomConfig,
    scenario: Any,
    integration: str | None,
    actor: Principal,
    now: datetime,
) -> Drill:
    """Start a drill and inject the alerts due at once."""
    checked = check_scenario(config, scenario)
    name = integration or checked.integration
    if not name:
        raise ValidationFailed(
            "name the integration the alerts arrive through (scenario.integration)",
            field="integration",
        )
    _integration(session, name)
    drill = Drill(
        name=checked.name,
        scenario=_stored(checked.model_dump(mode="python")),
        status=RUNNING,
        integration=name,
        participants=list(dict.fromkeys(checked.participants)),
        injected=[],
        started_by=actor.actor,
        started_at=now,
    )
    session.add(drill)
    session.flush()
    inject_due(session, drill=drill, now=now)
    return drill


def _stored(value: Any) -> Any:
    """The scenario as JSON, durations as seconds (what `Duration` reads back)."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def scenario_of(drill: Drill) -> Scenario:
    return Scenario.model_validate(drill.scenario)


def inject_due(session: Session, *, drill: Drill, now: datetime) -> int:
    """Send the drill's alerts whose offset has come, through the integration, as its
    monitoring would; return how many were sent."""
    if drill.status != RUNNING:
        return 0
    scenario = scenario_of(drill)
    sent = {entry["index"] for entry in drill.injected}
    due = [
        (i, alert)
        for i, alert in enumerate(scenario.alerts)
        if i not in sent and drill.started_at + alert.at <= now
    ]
    if not due:
        return 0
    integration = session.scalar(select(Integration).where(Integration.name == drill.integration))
    if integration is None or integration.disabled_at is not None:
        return 0
    source = Source(integration_id=integration.id, service=integration.service)
    entries = list(drill.injected)
    for index, alert in due:
        key = f"drill-{drill.id}-{alert.key or index}"
        event = AlertEvent(
            action=Action.TRIGGER,
            dedup_key=key,
            summary=alert.summary,
            source=alert.source or "warroom-drill",
            severity=alert.severity,
            timestamp=now,
            component=alert.component,
            labels={**alert.labels, DRILL_LABEL: str(drill.id)},
            details=dict(alert.details),
            payload={"drill": drill.id, "scenario": drill.name},
        )
        applied = apply_event(session, source=source, event=event, now=now)
        entries.append(
            {"index": index, "alert_id": applied.alert_id, "dedup_key": key, "at": now.isoformat()}
        )
    drill.injected = entries
    return len(due)


def advance(ctx: AppContext) -> float | None:
    """Engine job: inject the alerts of running drills whose time has come."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        drills = list(uow.session.scalars(select(Drill).where(Drill.status == RUNNING)))
        sent = sum(inject_due(uow.session, drill=d, now=now) for d in drills)
        if sent:
            uow.commit()
    return None


def get(session: Session, key: str | int) -> Drill:
    drill = session.get(Drill, parse_key(key))
    if drill is None:
        raise NotFound(f"no drill {key!r}")
    return drill


def list_drills(session: Session, *, limit: int = 100) -> list[Drill]:
    return list(session.scalars(select(Drill).order_by(Drill.id.desc()).limit(limit)))


def incident_of(session: Session, drill: Drill) -> Incident | None:
    return session.scalar(
        select(Incident).where(Incident.drill_id == drill.id).order_by(Incident.id).limit(1)
    )


def declare(
    session: Session,
    *,
    config: WarroomConfig,
    drill: Drill,
    title: str | None,
    severity: str | None,
    actor: Principal,
    now: datetime,
) -> Incident:
    """Declare the drill's incident by hand (no auto-declare rule took its alerts): it
    is a drill, and the drill's alerts join it."""
    if drill.status != RUNNING:
        raise Conflict(f"{drill.key} is finished")
    if incident_of(session, drill) is not None:
        raise Conflict(f"{drill.key} has its incident already")
    scenario = scenario_of(drill)
    level = severity or scenario.expected.severity
    if level is None:
        raise ValidationFailed("give the severity", field="severity")
    incident = incidents.declare(
        session,
        config=config,
        data=IncidentCreate(title=title or scenario.title, severity=level),
        actor=actor,
        now=now,
    )
    incident.drill_id = drill.id
    ids = [e["alert_id"] for e in drill.injected if e.get("alert_id")]
    for alert in session.scalars(select(Alert).where(Alert.id.in_(ids))):
        if alert.incident_id is None:
            alert.incident_id = incident.id
    return incident


def finish(session: Session, *, drill: Drill, now: datetime) -> Drill:
    """End the drill: its alerts are resolved through the intake; nothing more is sent."""
    if drill.status != RUNNING:
        raise Conflict(f"{drill.key} is finished already")
    integration = session.scalar(select(Integration).where(Integration.name == drill.integration))
    if integration is not None:
        source = Source(integration_id=integration.id, service=integration.service)
        for entry in drill.injected:
            apply_event(
                session,
                source=source,
                event=AlertEvent(action=Action.RESOLVE, dedup_key=entry["dedup_key"]),
                now=now,
            )
    drill.status = FINISHED
    drill.finished_at = now
    return drill


def summary(session: Session, drill: Drill) -> dict[str, Any]:
    incident = incident_of(session, drill)
    scenario = scenario_of(drill)
    return {
        "id": drill.key,
        "name": drill.name,
        "title": scenario.title,
        "status": drill.status,
        "integration": drill.integration,
        "participants": drill.participants,
        "started_by": drill.started_by,
        "started_at": drill.started_at,
        "finished_at": drill.finished_at,
        "alerts_sent": len(drill.injected),
        "alerts_planned": len(scenario.alerts),
        "incident": incident.key if incident is not None else None,
    }


def _measure(
    name: str, start: datetime | None, end: datetime | None, target: timedelta | None
) -> dict[str, Any]:
    seconds = (end - start).total_seconds() if start is not None and end is not None else None
    limit = target.total_seconds() if target is not None else None
    met = None if seconds is None or limit is None else seconds <= limit
    return {"name": name, "seconds": seconds, "target_seconds": limit, "met": met}


def _step_matches(step: ChecklistStep, wanted: str) -> bool:
    return step.key == wanted or wanted.casefold() in step.text.casefold()


def report(session: Session, *, config: WarroomConfig, drill: Drill) -> dict[str, Any]:
    """Measure the response: time to acknowledge, declare, fill the roles, post the first
    update and mitigate, from the first alert; the runbook steps done and skipped."""
    scenario = scenario_of(drill)
    incident = incident_of(session, drill)
    first_alert = min(
        (datetime.fromisoformat(e["at"]) for e in drill.injected), default=drill.started_at
    )
    data = summary(session, drill)
    targets = scenario.expected.targets
    if incident is None:
        data["measures"] = [
            _measure(name, first_alert, None, getattr(targets, name))
            for name in ("acknowledge", "declare", "roles", "first_update", "mitigate")
        ]
        data["notes"] = ["no incident was declared for the drill's alerts"]
        data["score"] = {"met": 0, "measured": 0, "of": 5}
        return data
    level = config.severity(incident.severity)
    wanted_roles = (
        scenario.expected.roles
        if scenario.expected.roles is not None
        else (list(level.required_roles) if level is not None else [])
    )
    holders = {
        r.role: r
        for r in session.scalars(
            select(IncidentRole).where(IncidentRole.incident_id == incident.id)
        )
    }
    missing = [r for r in wanted_roles if r not in holders]
    roles_done = (
        max((holders[r].assigned_at for r in wanted_roles), default=incident.declared_at)
        if not missing
        else None
    )
    first_update = session.scalar(
        select(func.min(TimelineEvent.timestamp)).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.type == EventType.COMMUNICATION.value,
        )
    )
    measures = [
        _measure(
            "acknowledge",
            first_alert,
            incident.acknowledged_at,
            targets.acknowledge or (level.sla.acknowledge if level else None),
        ),
        _measure("declare", first_alert, incident.declared_at, targets.declare or DEFAULT_DECLARE),
        _measure("roles", first_alert, roles_done, targets.roles or DEFAULT_ROLES),
        _measure(
            "first_update",
            first_alert,
            first_update,
            targets.first_update or (level.update_interval if level else None),
        ),
        _measure(
            "mitigate",
            first_alert,
            incident.mitigated_at,
            targets.mitigate or (level.sla.mitigate if level else None),
        ),
    ]
    steps = list(
        session.scalars(
            select(ChecklistStep)
            .where(ChecklistStep.incident_id == incident.id)
            .order_by(ChecklistStep.position)
        )
    )
    done = [s for s in steps if s.state == "done"]
    expected_missing = [
        wanted
        for wanted in scenario.expected.runbook_steps
        if not any(_step_matches(s, wanted) for s in done)
    ]
    data["severity"] = incident.severity
    data["expected_severity"] = scenario.expected.severity
    data["measures"] = measures
    data["roles"] = {
        "expected": wanted_roles,
        "filled": {r: holders[r].user for r in wanted_roles if r in holders},
        "missing": missing,
    }
    data["runbook"] = {
        "steps": len(steps),
        "done": len(done),
        "skipped": [
            {"key": s.key, "text": s.text, "state": s.state} for s in steps if s not in done
        ],
        "expected": scenario.expected.runbook_steps,
        "expected_not_done": expected_missing,
    }
    met = sum(1 for m in measures if m["met"])
    data["score"] = {
        "met": met,
        "measured": sum(1 for m in measures if m["seconds"] is not None),
        "of": len(measures),
    }
    notes = []
    if scenario.expected.severity and scenario.expected.severity != incident.severity:
        notes.append(f"declared at {incident.severity}, expected {scenario.expected.severity}")
    for m in measures:
        if m["seconds"] is None:
            notes.append(f"{m['name']}: not reached")
    data["notes"] = notes
    return data
