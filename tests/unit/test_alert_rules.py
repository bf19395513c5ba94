"""Auto-declaration rules and grouping, decided without a database (warroom.alerts.rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from warroom.alerts import rules
from warroom.alerts.rules import AlertFacts, Decision, OpenIncident
from warroom.clock import FakeClock
from warroom.config import ConfigError
from warroom.config.alerts import (
    AlertCountCondition,
    AlertGrouping,
    AutoDeclareRule,
    ConfiguredMaintenance,
    FieldCondition,
)
from warroom.config.schema import WarroomConfig
from warroom.configuration import load_config

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def facts(**overrides: Any) -> AlertFacts:
    values: dict[str, Any] = {
        "id": 7,
        "dedup_key": "db-1/connections",
        "summary": "Database connections failing on db-1",
        "severity": "critical",
        "service": "database",
        "status": "triggered",
        "first_seen": T0,
        "source": "db-1",
        "class_": "connectivity",
        "integration": "alertmanager-prod",
        "integration_type": "alertmanager",
        "labels": {"alertname": "DatabaseConnectionFailures", "service": "database", "zone": "a"},
        "details": {"value": "2.5", "runbook": {"url": "https://runbooks/db"}, "free space": "1%"},
    }
    values.update(overrides)
    return AlertFacts(**values)


def cond(**spec: Any) -> FieldCondition:
    return FieldCondition.model_validate(spec)


def holds(spec: dict[str, Any], alert: AlertFacts | None = None) -> bool:
    condition = cond(**spec)
    present, value = rules.field_value(alert or facts(), condition.field)
    return rules.condition_holds(condition, present, value)


# --- fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("labels.alertname", (True, "DatabaseConnectionFailures")),
        ("labels.missing", (False, None)),
        ("details.value", (True, "2.5")),
        ("details.runbook.url", (True, "https://runbooks/db")),
        ("details.free space", (True, "1%")),
        ("summary", (True, "Database connections failing on db-1")),
        ("severity", (True, "critical")),
        ("source", (True, "db-1")),
        ("service", (True, "database")),
        ("class", (True, "connectivity")),
        ("integration_type", (True, "alertmanager")),
        ("integration", (True, "alertmanager-prod")),
        ("component", (False, None)),
        ("occurrences", (True, 1)),
    ],
)
def test_fields_a_condition_reads(path: str, expected: tuple[bool, Any]) -> None:
    assert rules.field_value(facts(), path) == expected


def test_unknown_fields_are_refused_when_the_rule_loads() -> None:
    with pytest.raises(ValidationError, match=r"unknown alert field 'labelz\.x'"):
        cond(field="labelz.x", exists=True)
    with pytest.raises(ValidationError, match=r"unknown alert field 'labels\.'"):
        cond(field="labels.", exists=True)


# --- operators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"field": "labels.alertname", "equals": "DatabaseConnectionFailures"}, True),
        ({"field": "labels.alertname", "equals": "databaseconnectionfailures"}, False),
        ({"field": "details.value", "equals": 2.5}, True),  # "2.5" from JSON equals 2.5
        ({"field": "details.value", "equals": "2.50"}, True),
        ({"field": "occurrences", "equals": "1"}, True),
        ({"field": "labels.missing", "equals": "x"}, False),
        ({"field": "labels.zone", "not_equals": "b"}, True),
        ({"field": "labels.zone", "not_equals": "a"}, False),
        ({"field": "labels.missing", "not_equals": "a"}, True),  # as Alertmanager's !=
        ({"field": "labels.zone", "in": ["a", "b"]}, True),
        ({"field": "labels.zone", "in": ["b", "c"]}, False),
        ({"field": "details.value", "in": [1, 2.5]}, True),
        ({"field": "labels.missing", "in": ["a"]}, False),
        ({"field": "labels.alertname", "matches": "Database.*"}, True),
        ({"field": "labels.alertname", "matches": "Database"}, False),  # anchored, as =~
        ({"field": "labels.alertname", "matches": "(?i)database.*failures"}, True),
        ({"field": "labels.missing", "matches": ".*"}, False),
        ({"field": "details.value", "greater_than": 1}, True),
        ({"field": "details.value", "greater_than": 2.5}, False),  # strictly greater
        ({"field": "details.value", "less_than": 3}, True),
        ({"field": "details.value", "less_than": 2.5}, False),
        ({"field": "details.value", "greater_than": 2, "less_than": 3}, True),
        ({"field": "details.free space", "greater_than": 0}, False),  # "1%" is not a number
        ({"field": "summary", "greater_than": 0}, False),
        ({"field": "labels.missing", "less_than": 10}, False),
        ({"field": "labels.zone", "exists": True}, True),
        ({"field": "labels.zone", "exists": False}, False),
        ({"field": "labels.missing", "exists": False}, True),
        ({"field": "labels.missing", "exists": True}, False),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    assert holds(spec) is expected


def test_numbers_read_from_strings_and_never_from_anything_else() -> None:
    assert rules.as_number(" 12.5 ") == 12.5
    assert rules.as_number(3) == 3.0
    assert rules.as_number(True) is None
    assert rules.as_number("NaN") is None
    assert rules.as_number("12 ms") is None
    assert rules.as_number({"a": 1}) is None
    assert (
        holds({"field": "details.flag", "greater_than": 0}, facts(details={"flag": True})) is False
    )


def test_booleans_compare_with_their_yaml_spelling() -> None:
    alert = facts(labels={"paging": "true"})
    assert holds({"field": "labels.paging", "equals": True}, alert)
    assert not holds({"field": "labels.paging", "equals": False}, alert)


def test_a_condition_needs_an_operator_and_a_valid_regex() -> None:
    with pytest.raises(ValidationError, match="a condition needs an operator"):
        cond(field="summary")
    with pytest.raises(ValidationError, match="invalid regular expression"):
        cond(field="summary", matches="(unclosed")


def test_bad_regex_in_a_config_file_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "auto_declare:\n"
        "  - name: broken\n"
        "    when:\n"
        "      alert:\n"
        "        - {field: summary, matches: '(oops'}\n"
        "    declare: {severity: SEV1}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    [problem] = caught.value.problems
    assert problem.file.endswith("rules.yaml")
    assert problem.line == 5
    assert problem.field == "auto_declare.0.when.alert.0.matches"
    assert "invalid regular expression" in problem.message


def test_cross_references_are_checked(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text("services:\n  - name: api\n")
    (tmp_path / "rules.yaml").write_text(
        "auto_declare:\n"
        "  - name: one\n"
        "    when: {alert: [{field: summary, exists: true}]}\n"
        "    declare: {severity: SEV9, type: nope, service: ghost}\n"
        "  - name: one\n"
        "    when: {alert_count: {within: 15m, above_baseline: 3, service: ghost}}\n"
        "    declare: {severity: sev2}\n"
        "maintenance_windows:\n"
        "  - {service: ghost, starts_at: 2024-01-01T00:00:00Z, ends_at: 2024-01-01T01:00:00Z}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    found = {(p.field, p.message) for p in caught.value.problems}
    assert ("auto_declare.0.declare.severity", "unknown severity 'SEV9'") in found
    assert ("auto_declare.0.declare.type", "unknown incident type 'nope'") in found
    assert ("auto_declare.0.declare.service", "unknown service 'ghost'") in found
    assert ("auto_declare.1.when.alert_count.service", "unknown service 'ghost'") in found
    assert any(f == "auto_declare.1" and "duplicate name 'one'" in m for f, m in found)
    assert any(f.startswith("maintenance_windows.0") and "ghost" in m for f, m in found)


@pytest.mark.parametrize(
    ("when", "extra", "message"),
    [
        ({}, {}, "exactly one of alert, promql or alert_count"),
        ({"promql": "up == 0", "alert": [{"field": "summary", "exists": True}]}, {}, "exactly one"),
        ({"alert": []}, {}, "at least 1 item"),
        (
            {"alert_count": {"within": "15m", "above_baseline": 3}},
            {"for": "5m"},
            "for does not apply to alert_count",
        ),
        (
            {"alert_count": {"within": "1d", "above_baseline": 3, "baseline": "1h"}},
            {},
            "baseline must be at least as long as within",
        ),
        (
            {"promql": "up == 0"},
            {"declare": {"severity": "SEV1", "service_from": "summary"}},
            "service_from from the series",
        ),
    ],
)
def test_rule_shapes_that_do_not_load(
    when: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    spec: dict[str, Any] = {"name": "r", "when": when, "declare": {"severity": "SEV1"}, **extra}
    with pytest.raises(ValidationError, match=message):
        AutoDeclareRule.model_validate(spec)


# --- alert rules and `for` --------------------------------------------------------------


def rule(**spec: Any) -> AutoDeclareRule:
    base: dict[str, Any] = {
        "name": "error-rate-critical",
        "when": {
            "alert": [
                {"field": "labels.alertname", "equals": "HighErrorRate"},
                {"field": "details.value", "greater_than": 10},
            ]
        },
        "for": "5m",
        "declare": {"severity": "SEV1"},
    }
    base.update(spec)
    return AutoDeclareRule.model_validate(base)


def test_every_condition_must_hold_and_the_values_are_kept() -> None:
    r = rule()
    assert r.when.alert is not None
    high = facts(labels={"alertname": "HighErrorRate"}, details={"value": "12.5"})
    match = rules.match_alert(r.when.alert, high)
    assert match is not None
    assert match.values == {"labels.alertname": "HighErrorRate", "details.value": "12.5"}
    low = facts(labels={"alertname": "HighErrorRate"}, details={"value": "7"})
    assert rules.match_alert(r.when.alert, low) is None
    assert rules.format_values(match.values) == "labels.alertname=HighErrorRate, details.value=12.5"
    assert rules.describe_rule(r) == {
        "alert": ["labels.alertname = HighErrorRate", "details.value > 10"],
        "for": "5 minutes",
    }


def test_for_fires_exactly_at_the_boundary() -> None:
    clock = FakeClock(T0)
    duration = rule().for_
    assert rules.decide(True, duration, T0, clock.now()) is Decision.PENDING
    clock.advance(minutes=4, seconds=59)
    assert rules.decide(True, duration, T0, clock.now()) is Decision.PENDING
    clock.advance(seconds=1)
    assert rules.decide(True, duration, T0, clock.now()) is Decision.FIRE
    assert rules.decide(False, duration, T0, clock.now()) is Decision.NO
    assert rules.due_at(T0, duration) == T0 + timedelta(minutes=5)
    assert rules.seconds_until(T0 + timedelta(minutes=5), T0 + timedelta(minutes=4)) == 60.0
    assert rules.seconds_until(T0, T0 + timedelta(minutes=4)) == 0.0


def test_without_for_a_rule_fires_at_once() -> None:
    assert rules.decide(True, rule(**{"for": 0}).for_, T0, T0) is Decision.FIRE


# --- severity ---------------------------------------------------------------------------


def test_upgrade_only_to_a_more_severe_level(config: WarroomConfig) -> None:
    assert rules.is_more_severe(config, "SEV1", "SEV2")
    assert rules.is_more_severe(config, "sev1", "SEV3")
    assert not rules.is_more_severe(config, "SEV2", "SEV2")
    assert not rules.is_more_severe(config, "SEV3", "SEV1")
    assert rules.is_more_severe(config, "SEV4", "RENAMED")  # an unknown level ranks last
    assert rules.canonical_severity(config, "sev2") == "SEV2"


@pytest.fixture(scope="module")
def config() -> WarroomConfig:
    return load_config(Path(__file__).resolve().parents[2] / "examples")


# --- grouping ---------------------------------------------------------------------------


def incident(id: int, declared_at: datetime, *services: str, **extra: Any) -> OpenIncident:
    return OpenIncident(
        id=id, severity="SEV2", services=set(services), declared_at=declared_at, **extra
    )


def test_service_window_includes_its_edge_and_not_a_second_more() -> None:
    window = AlertGrouping().window
    assert window == timedelta(minutes=30)
    open_ = [incident(1, T0, "database")]
    assert rules.service_window_incident(open_, "database", T0 + window, window) is not None
    assert (
        rules.service_window_incident(open_, "database", T0 + window + timedelta(seconds=1), window)
        is None
    )
    # An alert first seen just before the declaration (same burst) joins too.
    assert rules.service_window_incident(open_, "database", T0 - timedelta(seconds=5), window)
    assert rules.service_window_incident(open_, "search", T0, window) is None


def test_service_window_prefers_the_newest_and_skips_restricted() -> None:
    window = timedelta(minutes=30)
    open_ = [
        incident(1, T0, "database"),
        incident(2, T0 + timedelta(minutes=5), "database"),
        incident(3, T0 + timedelta(minutes=6), "database", restricted=True),
    ]
    found = rules.service_window_incident(open_, "database", T0 + timedelta(minutes=7), window)
    assert found is not None and found.id == 2


def test_explicit_key_is_the_first_field_present() -> None:
    fields = AlertGrouping().key_fields
    assert rules.explicit_key(facts(), fields) is None
    with_label = facts(labels={"incident_key": "checkout-2024"})
    assert rules.explicit_key(with_label, fields) == ("labels.incident_key", "checkout-2024")
    in_details = facts(details={"incident_key": 42})
    assert rules.explicit_key(in_details, fields) == ("details.incident_key", "42")
    blank = facts(labels={"incident_key": "  "})
    assert rules.explicit_key(blank, fields) is None


def test_key_fields_are_labels_or_details() -> None:
    with pytest.raises(ValidationError, match="a key field is labels"):
        AlertGrouping.model_validate({"key_fields": ["summary"]})


def test_same_rule_incident_matches_rule_and_service() -> None:
    open_ = [
        incident(1, T0, "database", declared_by_rule="db"),
        incident(2, T0, "api-gateway", declared_by_rule="db"),
        incident(3, T0, "database", declared_by_rule="other"),
    ]
    found = rules.same_rule_incident(open_, "db", "database")
    assert found is not None and found.id == 1
    assert rules.same_rule_incident(open_, "db", "search") is None
    assert rules.same_rule_incident(open_, "nope", None) is None


# --- alert counts -----------------------------------------------------------------------


def spike_rule(**spec: Any) -> AlertCountCondition:
    base: dict[str, Any] = {
        "integration_type": "report",
        "within": "15m",
        "above_baseline": 3,
        "baseline": "7d",
        "minimum": 5,
    }
    base.update(spec)
    return AlertCountCondition.model_validate(base)


def test_spike_is_above_three_times_the_baseline_average_and_the_minimum() -> None:
    condition = spike_rule()
    periods = 7 * 24 * 4  # fifteen-minute windows in a week
    # A week of 2 tickets per window: the average is 2, the threshold 6.
    assert not rules.spike(condition, 6, 2 * periods).fires
    result = rules.spike(condition, 7, 2 * periods)
    assert result.fires
    assert result.values() == {
        "count": 7,
        "baseline_count": 2 * periods,
        "baseline_average_per_window": 2.0,
        "threshold": 6.0,
    }
    # No history: the minimum decides.
    assert not rules.spike(condition, 4, 0).fires
    assert rules.spike(condition, 5, 0).fires


def test_count_windows_and_once_per_window() -> None:
    condition = spike_rule()
    base_start, window_start, end = rules.count_windows(condition, T0)
    assert (end - window_start, window_start - base_start) == (
        timedelta(minutes=15),
        timedelta(days=7),
    )
    assert rules.count_may_fire_again(None, condition.within, T0)
    assert not rules.count_may_fire_again(T0, condition.within, T0 + timedelta(minutes=14))
    assert rules.count_may_fire_again(T0, condition.within, T0 + timedelta(minutes=15))


# --- PromQL series ----------------------------------------------------------------------


def test_series_hold_for_their_duration_then_fire_once_and_are_forgotten_when_gone() -> None:
    duration = timedelta(minutes=5)
    a = rules.series_subject({"service": "api-gateway"})
    b = rules.series_subject({"service": "search"})
    assert a != b and a == rules.series_subject({"service": "api-gateway"})
    plan = rules.plan_series([], [a], duration, T0)
    assert (plan.start, plan.fire, plan.forget) == ([a], [], [])

    pending = [rules.SeriesState(a, T0, fired=False)]
    plan = rules.plan_series(pending, [a, b], duration, T0 + timedelta(minutes=4, seconds=59))
    assert (plan.start, plan.keep, plan.fire) == ([b], [a], [])
    plan = rules.plan_series(pending, [a], duration, T0 + timedelta(minutes=5))
    assert plan.fire == [a]

    fired = [rules.SeriesState(a, T0, fired=True)]
    plan = rules.plan_series(fired, [a], duration, T0 + timedelta(minutes=6))
    assert (plan.keep, plan.fire) == ([a], [])
    plan = rules.plan_series(fired, [], duration, T0 + timedelta(minutes=7))
    assert plan.forget == [a]


def test_a_series_without_for_fires_on_first_sight() -> None:
    a = rules.series_subject({})
    plan = rules.plan_series([], [a], timedelta(0), T0)
    assert plan.start == [a] and plan.fire == [a]


def test_titles_fill_placeholders() -> None:
    alert = facts()

    def lookup(path: str) -> tuple[bool, Any]:
        return rules.field_value(alert, path)

    assert (
        rules.render_title("DB down on {labels.service}: {summary} {labels.nope}", lookup)
        == "DB down on database: Database connections failing on db-1 {labels.nope}"
    )
    assert len(rules.render_title("x" * 300, lookup)) == 255

    def series(path: str) -> tuple[bool, Any]:
        return rules.series_value({"service": "api"}, 12.5, path)

    assert rules.render_title("{labels.service} at {value}%", series) == "api at 12.5%"


# --- configured maintenance windows -----------------------------------------------------


def test_configured_windows_need_a_service_and_one_kind_of_time() -> None:
    with pytest.raises(ValidationError, match="needs service or services"):
        ConfiguredMaintenance.model_validate(
            {"starts_at": "2024-01-01T00:00:00Z", "ends_at": "2024-01-01T01:00:00Z"}
        )
    with pytest.raises(ValidationError, match="either starts_at and ends_at, or weekly"):
        ConfiguredMaintenance.model_validate({"service": "database"})
    with pytest.raises(ValidationError, match="ends_at must be after starts_at"):
        ConfiguredMaintenance.model_validate(
            {
                "service": "database",
                "starts_at": "2024-01-01T01:00:00Z",
                "ends_at": "2024-01-01T00:00:00Z",
            }
        )
    with pytest.raises(ValidationError, match="in quotes"):
        ConfiguredMaintenance.model_validate(
            {"service": "db", "weekly": {"days": ["sun"], "start": 1350, "duration": "1h"}}
        )
    with pytest.raises(ValidationError, match="unknown time zone"):
        ConfiguredMaintenance.model_validate(
            {
                "service": "db",
                "weekly": {
                    "days": ["sun"],
                    "start": "02:00",
                    "duration": "1h",
                    "timezone": "Mars/Base",
                },
            }
        )
    window = ConfiguredMaintenance.model_validate(
        {
            "services": ["db", "api"],
            "service": "db",
            "weekly": {"days": ["Sun", "wednesday"], "start": "02:00", "duration": "2h"},
        }
    )
    assert window.all_services == ["db", "api"]
    assert window.weekly is not None and window.weekly.days == ["sunday", "wednesday"]


def test_seed_level_names_follow_a_renamed_scheme_by_rank(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    for path in examples.glob("*.yaml"):
        if path.name != "severities.yaml":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "severities.yaml").write_bytes(
        (examples / "alternate-schemes" / "p0-p3.yaml").read_bytes()
    )
    renamed = load_config(tmp_path)
    assert [s.name for s in renamed.severities] == ["P0", "P1", "P2", "P3"]
    assert rules.canonical_severity(renamed, "SEV1") == "P0"
    assert rules.canonical_severity(renamed, "p2") == "P2"
    assert rules.is_more_severe(renamed, "SEV1", "P1")
    assert not rules.is_more_severe(renamed, "SEV2", "P1")
