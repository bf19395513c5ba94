"""Alert routing: auto-declare rules, grouping, actions, maintenance windows, sources."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from warroom.config.base import Duration, Slug, Strict, TimeZoneName

#: Alert fields a rule condition may read, besides `labels.<name>` and `details.<path>`.
ALERT_FIELDS = (
    "summary",
    "severity",
    "source",
    "service",
    "integration_type",
    "integration",
    "component",
    "group",
    "class",
    "dedup_key",
    "status",
    "occurrences",
)
ALERT_FIELD_PREFIXES = ("labels.", "details.")
INTEGRATION_TYPES = ("pagerduty", "alertmanager", "grafana", "webhook", "heartbeat", "report")


def _alert_field(value: str) -> str:
    if value in ALERT_FIELDS:
        return value
    prefix, _, rest = value.partition(".")
    if f"{prefix}." in ALERT_FIELD_PREFIXES and rest:
        return value
    raise ValueError(
        f"unknown alert field {value!r}: write labels.<name>, details.<name> "
        f"or one of {', '.join(ALERT_FIELDS)}"
    )


AlertField = Annotated[str, AfterValidator(_alert_field)]
Scalar = str | int | float | bool
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class FieldCondition(Strict):
    """One test on one alert field. Every operator given must hold.

    `matches` is a regular expression that must match the whole value (as Alertmanager's
    `=~`); `greater_than`/`less_than` read numbers and strings that parse as numbers, and
    never match anything else; `not_equals` holds for a missing field.
    """

    field: AlertField
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    matches: str | None = None
    greater_than: float | None = None
    less_than: float | None = None
    exists: bool | None = None

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_an_operator(self) -> FieldCondition:
        if all(
            getattr(self, name) is None
            for name in (
                "equals",
                "not_equals",
                "in_",
                "matches",
                "greater_than",
                "less_than",
                "exists",
            )
        ):
            raise ValueError(
                "a condition needs an operator: equals, not_equals, in, matches, "
                "greater_than, less_than or exists"
            )
        return self


class AlertCountCondition(Strict):
    """More alerts of a kind in `within` than `above_baseline` times their average per
    `within` over the `baseline` before it, and at least `minimum` of them."""

    integration_type: (
        Literal["pagerduty", "alertmanager", "grafana", "webhook", "heartbeat", "report"] | None
    ) = None
    service: Slug | None = None
    within: Duration
    above_baseline: float = Field(gt=0)
    baseline: Duration = timedelta(days=7)
    minimum: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _windows(self) -> AlertCountCondition:
        if self.within <= timedelta(0):
            raise ValueError("within must be longer than zero")
        if self.baseline < self.within:
            raise ValueError("baseline must be at least as long as within")
        return self


class RuleCondition(Strict):
    """Exactly one of: conditions on one alert, a PromQL query, or an alert count."""

    alert: Annotated[list[FieldCondition], Field(min_length=1)] | None = None
    promql: Annotated[str, Field(min_length=1)] | None = None
    alert_count: AlertCountCondition | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RuleCondition:
        given = [n for n in ("alert", "promql", "alert_count") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of alert, promql or alert_count")
        return self

    @property
    def kind(self) -> str:
        if self.alert is not None:
            return "alert"
        return "promql" if self.promql is not None else "alert_count"


class DeclareAction(Strict):
    """The incident a rule opens. Without `service`/`service_from`, the alert's service."""

    severity: str
    type: Slug | None = None
    service: Slug | None = None
    service_from: AlertField | None = None
    title: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    restricted: bool | None = None

    @model_validator(mode="after")
    def _one_service(self) -> DeclareAction:
        if self.service is not None and self.service_from is not None:
            raise ValueError("give service or service_from, not both")
        return self


class AutoDeclareRule(Strict):
    """When `when` holds (for `for`), open an incident as `declare` says, or join and
    upgrade the open incident the alert belongs to."""

    name: RuleName
    description: str = ""
    enabled: bool = True
    when: RuleCondition
    for_: Duration = Field(default=timedelta(0), alias="for")
    declare: DeclareAction
    upgrade: bool = True

    @model_validator(mode="after")
    def _fits_the_condition(self) -> AutoDeclareRule:
        kind = self.when.kind
        if kind == "alert_count" and self.for_ > timedelta(0):
            raise ValueError("for does not apply to alert_count (use within)")
        source = self.declare.service_from
        if kind == "promql" and source is not None and not source.startswith("labels."):
            raise ValueError("a PromQL rule takes service_from from the series: labels.<name>")
        return self


class AlertGrouping(Strict):
    """When a new alert joins an open incident instead of standing alone."""

    # Another alert of the same Alertmanager group (same integration) is in the incident.
    by_alertmanager_group: bool = True
    # Another alert with the same explicit key is in the incident.
    by_key: bool = True
    key_fields: list[AlertField] = ["labels.incident_key", "details.incident_key"]
    # The incident includes the alert's service and was declared within `window`.
    by_service: bool = True
    window: Duration = timedelta(minutes=30)

    @field_validator("key_fields")
    @classmethod
    def _json_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.startswith(ALERT_FIELD_PREFIXES) or "." in name.split(".", 1)[1]:
                raise ValueError(f"{name!r}: a key field is labels.<name> or details.<name>")
        return value


class AlertAction(Strict):
    """What an alert that is not part of an incident does (docs/alert-routing.md):
    `page` along its service's escalation policy until acknowledged or resolved,
    `notify` the owning team once on `channels`, or `none` (recorded only)."""

    action: Literal["page", "notify", "none"]
    channels: list[Literal["slack", "email"]] = []

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"action": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _channels_only_to_notify(self) -> AlertAction:
        if self.action == "notify" and not self.channels:
            raise ValueError("notify needs channels: [slack], [email] or both")
        if self.action != "notify" and self.channels:
            raise ValueError(f"{self.action} takes no channels")
        return self


class AlertRouting(Strict):
    """The action per alert severity (PagerDuty's names; seed 001's high, medium and low
    are error, warning and info)."""

    critical: AlertAction = AlertAction(action="page")
    error: AlertAction = AlertAction(action="notify", channels=["slack", "email"])
    warning: AlertAction = AlertAction(action="notify", channels=["slack"])
    info: AlertAction = AlertAction(action="none")

    def action_for(self, severity: str) -> AlertAction:
        table = {"critical": self.critical, "error": self.error, "warning": self.warning}
        return table.get(severity.lower(), self.info)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        for day in _WEEKDAYS:
            if text in (day, day[:3]):
                return day
    return value


def _clock_time(value: object) -> object:
    if not isinstance(value, str):
        # YAML reads an unquoted 22:30 as the number 1350 (base 60).
        raise ValueError(f"write the time of day in quotes, e.g. '02:00' (got {value!r})")
    return value


Weekday = Annotated[
    Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    BeforeValidator(_weekday),
]


class WeeklyMaintenance(Strict):
    """A window that repeats every week: on `days`, from `start` (local time) for `duration`."""

    days: Annotated[list[Weekday], Field(min_length=1)]
    start: Annotated[time, BeforeValidator(_clock_time)]
    duration: Duration
    timezone: TimeZoneName = "UTC"

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(days=7):
            raise ValueError("a weekly window lasts more than zero and at most 7 days")
        return value


class ConfiguredMaintenance(Strict):
    """A maintenance window from the configuration: once (`starts_at` to `ends_at`) or weekly."""

    name: str | None = None
    service: Slug | None = None
    services: list[Slug] = []
    reason: str = ""
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    weekly: WeeklyMaintenance | None = None

    @model_validator(mode="after")
    def _when_and_what(self) -> ConfiguredMaintenance:
        if not self.all_services:
            raise ValueError("a maintenance window needs service or services")
        once = self.starts_at is not None or self.ends_at is not None
        if once == (self.weekly is not None):
            raise ValueError("give either starts_at and ends_at, or weekly")
        if once:
            if self.starts_at is None or self.ends_at is None:
                raise ValueError("a one-off window needs both starts_at and ends_at")
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
        return self

    @property
    def all_services(self) -> list[str]:
        return list(dict.fromkeys([*([self.service] if self.service else []), *self.services]))


class PrometheusSource(Strict):
    """The Prometheus server PromQL rules query (HTTP API `GET /api/v1/query`)."""

    url: str
    timeout: Duration = timedelta(seconds=5)
    # How often each PromQL rule is evaluated (a due `for` is checked on time regardless).
    interval: Duration = timedelta(seconds=30)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("timeout", "interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


class AlertResolution(StrEnum):
    """What an auto-declared incident does once every one of its alerts has resolved."""

    MONITORING = "monitoring"
    RESOLVED = "resolved"
    NONE = "none"
