"""Grafana, generic webhook and user-report parsing; the path language; the rate limiter."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from warroom.alerts.grafana import parse_grafana
from warroom.alerts.jsonpath import Index, Key, PathError, Wildcard, compile_path
from warroom.alerts.logic import Action, AlertSeverity, InvalidEvent
from warroom.alerts.ratelimit import RateLimiter, TokenBucket
from warroom.alerts.reports import ProblemReport, report_event, report_fingerprint
from warroom.alerts.webhook import (
    DEFAULT_MAPPING,
    WebhookMapping,
    check_webhook_settings,
    load_mapping,
    mapping_errors,
    parse_webhook,
)
from warroom.clock import FakeMonotonic
from warroom.errors import ValidationFailed

# --- the path language --------------------------------------------------------------------

DOC = {
    "a": {"b": 1, "list": [10, 20, 30]},
    "items": [{"name": "first"}, {"name": "second"}, {"other": True}],
    "weird key": {"x.y": "dotted"},
    "empty": [],
    "null": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", [DOC]),
        ("$.a.b", [1]),
        ("$.a.list[0]", [10]),
        ("$.a.list[-1]", [30]),
        ("$.a.list[3]", []),
        ("$.a.list[-4]", []),
        ("$.items[0].name", ["first"]),
        ("$.items[*].name", ["first", "second"]),
        ("$.items[*]", DOC["items"]),
        ("$.a.*", [1, [10, 20, 30]]),
        ("$['weird key']['x.y']", ["dotted"]),
        ('$["weird key"]["x.y"]', ["dotted"]),
        ("$.missing.deeper", []),
        ("$.a.b.c", []),  # through a number
        ("$.a[0]", []),  # an index on an object
        ("$.a.b[*]", []),  # a wildcard on a scalar
        ("$.empty[*]", []),
        ("$.null", [None]),
    ],
)
def test_path_finds(path: str, expected: list[Any]) -> None:
    assert compile_path(path).find(DOC) == expected


def test_path_roots_and_bare_names() -> None:
    item = {"title": "the item"}
    body = {"title": "the body", "items": [item]}
    assert compile_path("@.title").find(body, item) == ["the item"]
    assert compile_path("$.title").find(body, item) == ["the body"]
    assert compile_path("title").find(body, item) == ["the item"]
    assert compile_path("@").find(body, item) == [item]
    # Without a current event, `@` is the body.
    assert compile_path("@.title").find(body) == ["the body"]


def test_path_steps_and_multiplicity() -> None:
    path = compile_path("$.alerts[*].labels['team name'][2]")
    assert path.steps == (Key("alerts"), Wildcard(), Key("labels"), Key("team name"), Index(2))
    assert path.multiple
    assert not compile_path("$.a.b").multiple
    assert compile_path("$.a.*").multiple


def test_path_container_exists_tells_empty_from_missing() -> None:
    assert compile_path("$.empty[*]").container_exists(DOC)
    assert not compile_path("$.nothing[*]").container_exists(DOC)


@pytest.mark.parametrize(
    "bad", ["", "   ", "$.", "$..a", "$.a[", "$.a[x]", "$.a[1", "$a", "$.a]", "$.a['x]", "$ .a"]
)
def test_path_syntax_errors(bad: str) -> None:
    with pytest.raises(PathError):
        compile_path(bad)


def test_path_escaped_quotes() -> None:
    assert compile_path(r"$['it\'s']").find({"it's": 1}) == [1]


# --- Grafana ------------------------------------------------------------------------------

GRAFANA = {
    "receiver": "warroom",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "High memory usage",
                "team": "blue",
                "zone": "us-1",
                "severity": "warning",
                "instance": "web-1",
            },
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://runbooks.example/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example/alerting/silence/new",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.2 ]",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "High CPU usage", "team": "blue"},
            "annotations": {},
            "startsAt": "2021-10-12T09:56:03.157076+02:00",
            "endsAt": "2021-10-12T10:01:03Z",
            "fingerprint": "bc97ff14869b13e3",
        },
    ],
    "groupLabels": {"alertname": "High memory usage"},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "groupKey": '{}/{}:{alertname="High memory usage"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] High memory usage",
    "state": "alerting",
    "message": "**Firing** ...",
    "aNewField": {"ignored": True},
}


def test_grafana_unified_alerts() -> None:
    firing, resolved = parse_grafana(GRAFANA)
    assert firing.action is Action.TRIGGER
    assert firing.dedup_key == "c6eadffa33fcdf37"
    assert firing.summary == "This alert was triggered for zone us-1"
    assert firing.severity is AlertSeverity.WARNING
    assert firing.source == "web-1"
    assert firing.group == "High memory usage"
    assert firing.group_key == '{}/{}:{alertname="High memory usage"}'
    assert firing.timestamp == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert firing.labels["team"] == "blue"
    assert firing.details["values"] == {"B": 44.23943737541908, "C": 1}
    assert firing.details["valueString"] == "[ var='B' labels={} value=44.2 ]"
    assert firing.details["silenceURL"].endswith("/silence/new")
    assert "dashboardURL" not in firing.details  # empty URLs are noise
    assert firing.instance == "2021-10-12T09:51:03.157076+02:00"

    assert resolved.action is Action.RESOLVE
    assert resolved.dedup_key == "bc97ff14869b13e3"
    assert resolved.summary == "High CPU usage"  # no summary annotation: the alert name
    assert resolved.severity is AlertSeverity.ERROR  # no severity label
    assert resolved.source == "grafana"


def test_grafana_without_fingerprint_uses_the_labels() -> None:
    body = copy.deepcopy(GRAFANA)
    del body["alerts"][0]["fingerprint"]
    again = copy.deepcopy(body)
    again["alerts"][0]["labels"] = dict(reversed(list(body["alerts"][0]["labels"].items())))
    assert parse_grafana(body)[0].dedup_key == parse_grafana(again)[0].dedup_key


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(alerts="nope"), "alerts"),
        (lambda b: b["alerts"].__setitem__(1, "nope"), "alerts.1"),
        (lambda b: b["alerts"][0].update(status="sideways"), "alerts.0.status"),
        (lambda b: b["alerts"][1].update(labels=["x"]), "alerts.1.labels"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
    ],
)
def test_grafana_errors_name_the_field(mutate: Any, field: str) -> None:
    body = copy.deepcopy(GRAFANA)
    mutate(body)
    with pytest.raises(InvalidEvent) as caught:
        parse_grafana(body)
    assert caught.value.errors[0].split(":")[0] == field


def test_grafana_empty_and_non_object() -> None:
    assert parse_grafana({**GRAFANA, "alerts": []}) == []
    with pytest.raises(InvalidEvent):
        parse_grafana(["not", "an", "object"])


LEGACY = {
    "dashboardId": 1,
    "evalMatches": [{"value": 100, "metric": "High value", "tags": None}],
    "imageUrl": "https://grafana.example/render.png",
    "message": "Notification Message",
    "orgId": 1,
    "panelId": 2,
    "ruleId": 7,
    "ruleName": "Panel Title alert",
    "ruleUrl": "http://grafana.example/d/x?tab=alert",
    "state": "alerting",
    "tags": {"severity": "critical", "team": "db"},
    "title": "[Alerting] Panel Title alert",
}


def test_grafana_legacy_alerting_and_ok() -> None:
    [event] = parse_grafana(LEGACY)
    assert event.action is Action.TRIGGER
    assert event.dedup_key == "grafana-rule-7"
    assert event.summary == "[Alerting] Panel Title alert"
    assert event.severity is AlertSeverity.CRITICAL
    assert event.details["evalMatches"][0]["value"] == 100
    assert event.labels == {"severity": "critical", "team": "db"}
    [ok] = parse_grafana({**LEGACY, "state": "ok", "title": "[OK] Panel Title alert"})
    assert ok.action is Action.RESOLVE and ok.dedup_key == "grafana-rule-7"


def test_grafana_legacy_no_data_pending_and_rule_name() -> None:
    [no_data] = parse_grafana({**LEGACY, "state": "no_data", "tags": {}})
    assert no_data.action is Action.TRIGGER
    assert no_data.severity is AlertSeverity.WARNING
    assert no_data.summary.endswith("(no data)")
    assert parse_grafana({**LEGACY, "state": "pending"}) == []
    assert parse_grafana({**LEGACY, "state": "paused"}) == []
    by_name = {k: v for k, v in LEGACY.items() if k != "ruleId"}
    assert parse_grafana(by_name)[0].dedup_key == "grafana-rule-Panel Title alert"
    with pytest.raises(InvalidEvent) as caught:
        parse_grafana({**LEGACY, "state": 3})
    assert caught.value.errors[0].startswith("state:")


# --- generic webhook ---------------------------------------------------------------------


def test_default_mapping_reads_the_usual_names() -> None:
    [event] = parse_webhook(
        {
            "title": "Disk full on db-1",
            "source": "db-1",
            "severity": "critical",
            "id": "disk-db-1",
            "status": "firing",
            "timestamp": 1710495000,
            "labels": {"team": "sre"},
            "details": {"free": "0%"},
        }
    )
    assert event.action is Action.TRIGGER
    assert event.summary == "Disk full on db-1"
    assert event.source == "db-1"
    assert event.severity is AlertSeverity.CRITICAL
    assert event.dedup_key == "disk-db-1"
    assert event.timestamp == datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    assert event.labels == {"team": "sre"}
    assert event.details == {"free": "0%"}
    assert event.payload["id"] == "disk-db-1"


def test_default_mapping_resolve_and_summary_fallbacks() -> None:
    [event] = parse_webhook({"message": "Backup failed", "dedup_key": "b1", "action": "resolved"})
    assert event.action is Action.RESOLVE
    assert event.summary == "Backup failed"
    [blank_title] = parse_webhook({"title": "  ", "message": "from message", "id": 3})
    assert blank_title.summary == "from message"
    assert blank_title.dedup_key == "3"
    assert blank_title.severity is AlertSeverity.ERROR  # no severity: the default


def test_without_a_key_the_same_text_is_the_same_alert() -> None:
    first = parse_webhook({"summary": "Queue stuck", "source": "worker"})[0]
    again = parse_webhook({"summary": "Queue stuck", "source": "worker"})[0]
    other = parse_webhook({"summary": "Queue stuck", "source": "other"})[0]
    assert first.dedup_key == again.dedup_key != other.dedup_key
    assert first.dedup_key.startswith("auto-")
    resolve = parse_webhook({"summary": "Queue stuck", "source": "worker", "status": "ok"})[0]
    assert resolve.action is Action.RESOLVE and resolve.dedup_key == first.dedup_key


def test_a_top_level_array_is_one_event_per_element() -> None:
    events = parse_webhook([{"title": "a", "id": 1}, {"title": "b", "id": 2}])
    assert [e.summary for e in events] == ["a", "b"]


def test_mapping_with_split_paths_and_root() -> None:
    mapping = WebhookMapping.model_validate(
        {
            "events": "$.data.checks[*]",
            "summary": ["@.text", "@.name"],
            "source": "$.meta.host",  # from the whole body
            "dedup_key": "@.check_id",
            "severity": "@.level",
            "action": "@.state",
            "labels": "@.tags",
            "details": "@",
            "component": "@.tags.component",
            "severity_map": {"RED": "critical", "Amber": "warning"},
            "action_map": {"bad": "trigger", "good": "resolve"},
        }
    )
    body = {
        "meta": {"host": "checker-1"},
        "data": {
            "checks": [
                {"check_id": "c1", "name": "HTTP /", "level": "red", "state": "bad", "tags": {}},
                {
                    "check_id": "c2",
                    "text": "TLS expiry",
                    "level": "amber",
                    "state": "good",
                    "tags": {"component": "edge"},
                },
            ]
        },
    }
    first, second = parse_webhook(body, mapping)
    assert (first.summary, first.severity, first.action) == (
        "HTTP /",
        AlertSeverity.CRITICAL,
        Action.TRIGGER,
    )
    assert first.source == second.source == "checker-1"
    assert (second.summary, second.severity, second.action) == (
        "TLS expiry",
        AlertSeverity.WARNING,
        Action.RESOLVE,
    )
    assert second.component == "edge"
    assert second.details["check_id"] == "c2"


def test_events_path_without_a_wildcard_splits_an_array() -> None:
    mapping = WebhookMapping.model_validate({"events": "$.alerts"})
    assert len(parse_webhook({"alerts": [{"title": "x"}, {"title": "y"}]}, mapping)) == 2


def test_events_path_that_matches_nothing() -> None:
    mapping = WebhookMapping.model_validate({"events": "$.alerts[*]"})
    assert parse_webhook({"alerts": []}, mapping) == []
    with pytest.raises(InvalidEvent) as caught:
        parse_webhook({"other": []}, mapping)
    assert caught.value.errors[0].startswith("mapping.events:")


def test_wildcard_field_paths_join_their_values() -> None:
    mapping = WebhookMapping.model_validate({"summary": "$.errors[*].msg", "dedup_key": "$.id"})
    [event] = parse_webhook({"id": "x", "errors": [{"msg": "a"}, {"msg": "b"}]}, mapping)
    assert event.summary == "a, b"


@pytest.mark.parametrize(
    ("body", "mapping", "field"),
    [
        ({"id": 1}, {}, "mapping.summary"),
        ({"title": "x", "status": "sideways"}, {}, "mapping.action"),
        ({"title": "x", "timestamp": "yesterday"}, {}, "mapping.timestamp"),
        ({"title": "x", "timestamp": "2024-03-15T09:30:00"}, {}, "mapping.timestamp"),  # no offset
        ({"title": "x", "labels": ["a"]}, {}, "mapping.labels"),
        ({"status": "resolved"}, {}, "mapping.dedup_key"),
        ({"msg": "x"}, {"summary": "$.text"}, "mapping.summary"),
    ],
)
def test_webhook_errors_name_the_mapping_field(
    body: Any, mapping: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_webhook(body, WebhookMapping.model_validate(mapping))
    assert caught.value.errors[0].split(":")[0] == field


def test_webhook_errors_say_which_event() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_webhook([{"title": "fine"}, {"id": 2}])
    assert caught.value.errors == [
        "mapping.summary: no value at " + ", ".join(DEFAULT_MAPPING.summary) + " (event 1)"
    ]


def test_webhook_rejects_a_scalar_body() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_webhook("just text")
    assert caught.value.errors[0].startswith("body:")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("critical", AlertSeverity.CRITICAL),
        ("CRITICAL", AlertSeverity.CRITICAL),
        ("page", AlertSeverity.CRITICAL),
        ("P1", AlertSeverity.CRITICAL),
        ("sev2", AlertSeverity.ERROR),
        ("high", AlertSeverity.ERROR),
        ("warn", AlertSeverity.WARNING),
        ("P3", AlertSeverity.WARNING),
        ("info", AlertSeverity.INFO),
        ("debug", AlertSeverity.INFO),
        ("weird", AlertSeverity.ERROR),  # unknown: the mapping's default
        (5, AlertSeverity.ERROR),
    ],
)
def test_webhook_severity_words(value: Any, expected: AlertSeverity) -> None:
    assert parse_webhook({"title": "x", "severity": value})[0].severity is expected


def test_mapping_defaults_and_turning_fields_off() -> None:
    mapping = WebhookMapping.model_validate(
        {
            "action": [],
            "severity": None,
            "defaults": {"source": "nightly-backup", "severity": "warning", "summary": "Backup"},
        }
    )
    [event] = parse_webhook({"status": "resolved", "severity": "critical"}, mapping)
    assert event.action is Action.TRIGGER  # action turned off: always the default
    assert event.severity is AlertSeverity.WARNING
    assert event.source == "nightly-backup"
    assert event.summary == "Backup"


def test_long_keys_are_hashed_and_long_summaries_cut() -> None:
    [event] = parse_webhook({"title": "x" * 5000, "id": "k" * 300})
    assert len(event.summary) == 1024
    assert event.dedup_key.startswith("sha256-") and len(event.dedup_key) <= 255


def test_epoch_milliseconds() -> None:
    [event] = parse_webhook({"title": "x", "time": 1710495000000})
    assert event.timestamp == datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def test_mapping_validation_names_the_field() -> None:
    problems = dict(
        mapping_errors(
            {
                "summary": "$..x",
                "class": 3,
                "severity_map": {"red": "apocalyptic"},
                "surprise": 1,
                "events": "$[",
            }
        )
    )
    assert set(problems) == {
        "mapping.summary",
        "mapping.class",
        "mapping.severity_map.red",
        "mapping.surprise",
        "mapping.events",
    }
    assert "position 1" in problems["mapping.summary"]
    assert mapping_errors(None) == []
    assert mapping_errors({}) == []
    assert mapping_errors("nope") == [("mapping", "must be an object")]


def test_check_webhook_settings_and_load_mapping() -> None:
    check_webhook_settings({})
    check_webhook_settings({"mapping": {"summary": "$.x"}})
    with pytest.raises(ValidationFailed) as caught:
        check_webhook_settings({"mapping": {"summary": "$."}})
    assert caught.value.details["field"] == "settings.mapping.summary"
    assert load_mapping(None) is DEFAULT_MAPPING
    with pytest.raises(InvalidEvent) as bad:
        load_mapping({"nope": 1})
    assert bad.value.errors[0].startswith("settings.mapping.nope:")


# --- user reports -----------------------------------------------------------------------


def test_report_event() -> None:
    report = ProblemReport.model_validate(
        {
            "service": "payment-service",
            "summary": "  Checkout spins forever ",
            "description": "Since 10:00, card payments hang.",
            "email": "Ann@Example.com",
        }
    )
    event = report_event(report, dedup_key="abc")
    assert event.action is Action.TRIGGER
    assert event.summary == "User report: Checkout spins forever"
    assert event.source == "user report"
    assert event.severity is AlertSeverity.WARNING
    assert event.details == {
        "description": "Since 10:00, card payments hang.",
        "reporter_email": "ann@example.com",
    }
    assert "website" not in event.payload


def test_report_fingerprint_is_reporter_service_and_text() -> None:
    base = {"service": "search", "summary": "No results", "description": "none at all"}
    a = ProblemReport.model_validate(base)
    spaced = ProblemReport.model_validate({**base, "summary": "no   results"})
    other_text = ProblemReport.model_validate({**base, "description": "some"})
    other_service = ProblemReport.model_validate({**base, "service": "web-app"})
    assert report_fingerprint(a, "ip:1") == report_fingerprint(spaced, "ip:1")
    assert report_fingerprint(a, "ip:1") != report_fingerprint(a, "ip:2")
    assert report_fingerprint(a, "ip:1") != report_fingerprint(other_text, "ip:1")
    assert report_fingerprint(a, "ip:1") != report_fingerprint(other_service, "ip:1")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"summary": "x"}, "service"),
        ({"service": "s", "summary": "   "}, "summary"),
        ({"service": "s", "summary": "x" * 201}, "summary"),
        ({"service": "s", "summary": "x", "description": "d" * 5001}, "description"),
        ({"service": "s", "summary": "x", "email": "not-an-email"}, "email"),
    ],
)
def test_report_limits(data: dict[str, Any], field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        ProblemReport.model_validate(data)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_report_at_the_limits_and_honeypot() -> None:
    report = ProblemReport.model_validate(
        {"service": "s", "summary": "x" * 200, "description": "d" * 5000}
    )
    assert not report.is_bot
    assert ProblemReport.model_validate({"service": "s", "summary": "x", "website": "spam"}).is_bot


# --- rate limiting ------------------------------------------------------------------------


def test_per_client_bucket_allows_a_burst_then_refills() -> None:
    time = FakeMonotonic(1000.0)
    limiter = RateLimiter(time, per_client=5, overall=120, per_seconds=60)
    assert [limiter.acquire("1.2.3.4") for _ in range(5)] == [0.0] * 5
    wait = limiter.acquire("1.2.3.4")
    assert wait == pytest.approx(12.0)  # one token every 12 s
    assert limiter.acquire("5.6.7.8") == 0.0  # another client is not affected
    time.now += 11.9
    assert limiter.acquire("1.2.3.4") > 0
    time.now += 0.1
    assert limiter.acquire("1.2.3.4") == 0.0
    assert limiter.acquire("1.2.3.4") > 0


def test_global_bucket_caps_all_clients() -> None:
    time = FakeMonotonic(1000.0)
    limiter = RateLimiter(time, per_client=5, overall=10, per_seconds=60)
    allowed = [limiter.acquire(f"10.0.0.{i}") == 0.0 for i in range(20)]
    assert allowed == [True] * 10 + [False] * 10
    time.now += 6  # one global token back
    assert limiter.acquire("10.0.0.99") == 0.0
    assert limiter.acquire("10.0.0.98") > 0


def test_a_refused_request_costs_nothing() -> None:
    time = FakeMonotonic(1000.0)
    limiter = RateLimiter(time, per_client=1, overall=100, per_seconds=60)
    assert limiter.acquire("a") == 0.0
    for _ in range(10):
        assert limiter.acquire("a") > 0
    time.now += 60
    assert limiter.acquire("a") == 0.0


def test_bucket_memory_stays_bounded() -> None:
    bucket = TokenBucket(5, 60, max_keys=100)
    for i in range(1000):
        bucket.take(f"client-{i}", now=float(i))
    assert len(bucket) <= 100
    # The latest client keeps its state: one token spent before, four now, none left.
    for _ in range(4):
        bucket.take("client-999", now=999.0)
    assert bucket.wait("client-999", now=999.0) > 0
