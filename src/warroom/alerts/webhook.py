"""The generic JSON webhook as `AlertEvent`s (pure), read through a per-integration field
mapping written in the `jsonpath` language."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from warroom.alerts.jsonpath import (
    PathError,
    compile_path,
)
from warroom.alerts.logic import (
    DEDUP_KEY_MAX,
    PD_SUMMARY_MAX,
    Action,
    AlertEvent,
    AlertSeverity,
    InvalidEvent,
    labels_fingerprint,
    map_severity,
    parse_time,
)
from warroom.errors import ValidationFailed

# --- generic webhook: the mapping --------------------------------------------------------

PathList = Annotated[list[str], Field(max_length=16)]

# Words senders use for "a problem began", "someone is on it" and "it is over".
_ACTION_WORDS: dict[str, Action] = {
    **dict.fromkeys(
        ("trigger", "triggered", "firing", "fire", "alert", "alerting", "problem", "open",
         "opened", "down", "critical", "error", "failed", "failure", "new", "raised"),
        Action.TRIGGER,
    ),
    **dict.fromkeys(
        ("acknowledge", "acknowledged", "ack", "acked"),
        Action.ACKNOWLEDGE,
    ),
    **dict.fromkeys(
        ("resolve", "resolved", "ok", "up", "closed", "close", "recovered", "recovery",
         "normal", "cleared", "clear", "success", "succeeded", "fixed"),
        Action.RESOLVE,
    ),
}  # fmt: skip

# Beyond Alertmanager's words: syslog levels and P1-P5 / SEV1-SEV4 style priorities.
_EXTRA_SEVERITY_WORDS: dict[str, AlertSeverity] = {
    **dict.fromkeys(
        ("fatal", "emergency", "emerg", "alert", "crit", "p1", "sev1", "sev-1", "disaster"),
        AlertSeverity.CRITICAL,
    ),
    **dict.fromkeys(("err", "p2", "sev2", "sev-2", "severe"), AlertSeverity.ERROR),
    **dict.fromkeys(("p3", "sev3", "sev-3", "average", "moderate"), AlertSeverity.WARNING),
    **dict.fromkeys(
        ("p4", "p5", "sev4", "sev-4", "notice", "debug", "informational", "information"),
        AlertSeverity.INFO,
    ),
}


class MappingDefaults(BaseModel):
    """Values used when every path of a field finds nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str | None = Field(default=None, max_length=PD_SUMMARY_MAX)
    source: str | None = Field(default=None, max_length=255)
    severity: AlertSeverity = AlertSeverity.ERROR
    action: Action = Action.TRIGGER


class WebhookMapping(BaseModel):
    """Where each alert field is found in a webhook body.

    Every field takes one path or a list of paths: the first that finds a value wins.
    Fields left out keep the default paths below; `[]` turns a field off. `@` is the
    current event (the body, or one element of `events`), `$` is always the whole body.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    events: str | None = None
    summary: PathList = ["@.summary", "@.title", "@.message", "@.text", "@.description"]
    source: PathList = ["@.source", "@.host", "@.hostname"]
    severity: PathList = ["@.severity", "@.level", "@.priority"]
    dedup_key: PathList = ["@.dedup_key", "@.id", "@.key", "@.fingerprint"]
    action: PathList = ["@.action", "@.event_action", "@.status", "@.state"]
    timestamp: PathList = ["@.timestamp", "@.time", "@.date"]
    component: PathList = ["@.component"]
    group: PathList = ["@.group"]
    class_: PathList = Field(default=["@.class"], alias="class")
    labels: PathList = ["@.labels"]
    details: PathList = ["@.details", "@.custom_details"]
    severity_map: dict[str, AlertSeverity] = Field(default_factory=dict, max_length=64)
    action_map: dict[str, Action] = Field(default_factory=dict, max_length=64)
    defaults: MappingDefaults = MappingDefaults()

    @field_validator(
        "summary", "source", "severity", "dedup_key", "action", "timestamp",
        "component", "group", "class_", "labels", "details", mode="before",
    )  # fmt: skip
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise ValueError("must be a path or a list of paths")
        return value

    @field_validator(
        "summary", "source", "severity", "dedup_key", "action", "timestamp",
        "component", "group", "class_", "labels", "details",
    )  # fmt: skip
    @classmethod
    def _paths_compile(cls, value: list[str]) -> list[str]:
        for i, text in enumerate(value):
            try:
                compile_path(text)
            except PathError as exc:
                raise ValueError(f"path {i}: {exc}") from None
        return value

    @field_validator("events")
    @classmethod
    def _events_compile(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_path(value)
            except PathError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("severity_map", "action_map")
    @classmethod
    def _lower_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k.strip().lower(): v for k, v in value.items()}


DEFAULT_MAPPING = WebhookMapping()


def mapping_errors(raw: Any) -> list[tuple[str, str]]:
    """Problems with a mapping as (field, message), fields named `mapping.<field>`; [] if fine."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [("mapping", "must be an object")]
    try:
        WebhookMapping.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if loc and loc[0] == "class_":
                loc[0] = "class"
            where = ".".join(["mapping", *loc])
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append((where, message))
        return problems
    return []


def check_webhook_settings(settings: dict[str, Any] | None) -> None:
    """Refuse a webhook integration whose `settings.mapping` is not a valid mapping."""
    problems = mapping_errors((settings or {}).get("mapping"))
    if problems:
        where, message = problems[0]
        raise ValidationFailed(
            f"settings.{where}: {message}",
            field=f"settings.{where}",
            details={"errors": [f"settings.{w}: {m}" for w, m in problems]},
        )


def load_mapping(raw: Any) -> WebhookMapping:
    """The mapping stored in an integration's settings (None: the default mapping)."""
    if raw is None:
        return DEFAULT_MAPPING
    problems = mapping_errors(raw)
    if problems:
        raise InvalidEvent([f"settings.{where}: {message}" for where, message in problems])
    return WebhookMapping.model_validate(raw)


_MISSING = object()


class _Reader:
    """Reads the fields of one event, collecting errors that name the mapping field."""

    def __init__(self, body: Any, item: Any, where: str) -> None:
        self.body, self.item, self.where = body, item, where
        self.errors: list[str] = []

    def value(self, paths: Sequence[str]) -> Any:
        """The first value a path finds (blank strings do not count), else _MISSING."""
        for text in paths:
            path = compile_path(text)
            found = [v for v in path.find(self.body, self.item) if v is not None]
            if path.multiple:
                if found:
                    return found
            elif found and not (isinstance(found[0], str) and not found[0].strip()):
                return found[0]
        return _MISSING

    def fail(self, field: str, message: str) -> None:
        self.errors.append(f"mapping.{field}: {message}{self.where}")


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value)
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, default=str)


def _as_time(value: Any) -> datetime:
    if isinstance(value, list):
        value = value[0]
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds are common
        return datetime.fromtimestamp(seconds, UTC)
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("not a time")
    return parsed


def _paths_text(paths: Sequence[str]) -> str:
    return ", ".join(paths) if paths else "(no paths)"


def webhook_event(mapping: WebhookMapping, body: Any, item: Any, where: str = "") -> AlertEvent:
    """Read one event from `item` (the body itself, or one element of `mapping.events`)."""
    m = mapping
    r = _Reader(body, item, where)

    action = m.defaults.action
    raw_action = r.value(m.action)
    if raw_action is not _MISSING:
        word = _as_text(raw_action).lower()
        mapped = m.action_map.get(word) or _ACTION_WORDS.get(word)
        if mapped is None:
            r.fail(
                "action",
                f"unknown action {word[:40]!r} found at {_paths_text(m.action)} "
                "(use trigger, acknowledge or resolve, or map it with action_map)",
            )
        else:
            action = mapped

    severity = m.defaults.severity
    raw_severity = r.value(m.severity)
    if raw_severity is not _MISSING:
        word = _as_text(raw_severity).lower()
        severity = (
            m.severity_map.get(word)
            or _EXTRA_SEVERITY_WORDS.get(word)
            or map_severity(word, m.defaults.severity)
        )

    raw_summary = r.value(m.summary)
    summary = _as_text(raw_summary) if raw_summary is not _MISSING else (m.defaults.summary or "")
    if not summary and action is Action.TRIGGER:
        r.fail("summary", f"no value at {_paths_text(m.summary)}")

    raw_source = r.value(m.source)
    source = _as_text(raw_source)[:255] if raw_source is not _MISSING else m.defaults.source

    raw_key = r.value(m.dedup_key)
    if raw_key is not _MISSING:
        dedup_key = _as_text(raw_key)
    elif summary or action is Action.TRIGGER:
        # No key in the body: the same problem (summary and source) is the same alert, so
        # repeats count as occurrences and a resolve with the same text closes it.
        dedup_key = "auto-" + labels_fingerprint({"summary": summary, "source": source or ""})
    else:
        r.fail("dedup_key", f"no value at {_paths_text(m.dedup_key)} and no summary to derive one")
        dedup_key = ""
    if len(dedup_key) > DEDUP_KEY_MAX:
        dedup_key = "sha256-" + hashlib.sha256(dedup_key.encode()).hexdigest()

    timestamp = None
    raw_time = r.value(m.timestamp)
    if raw_time is not _MISSING:
        try:
            timestamp = _as_time(raw_time)
        except (ValueError, OverflowError, OSError):
            r.fail("timestamp", f"not an ISO 8601 time with an offset nor epoch seconds at "
                   f"{_paths_text(m.timestamp)}")  # fmt: skip

    labels: dict[str, Any] = {}
    raw_labels = r.value(m.labels)
    if raw_labels is not _MISSING:
        if isinstance(raw_labels, dict):
            labels = {str(k): v for k, v in raw_labels.items()}
        else:
            r.fail("labels", f"the value at {_paths_text(m.labels)} must be an object")

    details: dict[str, Any] = {}
    raw_details = r.value(m.details)
    if raw_details is not _MISSING:
        details = raw_details if isinstance(raw_details, dict) else {"details": raw_details}

    def optional(paths: Sequence[str]) -> str | None:
        raw = r.value(paths)
        return None if raw is _MISSING else _as_text(raw)[:255]

    component = optional(m.component)
    group = optional(m.group)
    class_ = optional(m.class_)
    if r.errors:
        raise InvalidEvent(r.errors)
    return AlertEvent(
        action=action,
        dedup_key=dedup_key,
        summary=summary[:PD_SUMMARY_MAX],
        source=source,
        severity=severity,
        timestamp=timestamp,
        component=component,
        group=group,
        class_=class_,
        labels=labels,
        details=details,
        payload=item if isinstance(item, dict) else {"event": item},
    )


MAX_WEBHOOK_EVENTS = 10_000


def parse_webhook(body: Any, mapping: WebhookMapping | None = None) -> list[AlertEvent]:
    """Events from a generic JSON body, read through `mapping` (None: the default mapping).

    With `mapping.events` set, the body splits into one event per match; without it a
    top-level array is one event per element and an object is one event.
    """
    m = mapping or DEFAULT_MAPPING
    if m.events is not None:
        path = compile_path(m.events)
        items = path.find(body, body)
        if not items and not path.container_exists(body, body):
            raise InvalidEvent([f"mapping.events: {m.events} matches nothing in the body"])
        if not path.multiple and len(items) == 1 and isinstance(items[0], list):
            items = items[0]  # `$.alerts` means the alerts, one event each
    elif isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        items = [body]
    else:
        raise InvalidEvent(["body: must be a JSON object or array"])
    if len(items) > MAX_WEBHOOK_EVENTS:
        raise InvalidEvent([f"body: at most {MAX_WEBHOOK_EVENTS} events per request"])
    split = m.events is not None or isinstance(body, list)
    events: list[AlertEvent] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        try:
            events.append(webhook_event(m, body, item, f" (event {i})" if split else ""))
        except InvalidEvent as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidEvent(errors)
    return events
