"""Grafana's webhooks as `AlertEvent`s (pure): unified alerting (Alertmanager-shaped) and
the legacy dashboard alerting (`ruleName`, `state`, `evalMatches`)."""

from __future__ import annotations

import json
from typing import Any

from warroom.alerts.logic import (
    DEDUP_KEY_MAX,
    PD_SUMMARY_MAX,
    Action,
    AlertEvent,
    AlertSeverity,
    InvalidEvent,
    _string,
    labels_fingerprint,
    map_severity,
    parse_time,
)

# --- Grafana Alerting --------------------------------------------------------------------

_GRAFANA_DETAIL_URLS = ("generatorURL", "silenceURL", "dashboardURL", "panelURL", "imageURL")


def parse_grafana(body: Any) -> list[AlertEvent]:
    """One event per alert of a Grafana webhook contact point delivery.

    Unified alerting (Grafana 8+) sends an Alertmanager-shaped body; the legacy dashboard
    alerting sends one rule per body (`ruleName`, `state`). Unknown fields are ignored.
    """
    if not isinstance(body, dict):
        raise InvalidEvent(["body: must be a JSON object"])
    if "alerts" not in body and ("ruleName" in body or "ruleId" in body or "evalMatches" in body):
        return _parse_grafana_legacy(body)
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidEvent(["alerts: must be an array"])
    group_key = body.get("groupKey") if isinstance(body.get("groupKey"), str) else None
    events: list[AlertEvent] = []
    errors: list[str] = []
    for i, alert in enumerate(alerts):
        try:
            events.append(_grafana_alert(alert, body.get("status"), group_key, f"alerts.{i}"))
        except InvalidEvent as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidEvent(errors)
    return events


def _grafana_alert(alert: Any, default_status: Any, group_key: str | None, at: str) -> AlertEvent:
    if not isinstance(alert, dict):
        raise InvalidEvent([f"{at}: must be an object"])
    labels = alert.get("labels") or {}
    if not isinstance(labels, dict):
        raise InvalidEvent([f"{at}.labels: must be an object"])
    annotations = alert.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidEvent([f"{at}.annotations: must be an object"])
    status = alert.get("status", default_status)
    if status not in ("firing", "resolved"):
        raise InvalidEvent([f"{at}.status: must be firing or resolved"])
    try:
        starts_at = parse_time(alert.get("startsAt"))
    except ValueError:
        raise InvalidEvent([f"{at}.startsAt: must be an RFC 3339 time"]) from None
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        fingerprint = labels_fingerprint(labels)
    name = labels.get("alertname")
    summary = annotations.get("summary") or name or annotations.get("description") or "alert"
    where = labels.get("instance") or labels.get("job")
    details: dict[str, Any] = dict(annotations)
    for url in _GRAFANA_DETAIL_URLS:
        if alert.get(url):
            details[url] = alert[url]
    # What the rule saw when it fired: the reason the alert is worth reading.
    if alert.get("values") is not None:
        details["values"] = alert["values"]
    if alert.get("valueString"):
        details["valueString"] = alert["valueString"]
    starts = alert.get("startsAt")
    return AlertEvent(
        action=Action.TRIGGER if status == "firing" else Action.RESOLVE,
        dedup_key=fingerprint[:DEDUP_KEY_MAX],
        summary=_text(summary)[:PD_SUMMARY_MAX],
        source=_string(where) or "grafana",
        severity=map_severity(labels.get("severity")),
        timestamp=starts_at,
        component=_string(labels.get("job")),
        group=_string(name),
        labels={str(k): v for k, v in labels.items()},
        details=details,
        payload=alert,
        group_key=group_key,
        instance=starts[:64] if isinstance(starts, str) and starts else None,
    )


_LEGACY_ACTIONS = {"alerting": Action.TRIGGER, "no_data": Action.TRIGGER, "ok": Action.RESOLVE}


def _parse_grafana_legacy(body: dict[str, Any]) -> list[AlertEvent]:
    state = body.get("state")
    if not isinstance(state, str):
        raise InvalidEvent(["state: must be alerting, ok, no_data, pending or paused"])
    action = _LEGACY_ACTIONS.get(state.lower())
    if action is None:
        return []  # pending and paused rules are not problems (yet)
    rule_id, rule_name = body.get("ruleId"), body.get("ruleName")
    if rule_id is not None and not isinstance(rule_id, bool):
        dedup_key = f"grafana-rule-{rule_id}"
    elif isinstance(rule_name, str) and rule_name:
        dedup_key = f"grafana-rule-{rule_name}"
    else:
        raise InvalidEvent(["ruleId: ruleId or ruleName is needed to follow the rule"])
    raw_tags = body.get("tags")
    tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
    no_data = state.lower() == "no_data"
    summary = body.get("title") or rule_name or dedup_key
    if no_data:
        summary = f"{summary} (no data)"
    details: dict[str, Any] = {}
    for name in ("message", "ruleUrl", "imageUrl", "evalMatches", "dashboardId", "panelId"):
        if body.get(name) not in (None, "", []):
            details[name] = body[name]
    return [
        AlertEvent(
            action=action,
            dedup_key=dedup_key[:DEDUP_KEY_MAX],
            summary=_text(summary)[:PD_SUMMARY_MAX],
            source="grafana",
            severity=map_severity(
                tags.get("severity"), AlertSeverity.WARNING if no_data else AlertSeverity.ERROR
            ),
            group=_string(rule_name),
            labels={str(k): v for k, v in tags.items()},
            details=details,
            payload=body,
        )
    ]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
