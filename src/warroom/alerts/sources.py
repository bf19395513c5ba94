"""More alert sources, normalised into `AlertEvent`s (pure: no database, no clock reads).

- Grafana Alerting's webhook contact point (unified alerting, Alertmanager-shaped) and the
  legacy dashboard-alerting webhook (`ruleName`, `state`, `evalMatches`).
- A generic JSON webhook, read through a per-integration field mapping written with a
  small JSONPath-like language (`$.a.b`, `$.items[0].name`, `$.alerts[*]`).
- User problem reports ("report a problem" form and API).
- The in-memory token bucket that keeps the public report routes from being flooded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

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
from warroom.errors import ValidationFailed

# --- a tiny JSONPath ----------------------------------------------------------------------
#
# path    := root step*            root: `$` the whole body, `@` the current event
# step    := `.` name | `.*` | `[` integer `]` | `[*]` | `[` quoted name `]`
#
# A path without a root (`title`, `labels.severity`) is read from `@`.


class PathError(ValueError):
    """A path that cannot be parsed."""


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


@dataclass(frozen=True)
class Wildcard:
    pass


Step = Key | Index | Wildcard

_NAME = re.compile(r"[^.\[\]\s'\"]+")
_BRACKET = re.compile(r"\[\s*(?:(\*)|(-?\d+)|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")


@dataclass(frozen=True)
class JsonPath:
    text: str
    root: Literal["$", "@"]
    steps: tuple[Step, ...]

    @property
    def multiple(self) -> bool:
        """True when the path can match several values (it has a wildcard)."""
        return any(isinstance(step, Wildcard) for step in self.steps)

    def find(self, body: Any, current: Any = None) -> list[Any]:
        """Every value the path matches, in document order; [] when nothing matches."""
        matches = [body if self.root == "$" or current is None else current]
        for step in self.steps:
            matches = [found for value in matches for found in _apply(step, value)]
            if not matches:
                break
        return matches

    def container_exists(self, body: Any, current: Any = None) -> bool:
        """True when the part before the first wildcard matches (possibly an empty array)."""
        prefix: list[Step] = []
        for step in self.steps:
            if isinstance(step, Wildcard):
                break
            prefix.append(step)
        return bool(JsonPath(self.text, self.root, tuple(prefix)).find(body, current))


def _apply(step: Step, value: Any) -> list[Any]:
    if isinstance(step, Key):
        if isinstance(value, dict) and step.name in value:
            return [value[step.name]]
        return []
    if isinstance(step, Index):
        if isinstance(value, list) and -len(value) <= step.position < len(value):
            return [value[step.position]]
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """Parse a path such as `$.alerts[*].labels['team name']`; raise PathError on bad syntax."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path must be a non-empty string such as $.title")
    source = text.strip()
    root: Literal["$", "@"] = "@"
    pos = 0
    if source[0] in "$@":
        root = "$" if source[0] == "$" else "@"
        pos = 1
    else:
        # A bare `title.text` reads from the current event, as if written `@.title.text`.
        source = "@." + source
        pos = 1
    steps: list[Step] = []
    while pos < len(source):
        char = source[pos]
        if char == ".":
            if source.startswith(".*", pos):
                steps.append(Wildcard())
                pos += 2
                continue
            match = _NAME.match(source, pos + 1)
            if match is None:
                raise PathError(f"expected a field name after '.' at position {pos} in {text!r}")
            steps.append(Key(match.group(0)))
            pos = match.end()
        elif char == "[":
            match = _BRACKET.match(source, pos)
            if match is None:
                raise PathError(f"expected [number], [*] or ['name'] at position {pos} in {text!r}")
            star, number, single, double = match.groups()
            if star:
                steps.append(Wildcard())
            elif number is not None:
                steps.append(Index(int(number)))
            else:
                steps.append(Key(_unescape(single if single is not None else double)))
            pos = match.end()
        else:
            raise PathError(f"unexpected {char!r} at position {pos} in {text!r}")
    return JsonPath(text=text, root=root, steps=tuple(steps))


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


# --- user problem reports -----------------------------------------------------------------

SUMMARY_MAX = 200
DESCRIPTION_MAX = 5000
EMAIL_MAX = 254
REPORT_SOURCE = "user report"
HONEYPOT_FIELD = "website"
REPEAT_WINDOW_SECONDS = 600

_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class ProblemReport(BaseModel):
    """What a person tells us through the public form or `POST /api/v1/reports/problem`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    summary: Annotated[str, StringConstraints(min_length=1, max_length=SUMMARY_MAX)]
    description: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)] = ""
    email: Annotated[str, StringConstraints(max_length=EMAIL_MAX)] = ""
    # The honeypot: hidden from people, filled in by form-stuffing bots.
    website: Annotated[str, StringConstraints(max_length=2000)] = ""

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value.lower()

    @property
    def is_bot(self) -> bool:
        return bool(self.website)


def report_fingerprint(report: ProblemReport, reporter: str) -> str:
    """The same reporter saying the same thing about the same service hashes the same."""
    text = "\x1f".join(
        (reporter, report.service, " ".join(report.summary.split()).lower(), report.description)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def report_event(report: ProblemReport, *, dedup_key: str) -> AlertEvent:
    """The alert a user report raises on its service."""
    details: dict[str, Any] = {}
    if report.description:
        details["description"] = report.description
    if report.email:
        details["reporter_email"] = report.email
    return AlertEvent(
        action=Action.TRIGGER,
        dedup_key=dedup_key[:DEDUP_KEY_MAX],
        summary=f"User report: {report.summary}",
        source=REPORT_SOURCE,
        severity=AlertSeverity.WARNING,
        class_="user_report",
        labels={"source": "user_report", "service": report.service},
        details=details,
        payload=report.model_dump(exclude={"website"}),
    )


# --- rate limiting ------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`rate` requests per `per` seconds with bursts of up to `rate`, per key.

    Memory stays bounded: when the table grows past `max_keys`, buckets that have refilled
    (idle callers) are forgotten, and if that is not enough the oldest go.
    """

    def __init__(self, rate: float, per: float, *, max_keys: int = 10_000) -> None:
        self.capacity = float(rate)
        self.refill = rate / per  # tokens per second
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        elapsed = max(now - bucket.updated, 0.0)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill)
        bucket.updated = now
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until a request under `key` would be allowed (0: now)."""
        bucket = self._bucket(key, now)
        missing = 1 - bucket.tokens
        return 0.0 if missing <= 1e-9 else missing / self.refill  # 1e-9: float refill drift

    def take(self, key: str, now: float) -> None:
        self._bucket(key, now).tokens -= 1

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if self._full_at(b, now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2 + 1]:
                del self._buckets[key]

    def _full_at(self, bucket: _Bucket, now: float) -> bool:
        return bucket.tokens + (now - bucket.updated) * self.refill >= self.capacity

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimiter:
    """Per-client and global token buckets; a request passes only if both have a token."""

    GLOBAL = "*"

    def __init__(
        self,
        time: Callable[[], float],
        *,
        per_client: float = 5,
        overall: float = 120,
        per_seconds: float = 60,
        max_clients: int = 10_000,
    ) -> None:
        self._time = time
        self._clients = TokenBucket(per_client, per_seconds, max_keys=max_clients)
        self._overall = TokenBucket(overall, per_seconds)
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Take a token for `client`; return 0, or the seconds to wait when refused."""
        with self._lock:
            now = self._time()
            wait = max(self._clients.wait(client, now), self._overall.wait(self.GLOBAL, now))
            if wait > 0:
                return wait
            self._clients.take(client, now)
            self._overall.take(self.GLOBAL, now)
            return 0.0

    @property
    def tracked_clients(self) -> int:
        return len(self._clients)
