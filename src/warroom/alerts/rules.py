"""Auto-declaration rules and alert grouping, decided (pure).

Everything here is a function of the rule, the facts and `now`: which alert fields a
condition reads and whether it holds, whether a `for` duration has elapsed, whether a
firing rule upgrades an incident, which open incident a new alert joins, whether an
alert count is a spike, and what the PromQL series of a rule mean for its pending state.
`routing.py` reads the database, asks these functions, and writes what they decide.

A rule fires at most once per subject (an alert, a PromQL series, a count window); the
subject's progress is a `rule_states` row, so an engine killed between two passes
resumes where it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from warroom.config.alerts import AlertCountCondition, AutoDeclareRule, FieldCondition
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig, rule_severity

# --- what a condition reads ---------------------------------------------------------------


@dataclass(frozen=True)
class AlertFacts:
    """The fields of one alert that rules and grouping read."""

    id: int
    dedup_key: str
    summary: str
    severity: str
    service: str
    status: str
    first_seen: datetime
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    integration: str | None = None
    integration_type: str | None = None
    occurrences: int = 1
    started_at: datetime | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


_MISSING = object()


def _walk(data: Mapping[str, Any], path: str) -> Any:
    """`a.b.c` in nested mappings; a key that itself holds dots is found whole first."""
    if path in data:
        return data[path]
    head, dot, rest = path.partition(".")
    if dot and head in data and isinstance(data[head], Mapping):
        return _walk(data[head], rest)
    return _MISSING


def field_value(facts: AlertFacts, path: str) -> tuple[bool, Any]:
    """(present, value) of a rule field such as `labels.alertname` or `summary`."""
    prefix, dot, rest = path.partition(".")
    if dot and prefix in ("labels", "details"):
        value = _walk(facts.labels if prefix == "labels" else facts.details, rest)
    else:
        attribute = "class_" if path == "class" else path
        value = getattr(facts, attribute, _MISSING)
    if value is _MISSING or value is None:
        return False, None
    return True, value


def series_value(labels: Mapping[str, str], value: float, path: str) -> tuple[bool, Any]:
    """The same look-up for a PromQL series: `labels.<name>` and `value`."""
    if path == "value":
        return True, value
    prefix, dot, rest = path.partition(".")
    if dot and prefix == "labels" and rest in labels:
        return True, labels[rest]
    return False, None


# --- operators ----------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    """A number, or a string that reads as one; None for anything else (and for NaN)."""
    if isinstance(value, str):
        return _text_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


@lru_cache(maxsize=4096)
def _text_number(value: str) -> float | None:
    # Remembered: rules compare the same few strings (severities, statuses, label values)
    # alert after alert, and a string that is not a number costs a raised ValueError.
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True, default=str)


def same_value(actual: Any, expected: Any) -> bool:
    """Equality across YAML's and JSON's types: `1` equals `"1"` and `1.0`, `true` `"true"`."""
    if actual == expected and type(actual) is type(expected):
        return True
    left, right = as_number(actual), as_number(expected)
    if left is not None and right is not None:
        return left == right
    return _text(actual) == _text(expected)


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def condition_holds(condition: FieldCondition, present: bool, value: Any) -> bool:
    """Every operator the condition gives holds for this value."""
    if condition.exists is not None and condition.exists != present:
        return False
    if condition.not_equals is not None and present and same_value(value, condition.not_equals):
        return False
    needs_value = (
        condition.equals,
        condition.in_,
        condition.matches,
        condition.greater_than,
        condition.less_than,
    )
    if all(v is None for v in needs_value):
        return True
    if not present:
        return False
    if condition.equals is not None and not same_value(value, condition.equals):
        return False
    if condition.in_ is not None and not any(same_value(value, v) for v in condition.in_):
        return False
    if (
        condition.matches is not None
        and compiled(condition.matches).fullmatch(_text(value)) is None
    ):
        return False
    if condition.greater_than is not None or condition.less_than is not None:
        number = as_number(value)
        if number is None:
            return False
        if condition.greater_than is not None and not number > condition.greater_than:
            return False
        if condition.less_than is not None and not number < condition.less_than:
            return False
    return True


@dataclass(frozen=True)
class Match:
    """A condition that held, and the values it held on (for the timeline)."""

    values: dict[str, Any]


def match_alert(conditions: Sequence[FieldCondition], facts: AlertFacts) -> Match | None:
    """Match when every condition holds for the alert."""
    values: dict[str, Any] = {}
    for condition in conditions:
        present, value = field_value(facts, condition.field)
        if not condition_holds(condition, present, value):
            return None
        values[condition.field] = value if present else None
    return Match(values)


def describe_condition(condition: FieldCondition) -> str:
    """`labels.alertname = DatabaseConnectionFailures`, `details.value > 1`."""
    parts: list[str] = []
    name = condition.field
    if condition.equals is not None:
        parts.append(f"{name} = {_text(condition.equals)}")
    if condition.not_equals is not None:
        parts.append(f"{name} != {_text(condition.not_equals)}")
    if condition.in_ is not None:
        parts.append(f"{name} in [{', '.join(_text(v) for v in condition.in_)}]")
    if condition.matches is not None:
        parts.append(f"{name} =~ /{condition.matches}/")
    if condition.greater_than is not None:
        parts.append(f"{name} > {condition.greater_than:g}")
    if condition.less_than is not None:
        parts.append(f"{name} < {condition.less_than:g}")
    if condition.exists is not None:
        parts.append(f"{name} {'exists' if condition.exists else 'is absent'}")
    return " and ".join(parts)


def describe_rule(rule: AutoDeclareRule) -> dict[str, Any]:
    """The rule's condition as the timeline shows it."""
    when = rule.when
    shown: dict[str, Any]
    if when.alert is not None:
        shown = {"alert": [describe_condition(c) for c in when.alert]}
    elif when.promql is not None:
        shown = {"promql": when.promql}
    else:
        assert when.alert_count is not None
        count = when.alert_count
        shown = {
            "alert_count": {
                "integration_type": count.integration_type,
                "service": count.service,
                "within": format_duration(count.within),
                "above_baseline": count.above_baseline,
                "baseline": format_duration(count.baseline),
                "minimum": count.minimum,
            }
        }
    if rule.for_ > timedelta(0):
        shown["for"] = format_duration(rule.for_)
    return shown


def format_values(values: Mapping[str, Any]) -> str:
    """`labels.alertname=DatabaseConnectionFailures, details.value=2.5`."""
    return ", ".join(f"{name}={_text(value)}" for name, value in values.items()) or "(no values)"


# --- `for` --------------------------------------------------------------------------------


class Decision(StrEnum):
    NO = "no"  # the condition does not hold
    PENDING = "pending"  # it holds, but not yet for long enough
    FIRE = "fire"


def for_elapsed(pending_since: datetime, duration: timedelta, now: datetime) -> bool:
    """True once the condition has held for the whole duration (at the boundary too)."""
    return now - pending_since >= duration


def due_at(pending_since: datetime, duration: timedelta) -> datetime:
    return pending_since + duration


def decide(holds: bool, duration: timedelta, pending_since: datetime, now: datetime) -> Decision:
    if not holds:
        return Decision.NO
    return Decision.FIRE if for_elapsed(pending_since, duration, now) else Decision.PENDING


def seconds_until(when: datetime, now: datetime) -> float:
    return max((when - now).total_seconds(), 0.0)


# --- severity -----------------------------------------------------------------------------


def canonical_severity(config: WarroomConfig, name: str) -> str:
    """The configured name of the level a rule or an incident names."""
    level = rule_severity(config, name)
    return level.name if level is not None else name


def is_more_severe(config: WarroomConfig, proposed: str, current: str) -> bool:
    """Whether `proposed` outranks `current` (an unknown current level ranks last)."""
    last = len(config.severities) + 1
    ranks = {s.name: rank for rank, s in enumerate(config.severities, start=1)}

    def rank(name: str) -> int:
        return ranks.get(canonical_severity(config, name), last)

    return rank(proposed) < rank(current)


# --- grouping -----------------------------------------------------------------------------


class GroupedBy(StrEnum):
    KEY = "incident_key"
    ALERTMANAGER_GROUP = "alertmanager_group"
    SERVICE = "service"
    RULE = "rule"


@dataclass
class OpenIncident:
    """What grouping needs to know of an open incident."""

    id: int
    severity: str
    services: set[str]
    declared_at: datetime
    restricted: bool = False
    declared_by_rule: str | None = None
    # The drill that opened it: only that drill's alerts join it, and its alerts join no other.
    drill_id: int | None = None


def explicit_key(facts: AlertFacts, fields: Iterable[str]) -> tuple[str, str] | None:
    """The first of `fields` the alert carries, as (field, key)."""
    for name in fields:
        present, value = field_value(facts, name)
        if present and not isinstance(value, Mapping | list) and _text(value).strip():
            return name, _text(value).strip()[:255]
    return None


def within_service_window(
    incident: OpenIncident, service: str, at: datetime, window: timedelta
) -> bool:
    """The incident includes the service and was declared within `window` of `at` (the
    alert's first sighting; before or after it, as alerts of one burst arrive together).

    Restricted incidents never gather alerts by service alone: an unrelated alert would
    vanish from everyone's view into a security incident.
    """
    if incident.restricted or service not in incident.services:
        return False
    return abs(at - incident.declared_at) <= window


def service_window_incident(
    incidents: Iterable[OpenIncident], service: str, at: datetime, window: timedelta
) -> OpenIncident | None:
    """The most recently declared open incident the alert joins by service, if any."""
    candidates = [i for i in incidents if within_service_window(i, service, at, window)]
    return max(candidates, key=lambda i: (i.declared_at, i.id), default=None)


def same_rule_incident(
    incidents: Iterable[OpenIncident], rule: str, service: str | None
) -> OpenIncident | None:
    """An open incident this rule already declared for the same service: fire into it again
    rather than open a second one."""
    candidates = [
        i
        for i in incidents
        if i.declared_by_rule == rule and (service is None or service in i.services)
    ]
    return max(candidates, key=lambda i: (i.declared_at, i.id), default=None)


# --- alert counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Spike:
    fires: bool
    count: int
    baseline_count: int
    baseline_average: float
    threshold: float

    def values(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "baseline_count": self.baseline_count,
            "baseline_average_per_window": round(self.baseline_average, 3),
            "threshold": round(self.threshold, 3),
        }


def count_windows(
    condition: AlertCountCondition, now: datetime
) -> tuple[datetime, datetime, datetime]:
    """(baseline start, window start, now): the baseline is the period just before the window."""
    window_start = now - condition.within
    return window_start - condition.baseline, window_start, now


def spike(condition: AlertCountCondition, count: int, baseline_count: int) -> Spike:
    """Whether `count` alerts in the window exceed `above_baseline` times the baseline's
    average per window, and reach `minimum`."""
    periods = condition.baseline / condition.within
    average = baseline_count / periods
    threshold = condition.above_baseline * average
    fires = count >= condition.minimum and count > threshold
    return Spike(fires, count, baseline_count, average, threshold)


def count_may_fire_again(fired_at: datetime | None, within: timedelta, now: datetime) -> bool:
    """A count rule fires at most once per `within`."""
    return fired_at is None or now - fired_at >= within


# --- PromQL series ------------------------------------------------------------------------


def series_subject(labels: Mapping[str, str]) -> str:
    canonical = json.dumps(sorted((str(k), str(v)) for k, v in labels.items()))
    return "series:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SeriesState:
    subject: str
    pending_since: datetime
    fired: bool


@dataclass
class SeriesPlan:
    """What one evaluation of a PromQL rule does to its rows."""

    start: list[str] = field(default_factory=list)  # new subjects, pending from now
    keep: list[str] = field(default_factory=list)  # still holding
    fire: list[str] = field(default_factory=list)  # held for `for`, not fired yet
    forget: list[str] = field(default_factory=list)  # series gone: delete the state


def plan_series(
    states: Sequence[SeriesState], present: Iterable[str], duration: timedelta, now: datetime
) -> SeriesPlan:
    plan = SeriesPlan()
    known = {s.subject: s for s in states}
    seen = set()
    for subject in present:
        if subject in seen:
            continue
        seen.add(subject)
        state = known.get(subject)
        if state is None:
            plan.start.append(subject)
            if for_elapsed(now, duration, now):
                plan.fire.append(subject)
            continue
        plan.keep.append(subject)
        if not state.fired and for_elapsed(state.pending_since, duration, now):
            plan.fire.append(subject)
    plan.forget = [s for s in known if s not in seen]
    return plan


# --- titles -------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")


def render_title(template: str, lookup: Callable[[str], tuple[bool, Any]], limit: int = 255) -> str:
    """Fill `{labels.instance}`-style placeholders; unknown ones stay as written."""

    def fill(match: re.Match[str]) -> str:
        present, value = lookup(match.group(1))
        return _text(value) if present else match.group(0)

    return _PLACEHOLDER.sub(fill, template)[:limit]
