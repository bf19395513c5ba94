"""PagerDuty change events (`POST /v2/change/enqueue`), validated; and which changes count as
"recent" for an incident (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from warroom.alerts.logic import InvalidEvent, parse_time, routing_key_problem

SUMMARY_MAX = 1024  # PagerDuty's limit for `payload.summary`
SOURCE_MAX = 255
LINKS_MAX = 20
LINK_TEXT_MAX = 1024
HREF_MAX = 2048

# Changes this long before an incident's declaration are its "recent changes".
RECENT_WINDOW = timedelta(hours=24)
# How many of them go on the timeline at declaration (the newest); the API lists them all.
RECENT_ON_TIMELINE = 10
# A change stamped a little after the declaration is a skewed clock, not the future.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ChangeEvent:
    summary: str
    source: str | None = None
    timestamp: datetime | None = None
    custom_details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _links(value: Any, errors: list[str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("'links' must be an array")
        return []
    if len(value) > LINKS_MAX:
        errors.append(f"'links' has too many elements (max {LINKS_MAX})")
        return []
    links: list[dict[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(f"'links.{i}' must be an object with 'href'")
            continue
        href, text = item.get("href"), item.get("text")
        if _blank(href) or not isinstance(href, str):
            errors.append(f"'links.{i}.href' is missing or blank")
            continue
        if len(href) > HREF_MAX:
            errors.append(f"'links.{i}.href' is too long (max {HREF_MAX} characters)")
            continue
        link = {"href": href}
        if text is not None:
            if not isinstance(text, str):
                errors.append(f"'links.{i}.text' must be a string")
                continue
            link["text"] = text[:LINK_TEXT_MAX]
        links.append(link)
    return links


def parse_change_event(body: Any) -> tuple[str, ChangeEvent]:
    """Validate a change event; return (routing_key, event) or raise InvalidEvent with every
    problem, in PagerDuty's words."""
    if not isinstance(body, dict):
        raise InvalidEvent(["Event object must be a JSON object"])
    errors: list[str] = []
    routing_key = body.get("routing_key")
    problem = routing_key_problem(routing_key)
    if problem:
        errors.append(problem)
    payload = body.get("payload")
    summary, source, timestamp, details = "", None, None, {}
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or blank")
    else:
        raw_summary = payload.get("summary")
        if _blank(raw_summary):
            errors.append("'payload.summary' is missing or blank")
        elif not isinstance(raw_summary, str):
            errors.append("'payload.summary' must be a string")
        elif len(raw_summary) > SUMMARY_MAX:
            errors.append(f"'payload.summary' is too long (max {SUMMARY_MAX} characters)")
        else:
            summary = raw_summary
        raw_source = payload.get("source")
        if raw_source is not None and not isinstance(raw_source, str):
            errors.append("'payload.source' must be a string")
        elif isinstance(raw_source, str) and raw_source.strip():
            source = raw_source.strip()[:SOURCE_MAX]
        raw_time = payload.get("timestamp")
        if raw_time is not None and not isinstance(raw_time, str):
            errors.append("'payload.timestamp' must be a string (ISO 8601 with an offset)")
        else:
            try:
                timestamp = parse_time(raw_time)
            except ValueError:
                errors.append("'payload.timestamp' is invalid (must be ISO 8601 with an offset)")
        raw_details = payload.get("custom_details")
        if isinstance(raw_details, dict):
            details = raw_details
        elif raw_details is not None:
            details = {"custom_details": raw_details}
    links = _links(body.get("links"), errors)
    if errors:
        raise InvalidEvent(errors)
    assert isinstance(routing_key, str)
    return routing_key, ChangeEvent(
        summary=summary, source=source, timestamp=timestamp, custom_details=details, links=links
    )


def recent_range(declared_at: datetime) -> tuple[datetime, datetime]:
    """The times between which a change counts as recent for an incident declared then."""
    return declared_at - RECENT_WINDOW, declared_at + CLOCK_SKEW


def timeline_text(*, service: str, summary: str, recent: bool) -> str:
    prefix = "Recent change" if recent else "Change"
    return f"{prefix} on {service}: {summary}"
