"""Routing stored alerts into incidents: the engine jobs.

`route_alerts` claims the alerts ingest left unrouted (`routed_at IS NULL`: new ones, and
ones whose source acknowledged or resolved them since) and, in one transaction per batch:

- a triggered alert of a service in maintenance is marked suppressed, and nothing else;
- otherwise it joins an open incident when it shares an explicit key, an Alertmanager
  group, or (within the grouping window) a service with one; then the auto-declaration
  rules are tried in order: the first that holds declares an incident (or upgrades the
  one the alert joined); a rule that holds but has a `for` to wait is remembered in
  `rule_states` as pending;
- an acknowledged alert acknowledges its incident;
- a triggered alert left outside any incident gets its severity's `alert_routing` action
  (page along its service's policy, notify the owning team, or nothing: see
  warroom.escalation.alerts); acknowledging or resolving it, or its joining an incident,
  stops that paging;
- a resolved alert forgets its pending rules, and when it was the last open alert of an
  auto-declared incident, moves that incident to monitoring (`alert_resolution`).

`evaluate_rules` runs every few seconds: it fires pending alert rules whose `for` has
elapsed, and evaluates the PromQL rules against Prometheus (each series a subject, with
its own `for`). It returns how long until something is next due.

All progress lives in rows (`routed_at`, `rule_states`, the incidents themselves), so a
job killed between two batches resumes without losing or repeating anything. On
PostgreSQL both jobs take one transaction-scoped advisory lock, so several engines may
run: they take turns instead of declaring the same incident twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from warroom.alerts import rules
from warroom.alerts.logic import AlertStatus
from warroom.alerts.models import Alert
from warroom.alerts.prometheus import PrometheusClient, PrometheusError, Sample, printable
from warroom.alerts.rule_models import RuleState
from warroom.alerts.rules import AlertFacts, GroupedBy, OpenIncident
from warroom.auth.logic import SYSTEM, Principal, Role
from warroom.authority.rotation import assign_from_rotation
from warroom.config.durations import format_duration
from warroom.config.schema import AlertResolution, AutoDeclareRule, WarroomConfig
from warroom.context import AppContext
from warroom.escalation import alerts as alert_actions
from warroom.incidents import service as incidents
from warroom.incidents.logic import OPEN_STATUSES, Status
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.schemas import IncidentCreate
from warroom.integrations.models import Integration
from warroom.maintenance.service import Calendar, load_calendar
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent

log = logging.getLogger("warroom.routing")

BATCH_SIZE = 500
# Taken by both jobs on PostgreSQL: routing decisions of two engines never interleave.
_ADVISORY_LOCK = 0x7761_7272_6F6F_6D01
# The row that remembers when a PromQL rule last queried Prometheus.
LAST_EVALUATION = "~last-evaluation"
COUNT_SUBJECT = "count"
_OPEN = [s.value for s in OPEN_STATUSES]
_noted_without_source: set[str] = set()

_Lookup = Callable[[str], tuple[bool, Any]]


def alert_subject(alert_id: int) -> str:
    return f"alert:{alert_id}"


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})


# --- the jobs -----------------------------------------------------------------------------


def route_alerts(ctx: AppContext, *, limit: int = BATCH_SIZE) -> float | None:
    """Route one batch of unrouted alerts; ask to run again at once when the batch was full.

    The batch runs in one transaction. Should any alert of it fail, the batch is routed
    again alert by alert (each in a savepoint), so that one poisonous alert is logged and
    left unattached instead of holding up every alert behind it.
    """
    try:
        return _route_batch(ctx, limit=limit, careful=False)
    except Exception:
        log.warning("routing a batch failed; routing it alert by alert", exc_info=True)
        return _route_batch(ctx, limit=limit, careful=True)


def _route_batch(ctx: AppContext, *, limit: int, careful: bool) -> float | None:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        session = uow.session
        _serialise(session)
        claim = select(Alert).where(Alert.routed_at.is_(None)).order_by(Alert.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            claim = claim.with_for_update(skip_locked=True)
        batch = list(session.scalars(claim))
        if not batch:
            return None
        Routing(session, ctx.config, now).route_batch(batch, careful=careful)
        uow.commit()
    return 0.0 if len(batch) >= limit else None


def evaluate_rules(ctx: AppContext) -> float | None:
    """Fire pending alert rules that are due and evaluate PromQL rules; return the seconds
    until the next check is due (None: nothing pending)."""
    now = ctx.clock.now()
    config = ctx.config
    enabled = {r.name: r for r in config.auto_declare if r.enabled}
    promql_rules = [r for r in enabled.values() if r.when.kind == "promql"]
    if promql_rules and config.prometheus is None:
        unnoted = sorted(r.name for r in promql_rules if r.name not in _noted_without_source)
        if unnoted:
            _noted_without_source.update(unnoted)
            log.info(
                "%d PromQL rule(s) skipped, no prometheus.url is configured: %s",
                len(unnoted),
                ", ".join(unnoted),
            )
        promql_rules = []

    # A look first, without writing: most passes find nothing due.
    with ctx.db.unit_of_work() as uow:
        states = _state_snapshot(uow.session)
        stale = bool(_rule_names(uow.session) - set(enabled))
        uow.rollback()
    alerts_due = any(
        s.subject.startswith("alert:") and s.due(enabled[s.rule]) <= now
        for s in states
        if s.rule in enabled
    )
    due = [r for r in promql_rules if _promql_due(r, states, config, now)]
    if not (stale or alerts_due or due):
        return _seconds(_next_due(states, enabled, promql_rules, config, now), now)

    answers: dict[str, list[Sample] | PrometheusError] = {}
    if due:
        source = config.prometheus
        assert source is not None
        down: PrometheusError | None = None
        with PrometheusClient(source.url, timeout=source.timeout.total_seconds()) as client:
            for rule in due:
                assert rule.when.promql is not None
                if down is not None:
                    answers[rule.name] = down  # no need to wait for a timeout per rule
                    continue
                try:
                    answers[rule.name] = client.query(rule.when.promql, at=now)
                except PrometheusError as exc:
                    log.warning("PromQL rule %s not evaluated: %s", rule.name, exc)
                    answers[rule.name] = exc
                    if exc.unreachable:
                        down = exc

    with ctx.db.unit_of_work() as uow:
        session = uow.session
        _serialise(session)
        routing = Routing(session, config, now)
        if stale:
            routing.forget_removed_rules()
        if alerts_due:
            routing.fire_due_alert_rules()
        for rule in due:
            routing.apply_series(rule, answers[rule.name])
        session.flush()
        states = _state_snapshot(session)
        uow.commit()
    return _seconds(_next_due(states, enabled, promql_rules, config, now), now)


def _seconds(when: datetime | None, now: datetime) -> float | None:
    return rules.seconds_until(when, now) if when is not None else None


def _next_due(
    states: Sequence[_StateRow],
    enabled: dict[str, AutoDeclareRule],
    promql_rules: Sequence[AutoDeclareRule],
    config: WarroomConfig,
    now: datetime,
) -> datetime | None:
    """The earliest time a pending `for` or a maintenance window that holds a firing back
    ends, or a PromQL rule is due again."""
    candidates: list[datetime] = []
    for state in states:
        rule = enabled.get(state.rule)
        if rule is None or state.subject in (LAST_EVALUATION, COUNT_SUBJECT):
            continue
        if rule.when.kind == "promql" and rule not in promql_rules:
            continue
        due = state.due(rule)
        # An overdue series waits for Prometheus to answer again (the interval, below).
        if due > now:
            candidates.append(due)
    if config.prometheus is not None:
        for rule in promql_rules:
            last = next(
                (
                    s.last_evaluated_at
                    for s in states
                    if s.rule == rule.name and s.subject == LAST_EVALUATION
                ),
                None,
            )
            candidates.append(now if last is None else last + config.prometheus.interval)
    return min(candidates, default=None)


@dataclass(frozen=True)
class _StateRow:
    """A rule state that has not fired (a pending subject, or a rule's evaluation marker)."""

    rule: str
    subject: str
    pending_since: datetime
    last_evaluated_at: datetime
    # A firing held back by a maintenance window, until the window ends.
    deferred_until: datetime | None

    def due(self, rule: AutoDeclareRule) -> datetime:
        due = rules.due_at(self.pending_since, rule.for_)
        return max(due, self.deferred_until) if self.deferred_until else due


def _state_snapshot(session: Session) -> list[_StateRow]:
    rows = session.execute(
        select(
            RuleState.rule,
            RuleState.subject,
            RuleState.pending_since,
            RuleState.last_evaluated_at,
            RuleState.last_value,
        ).where(RuleState.fired_at.is_(None))
    )
    return [
        _StateRow(
            r.rule,
            r.subject,
            r.pending_since,
            r.last_evaluated_at,
            _deferred_until(r.last_value),
        )
        for r in rows
    ]


def _rule_names(session: Session) -> set[str]:
    return set(session.scalars(select(RuleState.rule).distinct()))


def _deferred_until(value: Any) -> datetime | None:
    if isinstance(value, dict) and isinstance(value.get("deferred_until"), str):
        return datetime.fromisoformat(value["deferred_until"])
    return None


def _promql_due(
    rule: AutoDeclareRule, states: Sequence[_StateRow], config: WarroomConfig, now: datetime
) -> bool:
    assert config.prometheus is not None
    mine = [s for s in states if s.rule == rule.name]
    last = next((s.last_evaluated_at for s in mine if s.subject == LAST_EVALUATION), None)
    if last is None or now >= last + config.prometheus.interval:
        return True
    # A series whose `for` (or maintenance window) ends before the next regular
    # evaluation is checked on time.
    return any(last < s.due(rule) <= now for s in mine if s.subject.startswith("series:"))


# --- the decisions, written ---------------------------------------------------------------


class Routing:
    """One transaction's worth of routing: caches of open incidents and group look-ups
    that stay true for the batch because every change made goes through them too."""

    def __init__(self, session: Session, config: WarroomConfig, now: datetime) -> None:
        self.session = session
        self.config = config
        self.now = now
        self.rules = [r for r in config.auto_declare if r.enabled]
        self._open: dict[int, OpenIncident] | None = None
        self._loaded: dict[int, Incident] = {}
        self._by_group: dict[tuple[int, str], int | None] = {}
        self._by_key: dict[str, int | None] = {}
        self._integrations: dict[int, tuple[str, str]] = {}
        self._calendar: Calendar | None = None
        self._spikes: dict[str, rules.Spike] = {}

    # --- batch -------------------------------------------------------------------------

    def route_batch(self, batch: Sequence[Alert], *, careful: bool = False) -> None:
        self._load_integrations(a.integration_id for a in batch)
        since = min(a.first_seen for a in batch)
        self._calendar = load_calendar(
            self.session, config=self.config, since=since, until=self.now
        )
        for alert in batch:
            if not careful:
                self.route(alert)
                alert.routed_at = self.now
                continue
            alert_id = alert.id
            try:
                with self.session.begin_nested():
                    self.route(alert)
            except Exception:
                # Mark it routed all the same: it must not hold up the alerts behind it.
                log.exception("routing alert %s failed; it stays unattached", alert_id)
                self._forget_caches()
            alert.routed_at = self.now

    def _forget_caches(self) -> None:
        self._open = None
        self._loaded.clear()
        self._by_group.clear()
        self._by_key.clear()
        self._spikes.clear()

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

    def facts(self, alert: Alert) -> AlertFacts:
        self._load_integrations([alert.integration_id])
        name, kind = self._integrations.get(alert.integration_id, (None, None))
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

    # --- one alert ---------------------------------------------------------------------

    def route(self, alert: Alert) -> None:
        if alert.status == AlertStatus.RESOLVED:
            self.on_resolved(alert)
            alert_actions.stop_paging(self.session, alert, now=self.now)
            return
        if alert.suppressed:
            return  # recorded during maintenance: it stays out of incidents
        if alert.incident_id is None or alert.incident_id not in self.open_incidents():
            window = self.calendar(alert.first_seen).covering(
                alert.service, alert.first_seen, self.now
            )
            if window is not None:
                alert.suppressed = True
                self._drop_states(alert.id)
                return
            if alert.incident_id is None:
                self.on_open(alert)
        if alert.status == AlertStatus.ACKNOWLEDGED:
            alert_actions.stop_paging(self.session, alert, now=self.now)
            if alert.incident_id is not None:
                self.acknowledge_incident(alert)
        elif alert.incident_id is None:
            # Not part of an incident: its severity's alert_routing action (once).
            alert_actions.apply(self.session, self.config, alert, now=self.now)

    def on_open(self, alert: Alert) -> None:
        facts = self.facts(alert)
        joined = self.find_group(alert, facts)
        fired: tuple[AutoDeclareRule, dict[str, Any]] | None = None
        for rule in self.rules:
            kind = rule.when.kind
            if kind == "alert":
                assert rule.when.alert is not None
                match = rules.match_alert(rule.when.alert, facts)
                if match is None:
                    continue
                if rules.for_elapsed(alert.first_seen, rule.for_, self.now):
                    if fired is None:
                        fired = (rule, match.values)
                else:
                    self._remember_pending(rule, alert, match.values)
            elif kind == "alert_count" and fired is None:
                values = self._count_fires(rule, facts)
                if values is not None:
                    fired = (rule, values)
        if joined is not None:
            incident, grouped_by, key = joined
            self.join(alert, facts, incident, grouped_by, key, fired)
        elif fired is not None:
            self.fire_for_alert(alert, facts, *fired)

    def find_group(
        self, alert: Alert, facts: AlertFacts
    ) -> tuple[OpenIncident, GroupedBy, str | None] | None:
        """The open incident the alert belongs with: same explicit key, same Alertmanager
        group, or same service within the window — in that order."""
        grouping = self.config.alert_grouping
        open_incidents = self.open_incidents()
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

    def on_resolved(self, alert: Alert) -> None:
        self._drop_states(alert.id)
        if alert.incident_id is None:
            return
        incident = self._incident(alert.incident_id)
        if incident.status == Status.CLOSED:
            return
        facts = self.facts(alert)
        incidents.record(
            self.session,
            incident=incident,
            type=EventType.ALERT,
            description=f"Alert resolved at the source: {alert.summary} ({alert.dedup_key})",
            now=self.now,
            actor=facts.integration,
            source=EventSource.MONITORING,
            timestamp=alert.resolved_at or self.now,
            details=_alert_details(facts),
        )
        mode = self.config.alert_resolution
        if incident.declared_by_rule is None or mode is AlertResolution.NONE:
            return
        still_open = self.session.scalar(
            select(func.count(Alert.id)).where(
                Alert.incident_id == incident.id, Alert.resolved_at.is_(None)
            )
        )
        if still_open:
            return
        holding = self.session.scalar(
            select(func.count())
            .select_from(RuleState)
            .where(RuleState.incident_id == incident.id, RuleState.subject.like("series:%"))
        )
        if holding:
            return  # its PromQL condition still holds
        current = Status(incident.status)
        target = Status.MONITORING if mode is AlertResolution.MONITORING else Status.RESOLVED
        if current not in (Status.INVESTIGATING, Status.IDENTIFIED) and not (
            target is Status.RESOLVED and current is Status.MONITORING
        ):
            return  # already monitoring or beyond: nothing to do, never closed
        incidents.change_status(
            self.session,
            incident=incident,
            status=target,
            message="All alerts resolved",
            public=False,
            actor=SYSTEM,
            now=self.now,
        )
        _restamp(self.session, incident.id, EventSource.AUTOMATION)
        if target is Status.RESOLVED:
            self.open_incidents().pop(incident.id, None)

    def acknowledge_incident(self, alert: Alert) -> None:
        assert alert.incident_id is not None
        incident = self._incident(alert.incident_id)
        if incident.status not in _OPEN or incident.acknowledged_at is not None:
            return
        facts = self.facts(alert)
        who = Principal(name=(facts.integration or "monitoring")[:64], role=Role.RESPONDER)
        incidents.acknowledge(
            self.session,
            incident=incident,
            actor=who,
            now=self.now,
            message=f"Acknowledged at the source: {alert.summary} ({alert.dedup_key})",
        )
        _restamp(self.session, incident.id, EventSource.MONITORING)

    # --- joining, declaring, upgrading ------------------------------------------------

    def join(
        self,
        alert: Alert,
        facts: AlertFacts,
        target: OpenIncident,
        grouped_by: GroupedBy,
        key: str | None,
        fired: tuple[AutoDeclareRule, dict[str, Any]] | None,
    ) -> None:
        incident = self._incident(target.id)
        alert.incident_id = incident.id
        self._attached(alert, facts, target)
        details = {**_alert_details(facts), "grouped_by": grouped_by.value}
        if key is not None:
            details["group"] = key
        upgrade = None
        if fired is not None:
            rule, values = fired
            details["rule"] = rule.name
            details["values"] = values
            severity = rules.canonical_severity(self.config, rule.declare.severity)
            if rule.upgrade and rules.is_more_severe(self.config, severity, incident.severity):
                upgrade = (rule, values, severity)
        incidents.record(
            self.session,
            incident=incident,
            type=EventType.ALERT,
            description=f"Alert {alert.summary} ({alert.dedup_key}) joined",
            now=self.now,
            actor=facts.integration,
            source=EventSource.MONITORING,
            details=details,
        )
        if alert.service not in target.services and self._known_service(alert.service):
            incidents.add_service(
                self.session,
                config=self.config,
                incident=incident,
                service=alert.service,
                actor=SYSTEM,
                now=self.now,
            )
            _restamp(self.session, incident.id, EventSource.AUTOMATION)
            target.services.add(alert.service)
        if upgrade is not None:
            rule, values, severity = upgrade
            self.upgrade(incident, target, rule, severity, values, alert=facts)

    def upgrade(
        self,
        incident: Incident,
        target: OpenIncident,
        rule: AutoDeclareRule,
        severity: str,
        values: dict[str, Any],
        *,
        alert: AlertFacts | None = None,
        series: dict[str, Any] | None = None,
    ) -> None:
        incidents.change_severity(
            self.session,
            config=self.config,
            incident=incident,
            severity=severity,
            reason=f"rule {rule.name} fired: {rules.format_values(values)}",
            actor=SYSTEM,
            now=self.now,
        )
        extra: dict[str, Any] = {
            "rule": rule.name,
            "condition": rules.describe_rule(rule),
            "values": values,
        }
        if alert is not None:
            extra["alert"] = _alert_details(alert)
        if series is not None:
            extra["series"] = series
        _restamp(self.session, incident.id, EventSource.AUTOMATION, details=extra)
        target.severity = severity

    def fire_for_alert(
        self, alert: Alert, facts: AlertFacts, rule: AutoDeclareRule, values: dict[str, Any]
    ) -> None:
        """The rule holds for this unattached alert: join the incident the rule already
        opened for the service, or declare one."""
        service = self._target_service(rule, lambda path: rules.field_value(facts, path))
        service = service or alert.service
        same = rules.same_rule_incident(self.open_incidents().values(), rule.name, service)
        if same is not None:
            self.join(alert, facts, same, GroupedBy.RULE, rule.name, (rule, values))
            return
        title_template = rule.declare.title or f"{rule.name}: {{summary}}"
        title = rules.render_title(title_template, lambda path: rules.field_value(facts, path))
        detected = alert.started_at if alert.started_at and alert.started_at <= self.now else None
        detected = detected or alert.first_seen
        incident = self.declare(
            rule,
            title=title,
            services=[service, alert.service],
            detected_at=detected,
            values=values,
            extra={"alert": _alert_details(facts)},
            detection=_Detection(
                description=f"Alert fired: {alert.summary} ({alert.dedup_key})",
                actor=facts.integration,
                timestamp=detected,
                details=_alert_details(facts),
            ),
        )
        alert.incident_id = incident.id
        self._attached(alert, facts, self.open_incidents()[incident.id])

    def declare(
        self,
        rule: AutoDeclareRule,
        *,
        title: str,
        services: Sequence[str | None],
        detected_at: datetime,
        values: dict[str, Any],
        extra: dict[str, Any],
        detection: _Detection,
    ) -> Incident:
        """Declare an incident for a rule; the detection (the alert that fired, the moment a
        PromQL condition began holding) comes first on its timeline."""
        action = rule.declare
        severity = rules.canonical_severity(self.config, action.severity)
        known = [s for s in dict.fromkeys(services) if s and self._known_service(s)]
        data = IncidentCreate(
            title=title,
            severity=severity,
            type=action.type,
            services=known,
            description=rule.description,
            restricted=action.restricted,
            detected_at=min(detected_at, self.now),
        )
        self.session.flush()
        incident = incidents.declare(
            self.session,
            config=self.config,
            data=data,
            actor=SYSTEM,
            now=self.now,
            source=EventSource.AUTOMATION,
        )
        incident.declared_by_rule = rule.name
        event = _just_recorded(self.session, incident.id)
        # The detection is older than the declaration; with equal timestamps (a rule
        # without `for`, routed at once) the insert order decides, so it goes in first.
        requeue = event is not None and event in self.session.new
        if requeue:
            self.session.expunge(event)
        incidents.record(
            self.session,
            incident=incident,
            type=EventType.ALERT,
            description=detection.description,
            now=self.now,
            actor=detection.actor,
            source=EventSource.MONITORING,
            timestamp=min(detection.timestamp, self.now),
            details=detection.details,
        )
        if requeue:
            self.session.add(event)
        if event is not None:
            event.description = f"Incident declared at {severity} by rule {rule.name}: {title}"
            event.details = {
                **(event.details or {}),
                "rule": rule.name,
                "rule_description": rule.description,
                "condition": rules.describe_rule(rule),
                "values": values,
                **extra,
            }
        assign_from_rotation(self.session, config=self.config, incident=incident, now=self.now)
        self.open_incidents()[incident.id] = OpenIncident(
            id=incident.id,
            severity=severity,
            services=set(known),
            declared_at=incident.declared_at,
            restricted=incident.restricted,
            declared_by_rule=rule.name,
        )
        log.info("rule %s declared %s at %s: %s", rule.name, incident.key, severity, title)
        return incident

    # --- pending alert rules ---------------------------------------------------------

    def _remember_pending(
        self, rule: AutoDeclareRule, alert: Alert, values: dict[str, Any]
    ) -> None:
        state = self.session.get(RuleState, (rule.name, alert_subject(alert.id)))
        if state is None:
            self.session.add(
                RuleState(
                    rule=rule.name,
                    subject=alert_subject(alert.id),
                    pending_since=alert.first_seen,
                    last_evaluated_at=self.now,
                    last_value={"values": values},
                )
            )
        else:
            state.last_evaluated_at = self.now
            state.last_value = {"values": values}

    def _drop_states(self, alert_id: int) -> None:
        self.session.execute(delete(RuleState).where(RuleState.subject == alert_subject(alert_id)))

    def forget_removed_rules(self) -> None:
        """Drop the state of rules no longer configured (or disabled)."""
        names = [r.name for r in self.rules]
        self.session.execute(delete(RuleState).where(RuleState.rule.not_in(names)))

    def fire_due_alert_rules(self) -> None:
        """Fire the alert rules whose `for` has elapsed while their alert stayed open."""
        by_name = {r.name: r for r in self.rules if r.when.kind == "alert"}
        pending = list(
            self.session.scalars(
                select(RuleState)
                .where(RuleState.subject.like("alert:%"), RuleState.fired_at.is_(None))
                .order_by(RuleState.pending_since)
            )
        )
        for state in pending:
            rule = by_name.get(state.rule)
            if rule is None:
                self.session.delete(state)  # the rule was removed or disabled
                continue
            held_back = _deferred_until(state.last_value)
            if not rules.for_elapsed(state.pending_since, rule.for_, self.now) or (
                held_back is not None and self.now < held_back
            ):
                continue
            alert = self.session.get(Alert, int(state.subject.split(":", 1)[1]))
            if alert is None or alert.resolved_at is not None or alert.suppressed:
                self.session.delete(state)
                continue
            window = self.calendar(self.now).covering(alert.service, self.now)
            if window is not None:
                _defer(state, window.ends_at)  # fires after the window, if still open
                continue
            facts = self.facts(alert)
            assert rule.when.alert is not None
            match = rules.match_alert(rule.when.alert, facts)
            self.session.delete(state)
            if match is None:
                continue  # the alert changed since: the condition no longer holds
            self._fire_later(alert, facts, rule, match.values)

    def _fire_later(
        self, alert: Alert, facts: AlertFacts, rule: AutoDeclareRule, values: dict[str, Any]
    ) -> None:
        open_incidents = self.open_incidents()
        if alert.incident_id is not None and alert.incident_id in open_incidents:
            target = open_incidents[alert.incident_id]
            severity = rules.canonical_severity(self.config, rule.declare.severity)
            if rule.upgrade and rules.is_more_severe(self.config, severity, target.severity):
                self.upgrade(self._incident(target.id), target, rule, severity, values, alert=facts)
            return
        if alert.incident_id is not None:
            alert.incident_id = None  # its incident was resolved meanwhile: start afresh
        joined = self.find_group(alert, facts)
        if joined is not None:
            self.join(alert, facts, *joined, (rule, values))
        else:
            self.fire_for_alert(alert, facts, rule, values)

    # --- alert counts ----------------------------------------------------------------

    def _count_fires(self, rule: AutoDeclareRule, facts: AlertFacts) -> dict[str, Any] | None:
        condition = rule.when.alert_count
        assert condition is not None
        if condition.integration_type and facts.integration_type != condition.integration_type:
            return None
        if condition.service and facts.service != condition.service:
            return None
        state = self.session.get(RuleState, (rule.name, COUNT_SUBJECT))
        fired_at = state.fired_at if state is not None else None
        if not rules.count_may_fire_again(fired_at, condition.within, self.now):
            return None
        found = self._spikes.get(rule.name)
        if found is None:
            base_start, window_start, end = rules.count_windows(condition, self.now)
            query = select(func.count(Alert.id)).where(Alert.suppressed.is_(False))
            if condition.integration_type:
                query = query.join(Integration, Integration.id == Alert.integration_id).where(
                    Integration.type == condition.integration_type
                )
            if condition.service:
                query = query.where(Alert.service == condition.service)
            count = self.session.scalar(
                query.where(Alert.first_seen >= window_start, Alert.first_seen <= end)
            )
            baseline = self.session.scalar(
                query.where(Alert.first_seen >= base_start, Alert.first_seen < window_start)
            )
            found = rules.spike(condition, count or 0, baseline or 0)
            self._spikes[rule.name] = found
        if not found.fires:
            return None
        values = found.values()
        if state is None:
            state = RuleState(rule=rule.name, subject=COUNT_SUBJECT, pending_since=self.now)
            self.session.add(state)
        state.fired_at = self.now
        state.last_evaluated_at = self.now
        state.last_value = values
        return values

    # --- PromQL ----------------------------------------------------------------------

    def apply_series(self, rule: AutoDeclareRule, answer: list[Sample] | PrometheusError) -> None:
        """Record one evaluation of a PromQL rule and fire the series that held for `for`."""
        marker = self.session.get(RuleState, (rule.name, LAST_EVALUATION))
        if marker is None:
            marker = RuleState(rule=rule.name, subject=LAST_EVALUATION, pending_since=self.now)
            self.session.add(marker)
        marker.last_evaluated_at = self.now
        if isinstance(answer, PrometheusError):
            marker.last_value = {"error": str(answer)}
            return  # keep every series as it was; try again at the next evaluation
        marker.last_value = {"series": len(answer)}
        states = {
            s.subject: s
            for s in self.session.scalars(
                select(RuleState).where(
                    RuleState.rule == rule.name, RuleState.subject.like("series:%")
                )
            )
        }
        samples = {rules.series_subject(s.labels): s for s in answer}
        plan = rules.plan_series(
            [
                rules.SeriesState(s.subject, s.pending_since, s.fired_at is not None)
                for s in states.values()
            ],
            samples,
            rule.for_,
            self.now,
        )
        for subject in plan.forget:
            self.session.delete(states.pop(subject))
        for subject in plan.start:
            states[subject] = RuleState(rule=rule.name, subject=subject, pending_since=self.now)
            self.session.add(states[subject])
        for subject in [*plan.start, *plan.keep]:
            sample = samples[subject]
            states[subject].last_evaluated_at = self.now
            states[subject].last_value = {"labels": sample.labels, "value": printable(sample.value)}
        for subject in plan.fire:
            self._fire_series(rule, states[subject], samples[subject])

    def _fire_series(self, rule: AutoDeclareRule, state: RuleState, sample: Sample) -> None:
        def lookup(path: str) -> tuple[bool, Any]:
            return rules.series_value(sample.labels, sample.value, path)

        service = self._target_service(rule, lookup)
        if service is not None:
            window = self.calendar(self.now).covering(service, self.now)
            if window is not None:
                _defer(state, window.ends_at)
                return  # stays pending: it fires after the window if it still holds
        value = printable(sample.value)
        series = {"labels": sample.labels, "value": value}
        values: dict[str, Any] = {
            "value": value,
            **{f"labels.{k}": v for k, v in sample.labels.items()},
        }
        held = format_duration(self.now - state.pending_since)
        open_incidents = self.open_incidents()
        target = rules.same_rule_incident(open_incidents.values(), rule.name, service)
        grouped_by = GroupedBy.RULE
        if target is None and service is not None and self.config.alert_grouping.by_service:
            target = rules.service_window_incident(
                open_incidents.values(), service, self.now, self.config.alert_grouping.window
            )
            grouped_by = GroupedBy.SERVICE
        if target is not None:
            incident = self._incident(target.id)
            incidents.record(
                self.session,
                incident=incident,
                type=EventType.ALERT,
                description=(
                    f"Rule {rule.name} fired for {_series_name(sample.labels)}: "
                    f"value {value} (held for {held})"
                ),
                now=self.now,
                actor="prometheus",
                source=EventSource.MONITORING,
                details={
                    "rule": rule.name,
                    "query": rule.when.promql,
                    "series": series,
                    "grouped_by": grouped_by.value,
                    "pending_since": state.pending_since.isoformat(),
                },
            )
            severity = rules.canonical_severity(self.config, rule.declare.severity)
            if rule.upgrade and rules.is_more_severe(self.config, severity, target.severity):
                self.upgrade(incident, target, rule, severity, values, series=series)
        else:
            title = rules.render_title(rule.declare.title or rule.description or rule.name, lookup)
            incident = self.declare(
                rule,
                title=title,
                services=[service],
                detected_at=state.pending_since,
                values=values,
                extra={
                    "query": rule.when.promql,
                    "series": series,
                    "pending_since": state.pending_since.isoformat(),
                },
                detection=_Detection(
                    description=(
                        f"PromQL condition of rule {rule.name} began holding for "
                        f"{_series_name(sample.labels)}"
                    ),
                    actor="prometheus",
                    timestamp=state.pending_since,
                    details={"query": rule.when.promql, "series": series},
                ),
            )
        state.fired_at = self.now
        state.incident_id = incident.id

    # --- when next ---------------------------------------------------------------------

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
                ).where(Incident.status.in_(_OPEN))
            ).all()
            found = {
                r.id: OpenIncident(
                    id=r.id,
                    severity=r.severity,
                    services=set(),
                    declared_at=r.declared_at,
                    restricted=r.restricted,
                    declared_by_rule=r.declared_by_rule,
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
        return self.session.scalar(
            select(Alert.incident_id)
            .where(Alert.incident_id.in_(open_ids), *conditions)
            .order_by(Alert.id.desc())
            .limit(1)
        )

    def _attached(self, alert: Alert, facts: AlertFacts, target: OpenIncident) -> None:
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


def _defer(state: RuleState, until: datetime) -> None:
    """Hold a due firing back until a maintenance window ends."""
    state.last_value = {**(state.last_value or {}), "deferred_until": until.isoformat()}


@dataclass(frozen=True)
class _Detection:
    description: str
    actor: str | None
    timestamp: datetime
    details: dict[str, Any]


def _alert_details(facts: AlertFacts) -> dict[str, Any]:
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


def _series_name(labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{inner}}}"


def _just_recorded(session: Session, incident_id: int) -> TimelineEvent | None:
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


def _restamp(
    session: Session,
    incident_id: int,
    source: EventSource,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """Mark the event a verb just wrote as written by monitoring or automation (the verbs
    record people's actions), and add the rule's explanation to it."""
    event = _just_recorded(session, incident_id)
    if event is None:
        return
    event.source = source.value
    if details:
        event.details = {**(event.details or {}), **details}
