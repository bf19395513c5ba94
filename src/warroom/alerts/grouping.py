"""What one routing transaction knows: open incidents, group and key look-ups, caches.

An alert joins an open incident when it shares an explicit key, an Alertmanager group,
or (within the grouping window) a service with one: `IncidentGroups.find_group`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from warroom.alerts import actions as alert_actions
from warroom.alerts import rules
from warroom.alerts.models import Alert
from warroom.alerts.rule_models import RuleState
from warroom.alerts.rules import AlertFacts, GroupedBy, OpenIncident
from warroom.auth.logic import SYSTEM
from warroom.config.alerts import AutoDeclareRule
from warroom.config.schema import WarroomConfig
from warroom.drillmarks import drill_of_alert
from warroom.incidents import service as incidents
from warroom.incidents.logic import OPEN_STATUSES
from warroom.incidents.models import Incident, IncidentService
from warroom.integrations.models import Integration
from warroom.maintenance.service import Calendar, load_calendar
from warroom.timeline.logic import EventSource
from warroom.timeline.models import TimelineEvent

log = logging.getLogger("warroom.routing")


# The row that remembers when a PromQL rule last queried Prometheus.
LAST_EVALUATION = "~last-evaluation"
COUNT_SUBJECT = "count"
OPEN_STATUS_VALUES = [s.value for s in OPEN_STATUSES]

_Lookup = Callable[[str], tuple[bool, Any]]


def alert_subject(alert_id: int) -> str:
    return f"alert:{alert_id}"


def deferred_until(value: Any) -> datetime | None:
    if isinstance(value, dict) and isinstance(value.get("deferred_until"), str):
        return datetime.fromisoformat(value["deferred_until"])
    return None


@dataclass(slots=True)
class RoutedAlert:
    """An alert as routing reads it: a plain object made from one row of a query of
    `ROUTED_COLUMNS`. An ORM object per alert (its identity map entry, instrumented
    attributes) cost routing about as much as every decision it makes about the alert.
    Routing changes two columns, through `IncidentGroups.set_incident` and `suppress`,
    which write them with the batch's other changes."""

    id: int
    integration_id: int
    dedup_key: str
    status: str
    service: str
    summary: str
    source: str | None
    severity: str
    component: str | None
    group: str | None
    class_: str | None
    group_key: str | None
    labels: dict[str, Any]
    details: dict[str, Any]
    occurrences: int
    started_at: datetime | None
    first_seen: datetime
    resolved_at: datetime | None
    suppressed: bool
    incident_id: int | None


# What routing reads of an alert: not the event as it arrived (`payload`), nor the times
# and instance that only ingest keeps.
ROUTED_COLUMNS = tuple(getattr(Alert, f.name) for f in fields(RoutedAlert))


def routed_alerts(
    session: Session, *conditions: Any, limit: int | None = None, claim: bool = False
) -> list[RoutedAlert]:
    """The alerts that meet `conditions`, in id order, at most `limit`. To `claim` them is
    to lock them for this transaction (on PostgreSQL), passing over those another holds."""
    query = select(*ROUTED_COLUMNS).where(*conditions).order_by(Alert.id).limit(limit)
    if claim and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [RoutedAlert(*row) for row in session.execute(query)]


class IncidentGroups:
    """One transaction's worth of routing: caches of open incidents and group look-ups
    that stay true for the batch because every change made goes through them too."""

    def __init__(self, session: Session, config: WarroomConfig, now: datetime) -> None:
        self.session = session
        self.config = config
        self.now = now
        self.rules = [r for r in config.auto_declare if r.enabled]
        self._open: dict[int, OpenIncident] | None = None
        # `open_for`'s answers by drill (None: real incidents), until the open set changes.
        self._open_by_drill: dict[int | None, dict[int, OpenIncident]] = {}
        self._loaded: dict[int, Incident] = {}
        self._by_group: dict[tuple[int, str], int | None] = {}
        self._by_key: dict[str, int | None] = {}
        self._integrations: dict[int, tuple[str, str]] = {}
        self._calendar: Calendar | None = None
        self._spikes: dict[tuple[str, int | None], rules.Spike] = {}  # by (rule, drill)
        self._drills: dict[int, set[int]] = {}
        # Alerts' new `incident_id` and `suppressed`, by alert id, until `write_changes`.
        self._changes: dict[int, dict[str, Any]] = {}

    def set_incident(self, alert: RoutedAlert, incident_id: int | None) -> None:
        alert.incident_id = incident_id
        self._changes.setdefault(alert.id, {"id": alert.id})["incident_id"] = incident_id

    def suppress(self, alert: RoutedAlert) -> None:
        alert.suppressed = True
        self._changes.setdefault(alert.id, {"id": alert.id})["suppressed"] = True

    def write_changes(self) -> None:
        """Write the alerts' changes so far (one statement for all of them): before a query
        that reads alerts' incidents or suppression, and before the batch commits."""
        if not self._changes:
            return
        rows = list(self._changes.values())
        self._changes.clear()
        self.session.execute(update(Alert), rows)  # by primary key

    def drill_of(self, alert: RoutedAlert) -> int | None:
        """The drill that sent this alert (warroom.drills), or None for a real one."""
        return drill_of_alert(self.session, alert, self._drills)

    def open_for(self, alert: RoutedAlert) -> dict[int, OpenIncident]:
        """The open incidents the alert may join: its drill's, or only real ones."""
        drill = self.drill_of(alert)
        found = self._open_by_drill.get(drill)
        if found is None:
            found = {k: v for k, v in self.open_incidents().items() if v.drill_id == drill}
            self._open_by_drill[drill] = found
        return found

    def _open_changed(self) -> None:
        """An incident was declared, resolved or taken into a drill: `open_for` looks again."""
        self._open_by_drill.clear()

    def _forget_caches(self) -> None:
        self._open = None
        self._open_changed()
        self._loaded.clear()
        self._by_group.clear()
        self._by_key.clear()
        self._spikes.clear()
        self._changes.clear()

    def _load_integrations(self, ids: Iterable[int]) -> None:
        wanted = set(ids) - set(self._integrations)
        if not wanted:
            return
        rows = self.session.execute(
            select(Integration.id, Integration.name, Integration.type).where(
                Integration.id.in_(wanted)
            )
        )
        for row in rows:
            self._integrations[row.id] = (row.name, row.type)

    def calendar(self, since: datetime) -> Calendar:
        if self._calendar is None:
            self._calendar = load_calendar(
                self.session, config=self.config, since=since, until=self.now
            )
        return self._calendar

    def facts(self, alert: RoutedAlert) -> AlertFacts:
        integration_id = alert.integration_id
        if integration_id not in self._integrations:  # a batch loads its own at once
            self._load_integrations([integration_id])
        name, kind = self._integrations.get(integration_id, (None, None))
        return AlertFacts(
            id=alert.id,
            dedup_key=alert.dedup_key,
            summary=alert.summary,
            severity=alert.severity,
            service=alert.service,
            status=alert.status,
            first_seen=alert.first_seen,
            source=alert.source,
            component=alert.component,
            group=alert.group,
            class_=alert.class_,
            integration=name,
            integration_type=kind,
            occurrences=alert.occurrences,
            started_at=alert.started_at,
            labels=alert.labels or {},
            details=alert.details or {},
        )

    def find_group(
        self, alert: RoutedAlert, facts: AlertFacts
    ) -> tuple[OpenIncident, GroupedBy, str | None] | None:
        """The open incident the alert belongs with: same explicit key, same Alertmanager
        group, or same service within the window — in that order."""
        grouping = self.config.alert_grouping
        open_incidents = self.open_for(alert)
        if not open_incidents:
            return None
        if grouping.by_key:
            found = rules.explicit_key(facts, grouping.key_fields)
            if found is not None:
                incident_id = self._incident_by_key(found[1])
                if incident_id in open_incidents:
                    return open_incidents[incident_id], GroupedBy.KEY, found[1]
        if grouping.by_alertmanager_group and alert.group_key:
            incident_id = self._incident_by_group(alert.integration_id, alert.group_key)
            if incident_id in open_incidents:
                return open_incidents[incident_id], GroupedBy.ALERTMANAGER_GROUP, alert.group_key
        if grouping.by_service:
            incident = rules.service_window_incident(
                open_incidents.values(), alert.service, alert.first_seen, grouping.window
            )
            if incident is not None:
                return incident, GroupedBy.SERVICE, alert.service
        return None

    # --- incidents ---------------------------------------------------------------------

    def open_incidents(self) -> dict[int, OpenIncident]:
        if self._open is None:
            rows = self.session.execute(
                select(
                    Incident.id,
                    Incident.severity,
                    Incident.declared_at,
                    Incident.restricted,
                    Incident.declared_by_rule,
                    Incident.drill_id,
                ).where(Incident.status.in_(OPEN_STATUS_VALUES))
            ).all()
            found = {
                r.id: OpenIncident(
                    id=r.id,
                    severity=r.severity,
                    services=set(),
                    declared_at=r.declared_at,
                    restricted=r.restricted,
                    declared_by_rule=r.declared_by_rule,
                    drill_id=r.drill_id,
                )
                for r in rows
            }
            if found:
                for incident_id, service in self.session.execute(
                    select(IncidentService.incident_id, IncidentService.service).where(
                        IncidentService.incident_id.in_(list(found))
                    )
                ):
                    found[incident_id].services.add(service)
            self._open = found
        return self._open

    def _incident(self, incident_id: int) -> Incident:
        incident = self._loaded.get(incident_id)
        if incident is None:
            incident = incidents.get(self.session, key=incident_id, viewer=SYSTEM)
            self._loaded[incident_id] = incident
        return incident

    def _incident_by_group(self, integration_id: int, group_key: str) -> int | None:
        cache_key = (integration_id, group_key)
        if cache_key not in self._by_group:
            self._by_group[cache_key] = self._attached_incident(
                Alert.integration_id == integration_id, Alert.group_key == group_key
            )
        return self._by_group[cache_key]

    def _incident_by_key(self, key: str) -> int | None:
        if key not in self._by_key:
            conditions = []
            for name in self.config.alert_grouping.key_fields:
                prefix, _, field = name.partition(".")
                column = Alert.labels if prefix == "labels" else Alert.details
                conditions.append(column[field].as_string() == key)
            self._by_key[key] = self._attached_incident(or_(*conditions))
        return self._by_key[key]

    def _attached_incident(self, *conditions: Any) -> int | None:
        open_ids = list(self.open_incidents())
        if not open_ids:
            return None
        self.write_changes()
        return self.session.scalar(
            select(Alert.incident_id)
            .where(Alert.incident_id.in_(open_ids), *conditions)
            .order_by(Alert.id.desc())
            .limit(1)
        )

    def _attached(self, alert: RoutedAlert, facts: AlertFacts, target: OpenIncident) -> None:
        """Keep the batch's look-ups true after `alert` joined `target`."""
        if self.config.alert_routing.action_for(alert.severity).action == "page":
            alert_actions.stop_paging(self.session, alert, now=self.now)  # the incident pages
        if alert.group_key:
            self._by_group[(alert.integration_id, alert.group_key)] = target.id
        found = rules.explicit_key(facts, self.config.alert_grouping.key_fields)
        if found is not None:
            self._by_key[found[1]] = target.id

    def _known_service(self, name: str) -> bool:
        return not self.config.services or self.config.service(name) is not None

    def _target_service(self, rule: AutoDeclareRule, lookup: _Lookup) -> str | None:
        action = rule.declare
        if action.service is not None:
            return action.service
        if action.service_from is not None:
            present, value = lookup(action.service_from)
            if present and isinstance(value, str) and self._known_service(value):
                return value
        return None


# --- helpers ------------------------------------------------------------------------------


def defer(state: RuleState, until: datetime) -> None:
    """Hold a due firing back until a maintenance window ends."""
    state.last_value = {**(state.last_value or {}), "deferred_until": until.isoformat()}


@dataclass(frozen=True)
class Detection:
    description: str
    actor: str | None
    timestamp: datetime
    details: dict[str, Any]


def alert_details(facts: AlertFacts) -> dict[str, Any]:
    details: dict[str, Any] = {
        "alert_id": facts.id,
        "dedup_key": facts.dedup_key,
        "summary": facts.summary,
        "service": facts.service,
        "severity": facts.severity,
    }
    if facts.integration:
        details["integration"] = facts.integration
    return details


def series_name(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{inner}}}"


def just_recorded(session: Session, incident_id: int) -> TimelineEvent | None:
    """The timeline event an incident verb has just added (the newest for the incident)."""
    pending = [
        o for o in session.new if isinstance(o, TimelineEvent) and o.incident_id == incident_id
    ]
    if pending:
        return pending[-1]
    return session.scalar(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.id.desc())
        .limit(1)
    )


def restamp(
    session: Session,
    incident_id: int,
    source: EventSource,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """Mark the event a verb just wrote as written by monitoring or automation (the verbs
    record people's actions), and add the rule's explanation to it."""
    event = just_recorded(session, incident_id)
    if event is None:
        return
    event.source = source.value
    if details:
        event.details = {**(event.details or {}), **details}
