"""Auto-declaration: rules that declare an incident or upgrade the one an alert joined.

Alert rules fire at once or, with a `for`, when still true later (pending in
`rule_states`); count rules fire on a number of alerts within a window; PromQL rules fire
per series of a Prometheus query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from warroom.alerts import rules
from warroom.alerts.grouping import (
    COUNT_SUBJECT,
    LAST_EVALUATION,
    Detection,
    IncidentGroups,
    RoutedAlert,
    alert_details,
    alert_subject,
    defer,
    deferred_until,
    just_recorded,
    log,
    restamp,
    routed_alerts,
    series_name,
)
from warroom.alerts.models import Alert
from warroom.alerts.prometheus import PrometheusError, Sample, printable
from warroom.alerts.rule_models import RuleState
from warroom.alerts.rules import AlertFacts, GroupedBy, OpenIncident
from warroom.auth.logic import SYSTEM
from warroom.authority.rotation import assign_from_rotation
from warroom.config.alerts import AutoDeclareRule
from warroom.config.durations import format_duration
from warroom.drillmarks import drill_alert_ids
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.integrations.models import Integration
from warroom.timeline.logic import EventSource, EventType


class AutoDeclaring(IncidentGroups):
    """Joining, declaring and upgrading incidents for alerts, by the auto-declare rules."""

    # --- joining, declaring, upgrading ------------------------------------------------

    def join(
        self,
        alert: RoutedAlert,
        facts: AlertFacts,
        target: OpenIncident,
        grouped_by: GroupedBy,
        key: str | None,
        fired: tuple[AutoDeclareRule, dict[str, Any]] | None,
    ) -> None:
        incident = self._incident(target.id)
        self.set_incident(alert, incident.id)
        self._attached(alert, facts, target)
        details = {**alert_details(facts), "grouped_by": grouped_by.value}
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
            restamp(self.session, incident.id, EventSource.AUTOMATION)
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
            extra["alert"] = alert_details(alert)
        if series is not None:
            extra["series"] = series
        restamp(self.session, incident.id, EventSource.AUTOMATION, details=extra)
        target.severity = severity

    def fire_for_alert(
        self, alert: RoutedAlert, facts: AlertFacts, rule: AutoDeclareRule, values: dict[str, Any]
    ) -> None:
        """The rule holds for this unattached alert: join the incident the rule already
        opened for the service, or declare one."""
        service = self._target_service(rule, lambda path: rules.field_value(facts, path))
        service = service or alert.service
        same = rules.same_rule_incident(self.open_for(alert).values(), rule.name, service)
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
            extra={"alert": alert_details(facts)},
            detection=Detection(
                description=f"Alert fired: {alert.summary} ({alert.dedup_key})",
                actor=facts.integration,
                timestamp=detected,
                details=alert_details(facts),
            ),
        )
        drill = self.drill_of(alert)
        if drill is not None:
            # Set before the transaction commits: the declaration's subscribers (paging,
            # chat, the status page) read it then.
            incident.drill_id = drill
            self.open_incidents()[incident.id].drill_id = drill
            self._open_changed()
        self.set_incident(alert, incident.id)
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
        detection: Detection,
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
            declared_by_rule=rule.name,
        )
        event = just_recorded(self.session, incident.id)
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
        self._open_changed()
        log.info("rule %s declared %s at %s: %s", rule.name, incident.key, severity, title)
        return incident

    # --- pending alert rules ---------------------------------------------------------

    def _remember_pending(
        self, rule: AutoDeclareRule, alert: RoutedAlert, values: dict[str, Any]
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
            held_back = deferred_until(state.last_value)
            if not rules.for_elapsed(state.pending_since, rule.for_, self.now) or (
                held_back is not None and self.now < held_back
            ):
                continue
            found = routed_alerts(self.session, Alert.id == int(state.subject.split(":", 1)[1]))
            alert = found[0] if found else None
            if alert is None or alert.resolved_at is not None or alert.suppressed:
                self.session.delete(state)
                continue
            window = self.calendar(self.now).covering(alert.service, self.now)
            if window is not None:
                defer(state, window.ends_at)  # fires after the window, if still open
                continue
            facts = self.facts(alert)
            assert rule.when.alert is not None
            match = rules.match_alert(rule.when.alert, facts)
            self.session.delete(state)
            if match is None:
                continue  # the alert changed since: the condition no longer holds
            self._fire_later(alert, facts, rule, match.values)

    def _fire_later(
        self, alert: RoutedAlert, facts: AlertFacts, rule: AutoDeclareRule, values: dict[str, Any]
    ) -> None:
        open_incidents = self.open_incidents()
        if alert.incident_id is not None and alert.incident_id in open_incidents:
            target = open_incidents[alert.incident_id]
            severity = rules.canonical_severity(self.config, rule.declare.severity)
            if rule.upgrade and rules.is_more_severe(self.config, severity, target.severity):
                self.upgrade(self._incident(target.id), target, rule, severity, values, alert=facts)
            return
        if alert.incident_id is not None:
            self.set_incident(alert, None)  # its incident was resolved meanwhile: start afresh
        joined = self.find_group(alert, facts)
        if joined is not None:
            self.join(alert, facts, *joined, (rule, values))
        else:
            self.fire_for_alert(alert, facts, rule, values)

    # --- alert counts ----------------------------------------------------------------

    def _count_fires(
        self, rule: AutoDeclareRule, alert: RoutedAlert, facts: AlertFacts
    ) -> dict[str, Any] | None:
        """Whether a count rule fires on this alert's arrival.

        Real alerts and drill alerts are never counted together: a real alert counts the
        real alerts (every drill's injected ones left out), so an exercise cannot declare a
        real incident nor push a real spike over its threshold; a drill's alert counts only
        that drill's alerts, under a state of its own, so the drill can exercise the rule (its
        incident is the drill's, `fire_for_alert`) without holding back the real rule's
        once-per-window.
        """
        condition = rule.when.alert_count
        assert condition is not None
        if condition.integration_type and facts.integration_type != condition.integration_type:
            return None
        if condition.service and facts.service != condition.service:
            return None
        drill = self.drill_of(alert)
        subject = COUNT_SUBJECT if drill is None else f"{COUNT_SUBJECT}:drill:{drill}"
        state = self.session.get(RuleState, (rule.name, subject))
        fired_at = state.fired_at if state is not None else None
        if not rules.count_may_fire_again(fired_at, condition.within, self.now):
            return None
        found = self._spikes.get((rule.name, drill))
        if found is None:
            base_start, window_start, end = rules.count_windows(condition, self.now)
            self.write_changes()  # alerts suppressed in this batch are not counted
            query = select(func.count(Alert.id)).where(Alert.suppressed.is_(False))
            if condition.integration_type:
                query = query.join(Integration, Integration.id == Alert.integration_id).where(
                    Integration.type == condition.integration_type
                )
            if condition.service:
                query = query.where(Alert.service == condition.service)
            if drill is None:
                injected = drill_alert_ids(self.session, since=base_start, until=end)
                if injected:
                    query = query.where(Alert.id.not_in(injected))
            else:
                query = query.where(Alert.id.in_(self._drills[drill]))
            count = self.session.scalar(
                query.where(Alert.first_seen >= window_start, Alert.first_seen <= end)
            )
            baseline = self.session.scalar(
                query.where(Alert.first_seen >= base_start, Alert.first_seen < window_start)
            )
            found = rules.spike(condition, count or 0, baseline or 0)
            self._spikes[(rule.name, drill)] = found
        if not found.fires:
            return None
        values = found.values()
        if state is None:
            state = RuleState(rule=rule.name, subject=subject, pending_since=self.now)
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
                defer(state, window.ends_at)
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
                    f"Rule {rule.name} fired for {series_name(sample.labels)}: "
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
                detection=Detection(
                    description=(
                        f"PromQL condition of rule {rule.name} began holding for "
                        f"{series_name(sample.labels)}"
                    ),
                    actor="prometheus",
                    timestamp=state.pending_since,
                    details={"query": rule.when.promql, "series": series},
                ),
            )
        state.fired_at = self.now
        state.incident_id = incident.id
