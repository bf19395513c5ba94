"""Import incident history (JSON or CSV, explicit timestamps): all or nothing, idempotent."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic import ValidationError as PydanticError
from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.errors import ValidationFailed
from warroom.incidents import checks, logic
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident, IncidentService
from warroom.reports.models import ImportedIncident
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent

MAX_ROWS = 100_000


def _storable(value: str) -> str:
    """Refuse a NUL character: no database stores one in text (a CSV cell may hold one)."""
    if "\x00" in value:
        raise ValueError("contains a NUL character (\\u0000)")
    return value


_Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_storable),
]


class ImportRow(BaseModel):
    """One incident from history; `declared_at` and an `external_id` are required."""

    model_config = ConfigDict(extra="forbid")

    external_id: _Text
    title: _Text
    severity: _Text
    type: _Text | None = None
    services: list[_Text] = Field(default_factory=list, max_length=50)
    description: Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_storable)] = (
        ""
    )
    restricted: bool | None = None
    affected_users: int | None = Field(default=None, ge=0)
    started_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None
    declared_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    mitigated_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None


@dataclass
class Problem:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created),
            "skipped": len(self.skipped),
            "incidents": self.created[:1000],
            "skipped_external_ids": self.skipped[:1000],
            "dry_run": self.dry_run,
        }


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Return the CSV's rows as records; empty cells are absent, `services` splits on `;`."""
    reader = csv.DictReader(io.StringIO(text))
    records: list[dict[str, Any]] = []
    for raw in reader:
        record: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None:
                record["(extra columns)"] = value
                continue
            if value is None or value.strip() == "":
                continue
            name = key.strip()
            if name == "services":
                record[name] = [s.strip() for s in value.split(";") if s.strip()]
            else:
                record[name] = value.strip()
        records.append(record)
        if len(records) > MAX_ROWS:
            break
    return records


def _check_row(config: WarroomConfig, row: ImportRow, now: datetime) -> dict[str, Any]:
    """Return the incident's columns, or raise ValidationFailed naming the field."""
    severity = checks.check_severity(config, row.severity)
    restricted = row.restricted
    if row.type is not None:
        kind = config.incident_type(row.type)
        if kind is None:
            raise ValidationFailed(f"unknown incident type {row.type!r}", field="type")
        if restricted is None:
            restricted = kind.restricted
    services = list(dict.fromkeys(row.services))
    if config.services:
        for i, name in enumerate(services):
            if config.service(name) is None:
                raise ValidationFailed(f"unknown service {name!r}", field=f"services.{i}")
    times = {name: checks.utc(getattr(row, name)) for name in logic.TIMESTAMP_FIELDS}
    for name, value in times.items():
        checks.check_not_future(value, now, name)
    checks.check_order(times)
    if times["closed_at"] is not None and times["resolved_at"] is None:
        raise ValidationFailed("closed_at needs resolved_at", field="resolved_at")
    if times["closed_at"] is not None:
        status = Status.CLOSED
    elif times["resolved_at"] is not None:
        status = Status.RESOLVED
    elif times["mitigated_at"] is not None:
        status = Status.MONITORING
    else:
        status = Status.INVESTIGATING
    impact: dict[str, Any] = {}
    if row.affected_users is not None:
        impact["affected_users"] = row.affected_users
    return {
        "title": row.title,
        "description": row.description,
        "severity": severity,
        "type": row.type,
        "status": status.value,
        "restricted": bool(restricted),
        "impact": impact,
        "services": services,
        **times,
    }


def validate(
    config: WarroomConfig, records: list[Any], now: datetime
) -> tuple[list[tuple[str, dict[str, Any]]], list[Problem]]:
    """Check every record; return the good ones and every problem (row is 1-based)."""
    if len(records) > MAX_ROWS:
        return [], [Problem(0, "incidents", f"at most {MAX_ROWS} incidents per import")]
    good: list[tuple[str, dict[str, Any]]] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problems.append(Problem(number, "(row)", "an incident must be an object"))
            continue
        try:
            row = ImportRow.model_validate(record)
        except PydanticError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "(row)"
                problems.append(Problem(number, where, error["msg"]))
            continue
        try:
            columns = _check_row(config, row, now)
        except ValidationFailed as exc:
            named = exc.details.get("field") if isinstance(exc.details, dict) else None
            problems.append(Problem(number, named or "(row)", exc.message))
            continue
        if row.external_id in seen:
            problems.append(Problem(number, "external_id", f"repeats row {seen[row.external_id]}"))
            continue
        seen[row.external_id] = number
        good.append((row.external_id, columns))
    return good, problems


def import_incidents(
    session: Session,
    *,
    config: WarroomConfig,
    records: list[Any],
    actor: Principal,
    now: datetime,
    dry_run: bool = False,
) -> Outcome:
    """Store every record or none; a record whose external id was imported before is skipped."""
    good, problems = validate(config, records, now)
    if problems:
        raise ValidationFailed(
            f"{len(problems)} problem(s); nothing was imported. First: row {problems[0].row}, "
            f"{problems[0].field}: {problems[0].message}",
            field=f"incidents.{problems[0].row}.{problems[0].field}",
            details={"problems": [p.as_dict() for p in problems[:200]]},
        )
    known: set[str] = set()
    ids = [external for external, _ in good]
    for start in range(0, len(ids), 5_000):
        chunk = ids[start : start + 5_000]
        known.update(
            session.scalars(
                select(ImportedIncident.external_id).where(ImportedIncident.external_id.in_(chunk))
            )
        )
    outcome = Outcome(dry_run=dry_run, skipped=[e for e in ids if e in known])
    fresh = [(e, c) for e, c in good if e not in known]
    if dry_run:
        outcome.created = [e for e, _ in fresh]
        return outcome
    incidents: list[Incident] = []
    for external_id, columns in fresh:
        services = columns.pop("services")
        incident = Incident(created_by=actor.actor, updated_at=now, **columns)
        incident.services = [IncidentService(service=s) for s in services]
        incidents.append(incident)
        columns["services"] = services
        columns["external_id"] = external_id
    session.add_all(incidents)
    session.flush()
    for incident, (external_id, columns) in zip(incidents, fresh, strict=True):
        session.add(
            ImportedIncident(
                external_id=external_id,
                incident_id=incident.id,
                imported_at=now,
                imported_by=actor.actor,
            )
        )
        session.add(
            TimelineEvent(
                incident_id=incident.id,
                timestamp=incident.declared_at,
                type=str(EventType.DECLARATION),
                source=str(EventSource.EXTERNAL),
                actor=actor.actor,
                description=f"Incident imported from history ({external_id})",
                recorded_at=now,
                details={"external_id": external_id, "services": columns["services"]},
            )
        )
        outcome.created.append(incident.key)
    session.flush()
    return outcome


def import_vendor(
    session: Session,
    *,
    config: WarroomConfig,
    vendor: str,
    documents: list[Any],
    actor: Principal,
    now: datetime,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import a vendor's API documents (docs/import.md): the incidents that map are stored
    (idempotent on `<vendor>:<id>`), the schedules whose people are configured users become
    database schedules (`vendors.schedules`); users, escalation policies and the other
    schedules come back as a configuration fragment; every record that could not be mapped
    is listed with why."""
    from warroom.reports import vendors
    from warroom.reports.vendors import schedules

    try:
        which = vendors.Vendor(vendor)
    except ValueError as exc:
        raise ValidationFailed(
            f"unknown vendor {vendor!r}: pagerduty, opsgenie or grafana-oncall", field="vendor"
        ) from exc
    if not isinstance(documents, list) or not documents:
        raise ValidationFailed("give documents: a list of API responses", field="documents")
    try:
        plan = vendors.plan(which, config, documents)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="documents") from exc
    good, problems = validate(config, plan.incidents, now)
    unmapped = [n.as_dict() for n in plan.unmapped]
    for problem in problems:
        row = plan.incidents[problem.row - 1] if 0 < problem.row <= len(plan.incidents) else {}
        unmapped.append(
            {
                "kind": "incident",
                "id": str(row.get("external_id", "(all)")),
                "reason": f"{problem.field}: {problem.message}",
            }
        )
    keep = {external for external, _ in good}
    rows = [r for r in plan.incidents if r.get("external_id") in keep]
    outcome = import_incidents(
        session, config=config, records=rows, actor=actor, now=now, dry_run=dry_run
    )
    mapped_schedules = len(plan.schedules)
    created = schedules.define(
        session, config=config, plan=plan, actor=actor, now=now, dry_run=dry_run
    )
    return {
        "vendor": which.value,
        "dry_run": dry_run,
        "incidents": {
            "created": len(outcome.created),
            "skipped": len(outcome.skipped),
            "keys": outcome.created[:1000],
            "skipped_external_ids": outcome.skipped[:1000],
        },
        "users": len(plan.users),
        "schedules": mapped_schedules,
        "schedules_created": created,
        "escalation_policies": len(plan.escalation_policies),
        "config": plan.fragment(),
        "unmapped": unmapped[:2000],
        "warnings": [n.as_dict() for n in plan.warnings][:2000],
    }
