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
  warroom.alerts.actions); acknowledging or resolving it, or its joining an incident,
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

This module has the jobs and `Routing`, which routes each alert (maintenance suppression
first); the decisions it builds on are `grouping` (open incidents, keys, groups) and
`declaring` (the auto-declare rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from warroom.alerts import actions as alert_actions
from warroom.alerts import rules
from warroom.alerts.declaring import AutoDeclaring
from warroom.alerts.grouping import (
    COUNT_SUBJECT,
    LAST_EVALUATION,
    OPEN_STATUS_VALUES,
    RoutedAlert,
    alert_details,
    deferred_until,
    log,
    restamp,
    routed_alerts,
)
from warroom.alerts.logic import AlertStatus
from warroom.alerts.models import Alert
from warroom.alerts.prometheus import PrometheusClient, PrometheusError, Sample
from warroom.alerts.rule_models import RuleState
from warroom.auth.logic import SYSTEM, Principal, Role
from warroom.config.alerts import AlertResolution, AutoDeclareRule
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine.timers import ids_in
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.maintenance.service import load_calendar
from warroom.timeline.logic import EventSource, EventType

BATCH_SIZE = 500
_noted_without_source: set[str] = set()
# Taken by both jobs on PostgreSQL: routing decisions of two engines never interleave.
_ADVISORY_LOCK = 0x7761_7272_6F6F_6D01


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
        batch = routed_alerts(session, Alert.routed_at.is_(None), limit=limit, claim=True)
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
        routing.write_changes()
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
        if rule is None or state.subject == LAST_EVALUATION:
            continue
        if state.subject.split(":", 1)[0] == COUNT_SUBJECT:  # the real count, or a drill's
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
            deferred_until(r.last_value),
        )
        for r in rows
    ]


def _rule_names(session: Session) -> set[str]:
    return set(session.scalars(select(RuleState.rule).distinct()))


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


class Routing(AutoDeclaring):
    """Routes one batch of alerts: maintenance suppression first, then grouping and the
    auto-declare rules, acknowledgement and resolution."""

    # --- batch -------------------------------------------------------------------------

    def route_batch(self, batch: Sequence[RoutedAlert], *, careful: bool = False) -> None:
        self._load_integrations(a.integration_id for a in batch)
        since = min(a.first_seen for a in batch)
        self._calendar = load_calendar(
            self.session, config=self.config, since=since, until=self.now
        )
        for alert in batch:
            if not careful:
                self.route(alert)
                continue
            try:
                with self.session.begin_nested():
                    self.route(alert)
                    self.write_changes()
            except Exception:
                # Marked routed all the same: it must not hold up the alerts behind it.
                log.exception("routing alert %s failed; it stays unattached", alert.id)
                self._forget_caches()
        self.write_changes()
        # Every alert of the batch is routed: one statement for all, not one each.
        ids = [alert.id for alert in batch]
        for start in range(0, len(ids), 500):
            self.session.execute(
                update(Alert)
                .where(ids_in(self.session, Alert.id, ids[start : start + 500]))
                .values(routed_at=self.now)
                .execution_options(synchronize_session=False)
            )

    # --- one alert ---------------------------------------------------------------------

    def route(self, alert: RoutedAlert) -> None:
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
                self.suppress(alert)
                self._drop_states(alert.id)
                return
            if alert.incident_id is None:
                self.on_open(alert)
        if alert.status == AlertStatus.ACKNOWLEDGED:
            alert_actions.stop_paging(self.session, alert, now=self.now)
            if alert.incident_id is not None:
                self.acknowledge_incident(alert)
        elif alert.incident_id is None and self.drill_of(alert) is None:
            # Not part of an incident: its severity's alert_routing action (once). A drill's
            # alert pages nobody outside the drill's incident.
            alert_actions.apply(self.session, self.config, alert, now=self.now)

    def on_open(self, alert: RoutedAlert) -> None:
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
                values = self._count_fires(rule, alert, facts)
                if values is not None:
                    fired = (rule, values)
        if joined is not None:
            incident, grouped_by, key = joined
            self.join(alert, facts, incident, grouped_by, key, fired)
        elif fired is not None:
            self.fire_for_alert(alert, facts, *fired)

    def on_resolved(self, alert: RoutedAlert) -> None:
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
            details=alert_details(facts),
        )
        mode = self.config.alert_resolution
        if incident.declared_by_rule is None or mode is AlertResolution.NONE:
            return
        self.write_changes()  # the batch's alerts that joined it count
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
        restamp(self.session, incident.id, EventSource.AUTOMATION)
        if target is Status.RESOLVED:
            self.open_incidents().pop(incident.id, None)
            self._open_changed()

    def acknowledge_incident(self, alert: RoutedAlert) -> None:
        assert alert.incident_id is not None
        incident = self._incident(alert.incident_id)
        if incident.status not in OPEN_STATUS_VALUES or incident.acknowledged_at is not None:
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
        restamp(self.session, incident.id, EventSource.MONITORING)
