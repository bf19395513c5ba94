"""The procedure as configuration: severity scheme, incident types, roles, people, services.

Every model forbids unknown fields so a typo is an error with its line, not a silent default.
The defaults are seed 000's scheme (SEV1-SEV4) with seed 002's SLA clocks, so a deployment
without any YAML still runs the documented procedure.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from warroom.config.authority import AuthorityConfig, authority_problems
from warroom.config.durations import parse_duration
from warroom.config.reports import ReportsConfig

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name, e.g. Europe/Berlin"
        ) from None
    return value


#: An IANA time zone name (`Europe/Berlin`, `UTC`): every time zone field takes one.
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentStatus(StrEnum):
    """Statuspage's component vocabulary."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


# --- severities -------------------------------------------------------------------------


class SlaClocks(Strict):
    """Seed 002's response-time SLAs: time to acknowledge, to mitigate, to resolve."""

    acknowledge: Duration
    mitigate: Duration
    resolve: Duration


class SeverityLevel(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    title: str = ""
    definition: str = ""
    example: str = ""
    response_time: str
    update_frequency: str
    update_interval: Duration
    required_roles: list[Slug] = []
    status_page: str = "None required"
    component_status: ComponentStatus | None = None
    leadership_notification: bool = False
    bridge_call: bool = False
    sla: SlaClocks
    postmortem_required: bool = False
    postmortem_due: Duration | None = None


class ClassifierThresholds(Strict):
    """Seed 000's `classify_severity` thresholds; every comparison is strictly greater-than."""

    sev1_error_rate_percent: float = 50
    sev1_error_affected_users_percent: float = 75
    sev1_core_feature_affected_users_percent: float = 50
    sev1_revenue_per_hour: float = 10_000
    sev2_revenue_per_hour: float = 1_000
    sev2_error_rate_percent: float = 10
    sev2_affected_users_percent: float = 25
    sev3_error_rate_percent: float = 1
    sev3_affected_users_percent: float = 5


# --- incident types and roles -----------------------------------------------------------


class IncidentType(Strict):
    name: Slug
    title: str
    description: str = ""
    restricted: bool = False
    default_severity: str | None = None
    runbook: str | None = None
    # Who is paged for incidents of this type, whatever their services' policies say.
    escalation_policy: Slug | None = None


class EscalationTrigger(Strict):
    condition: str
    action: str


class RoleRotation(Strict):
    schedule: str
    handoff_day: str | None = None
    handoff_time: str | None = None
    backup_required: bool = False


class RoleDefinition(Strict):
    """A role as seed 000 writes it (`incident-commander-config.yaml`, `technical-lead-...`)."""

    title: str
    alias: str | None = None
    description: str = ""
    skills: list[str] = []
    responsibilities: list[str] = []
    escalation_triggers: list[EscalationTrigger] = []
    rotation: RoleRotation | None = None
    required_access: list[str] = []
    can_authorize: list[str] = []
    requires_ic_approval: list[str] = []

    @property
    def short_name(self) -> str:
        return self.alias or self.title


# --- people and services ----------------------------------------------------------------


class ContactMethodType(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    WEBHOOK = "webhook"
    TEAMS = "teams"


_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")


def normalise_phone(value: str) -> str:
    """`+1 555-0110` → `+15550110`: a `+`, then 6 to 15 digits; spaces, dashes, dots and
    parentheses are dropped."""
    compact = re.sub(r"[\s().-]", "", value)
    if not _PHONE.match(compact):
        raise ValueError(f"{value!r} is not a phone number in international form (+1 555 0100)")
    return compact


def check_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an email address")
    return value


class ContactMethod(Strict):
    """One way to reach a person (docs/notifications.md). The address is checked per type."""

    type: ContactMethodType
    address: Annotated[str, Field(min_length=1, max_length=512)]
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")] | None = None

    @field_validator("address")
    @classmethod
    def _address_fits_type(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        kind = info.data.get("type")
        if kind in (ContactMethodType.SMS, ContactMethodType.VOICE):
            return normalise_phone(value)
        if kind is ContactMethodType.EMAIL:
            return check_email(value)
        if kind is ContactMethodType.WEBHOOK and not re.match(r"^https?://\S+$", value):
            raise ValueError("a webhook address is an http(s) URL")
        if kind is ContactMethodType.TEAMS and not re.match(r"^https://\S+$", value):
            raise ValueError("a Teams address is the incoming webhook's https URL")
        if kind is ContactMethodType.SLACK and (not value or any(c.isspace() for c in value)):
            raise ValueError("a Slack address is #channel, @handle, a member id or an email")
        return value


class NotificationRule(Strict):
    """Reach the person by `method` (a contact method type or label) `after` the page."""

    after: Duration = timedelta(0)
    method: Annotated[str, Field(min_length=1)]
    urgency: Literal["high", "low", "any"] = "any"


class User(Strict):
    handle: Handle
    name: str
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    timezone: TimeZoneName = "UTC"
    title: str | None = None
    # `email`, `phone` and `slack` stay as shorthand for implicit contact methods.
    contact_methods: list[ContactMethod] = []
    notification_rules: list[NotificationRule] = []

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else check_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None:
            normalise_phone(value)  # kept as written; contact plans use the normal form
        return value

    @model_validator(mode="after")
    def _rules_name_methods(self) -> User:
        types = {m.type.value for m in self.contact_methods}
        types |= {"email"} if self.email else set()
        types |= {"sms", "voice"} if self.phone else set()
        types |= {"slack"} if self.slack else set()
        labels = [m.label.casefold() for m in self.contact_methods if m.label]
        problems = []
        for label in sorted({x for x in labels if labels.count(x) > 1}):
            problems.append(f"contact_methods: duplicate label {label!r}")
        for label in labels:
            if label in {t.value for t in ContactMethodType}:
                problems.append(f"contact_methods: label {label!r} is a method type")
        for i, rule in enumerate(self.notification_rules):
            method = rule.method.casefold()
            if method not in types and method not in labels:
                problems.append(
                    f"notification_rules.{i}.method: {rule.method!r} names no contact "
                    f"method of this user (has {', '.join(sorted(types) + labels) or 'none'})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Team(Strict):
    name: Slug
    title: str = ""
    members: list[Handle] = []
    slack_channel: str | None = None


class Service(Strict):
    name: Slug
    title: str = ""
    description: str = ""
    owner: Slug | None = None
    tier: int | None = Field(default=None, ge=0, le=4)
    runbook: str | None = None
    dependencies: list[Slug] = []
    # Who is paged for its incidents (docs/escalation.md); a name in escalation_policies.
    escalation_policy: Slug | None = None


# --- triage (seed 003) ------------------------------------------------------------------


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class PriorityRoute(Strict):
    severity: str
    teams: list[str]


class AffectedUsersStep(Strict):
    """When more than `above` users are affected, raise the priority by `raise_by` levels."""

    above: int = Field(ge=0)
    raise_by: int = Field(ge=0, le=3)


class TriageConfig(Strict):
    impact_types: dict[Slug, Priority]
    urgency: dict[Slug, int]
    affected_users: list[AffectedUsersStep]
    priorities: dict[Priority, PriorityRoute]


# --- alert routing: grouping, auto-declaration, maintenance (issue 3) ---------------------

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


_SEED_LEVEL = re.compile(r"^SEV([1-9])$", re.IGNORECASE)


def rule_severity(config: WarroomConfig, name: str) -> SeverityLevel | None:
    """The level a rule names. The seeds' names SEV1-SEV4 always work: on a renamed scheme
    (P0-P3, P1-P4) they mean the level of the same rank, as the built-in defaults do."""
    level = config.severity(name)
    if level is None:
        seed = _SEED_LEVEL.match(name.strip())
        if seed is not None and int(seed.group(1)) <= len(config.severities):
            level = config.severities[int(seed.group(1)) - 1]
    return level


def _alert_routing_problems(config: WarroomConfig) -> list[str]:
    """Cross-references of the alert routing sections: severities, types, services."""
    problems: list[str] = []
    _unique(problems, "auto_declare", [r.name for r in config.auto_declare])
    types = {t.name for t in config.incident_types}
    services = {s.name for s in config.services}
    for i, rule in enumerate(config.auto_declare):
        where = f"auto_declare.{i}"
        action = rule.declare
        if rule_severity(config, action.severity) is None:
            problems.append(f"{where}.declare.severity: unknown severity {action.severity!r}")
        if action.type is not None and action.type not in types:
            problems.append(f"{where}.declare.type: unknown incident type {action.type!r}")
        if services and action.service is not None and action.service not in services:
            problems.append(f"{where}.declare.service: unknown service {action.service!r}")
        count = rule.when.alert_count
        if services and count is not None and count.service and count.service not in services:
            problems.append(f"{where}.when.alert_count.service: unknown service {count.service!r}")
    if services:
        for i, window in enumerate(config.maintenance_windows):
            for name in window.all_services:
                if name not in services:
                    problems.append(f"maintenance_windows.{i}.services: unknown service {name!r}")
    return problems


# --- on-call schedules (issue 4; docs/oncall.md, warroom/oncall/logic.py) ----------------

# Slug-like, but upper case too: the seed's escalation matrix names `EM_ONCALL`.
ScheduleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
_HH_MM = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")


def _time_of_day(value: object) -> object:
    """`"09:00"`, `"17:30:00"`; `"24:00"` is the midnight that ends a day."""
    if isinstance(value, time):
        return value
    text = _clock_time(value)
    match = _HH_MM.fullmatch(str(text))
    if match is None:
        raise ValueError(f"not a time of day: {text!r} (write HH:MM, e.g. '09:00')")
    hour, minute, second = (int(part or 0) for part in match.groups())
    if (hour, minute, second) == (24, 0, 0):
        return time(0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a time of day: {text!r}")
    return time(hour, minute, second)


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


def _shift_length(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except OverflowError:  # "99999999999999999999 weeks" must be a 422, not a crash
        raise ValueError(f"not a usable shift_length: {value!r}") from None


ShiftLength = Annotated[timedelta, BeforeValidator(_shift_length)]


class RotationType(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # every `shift_length`


_ROTATION_UNITS = {
    RotationType.HOURLY: (timedelta(hours=1), "hour"),
    RotationType.DAILY: (timedelta(days=1), "day"),
    RotationType.WEEKLY: (timedelta(days=7), "week"),
}


class RestrictionType(StrEnum):
    TIME_OF_DAY = "time_of_day"  # every day from start to end
    DAY_OF_WEEK = "day_of_week"  # on the listed days from start to end


class Restriction(Strict):
    """When a layer is on call, in the schedule's local time; outside, nobody from it is.

    An end at or before the start crosses midnight (22:00-06:00); `days` are the days a
    window starts on. A day_of_week window without start and end is the whole day.
    """

    type: RestrictionType
    days: list[Weekday] = []
    start: TimeOfDay = time(0)
    end: TimeOfDay = time(0)

    @model_validator(mode="after")
    def _fits_the_type(self) -> Restriction:
        if self.type is RestrictionType.DAY_OF_WEEK and not self.days:
            raise ValueError("a day_of_week restriction needs days, e.g. [monday, friday]")
        if self.type is RestrictionType.TIME_OF_DAY:
            if self.days:
                raise ValueError("a time_of_day restriction is every day: use day_of_week")
            if self.start == self.end:
                raise ValueError("a time_of_day restriction needs different start and end")
        return self

    @field_serializer("start", "end")
    def _as_text(self, value: time) -> str:
        return _hh_mm(value)


class ScheduleLayer(Strict):
    """One position of a schedule (primary, secondary...): participants taking turns.

    Turns start at `handoff_time` (local), from the `start` date on (and, arithmetically,
    before it); weekly turns on `handoff_day`. `shift_length` makes a turn several units
    long (a bi-weekly rotation is weekly with `shift_length: 2 weeks`); a custom rotation
    takes any length (`12 hours`).
    """

    name: ScheduleName
    rotation: RotationType = RotationType.WEEKLY
    shift_length: ShiftLength | None = None
    handoff_time: TimeOfDay = time(9)
    handoff_day: Weekday | None = None
    start: date = date(2024, 1, 1)
    participants: list[Handle] = []
    restrictions: list[Restriction] = []

    @model_validator(mode="after")
    def _rotation_fits(self) -> ScheduleLayer:
        length = self.shift_length
        if self.rotation is RotationType.CUSTOM and length is None:
            raise ValueError("a custom rotation needs shift_length, e.g. '12 hours'")
        if length is not None:
            if not timedelta(minutes=1) <= length <= timedelta(days=366):
                raise ValueError("shift_length must be from 1 minute to 366 days")
            unit = _ROTATION_UNITS.get(self.rotation)
            if unit is not None and length % unit[0]:
                raise ValueError(
                    f"a {self.rotation.value} rotation's shift_length is a whole number of "
                    f"{unit[1]}s; use rotation: custom for other lengths"
                )
        if self.handoff_day is not None and self.rotation is not RotationType.WEEKLY:
            raise ValueError("handoff_day applies to weekly rotations only")
        if not date(1970, 1, 1) <= self.start <= date(2199, 12, 31):
            raise ValueError("start must be a date from 1970 to 2199")
        return self

    @field_serializer("handoff_time")
    def _time_as_text(self, value: time) -> str:
        return _hh_mm(value)

    @field_serializer("shift_length")
    def _length_as_text(self, value: timedelta | None) -> str | None:
        if value is None:
            return None
        seconds, parts = int(value.total_seconds()), []
        for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
            count, seconds = divmod(seconds, size)
            if count:
                parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
        if seconds or not parts:
            parts.append(f"{seconds} seconds")
        return " ".join(parts)


class Schedule(Strict):
    """An on-call schedule: ordered layers, all read in one IANA time zone."""

    name: ScheduleName
    title: str = ""
    description: str = ""
    time_zone: TimeZoneName = "UTC"
    layers: Annotated[list[ScheduleLayer], Field(min_length=1)]

    @model_validator(mode="after")
    def _layer_names_unique(self) -> Schedule:
        problems: list[str] = []
        _unique(problems, "layers", [layer.name for layer in self.layers])
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _schedule_problems(config: WarroomConfig) -> list[str]:
    """Schedule names are unique; participants are configured users (when users are)."""
    problems: list[str] = []
    _unique(problems, "schedules", [s.name for s in config.schedules])
    handles = {u.handle for u in config.users}
    if handles:
        for i, schedule in enumerate(config.schedules):
            for j, layer in enumerate(schedule.layers):
                for user in layer.participants:
                    if user not in handles:
                        problems.append(
                            f"schedules.{i}.layers.{j}.participants: unknown user {user!r}"
                        )
    return problems


# --- escalation (issue 4; docs/escalation.md, warroom/escalation/) ---------------------


class TargetType(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    TEAM = "team"
    CHANNEL = "channel"
    ROLE = "role"


def _address_problem(kind: ContactMethodType, address: str) -> str | None:
    """Why `address` is not a valid `kind` destination, or None when it is."""
    try:
        ContactMethod(type=kind, address=address)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors) and errors():
            return str(errors()[0].get("msg", "")).removeprefix("Value error, ")
        return str(exc)
    return None


class EscalationTarget(Strict):
    """Who one escalation step pages.

    user: a handle; schedule: whoever is on call (in every layer, or in `layer`); team:
    every member; role: whoever holds that incident role (e.g. incident_commander) when the
    step runs; channel: a destination that is not a person, `name` being its address and
    `channel` its kind (slack unless given).
    """

    type: TargetType
    name: Annotated[str, Field(min_length=1, max_length=512)]
    layer: ScheduleName | None = None
    channel: ContactMethodType | None = None

    @model_validator(mode="after")
    def _fits_the_type(self) -> EscalationTarget:
        if self.layer is not None and self.type is not TargetType.SCHEDULE:
            raise ValueError("layer applies to schedule targets only")
        if self.type is TargetType.CHANNEL:
            problem = _address_problem(self.channel or ContactMethodType.SLACK, self.name)
            if problem:
                raise ValueError(f"name: {problem}")
        elif self.channel is not None:
            raise ValueError("channel applies to channel targets only")
        return self


class EscalationStep(Strict):
    """Page `targets`; when nobody acknowledges within `delay`, go on to the next step.

    `urgency` picks the people's contact plans (high: calls and texts too); without it,
    the two most severe levels page at high urgency and the others at low.
    """

    delay: Duration
    targets: Annotated[list[EscalationTarget], Field(min_length=1)]
    urgency: Literal["high", "low"] | None = None

    @field_validator("delay")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("a step waits at least 1 minute before escalating")
        return value


class EscalationPolicy(Strict):
    """PagerDuty's escalation policy: ordered steps, `repeat` further passes through them
    (its num_loops) and `ack_timeout` (its acknowledgement_timeout: paging starts again
    when an acknowledged incident is still not resolved that long after the ack)."""

    name: Slug
    title: str = ""
    description: str = ""
    steps: Annotated[list[EscalationStep], Field(min_length=1)]
    repeat: int = Field(default=0, ge=0, le=20)
    ack_timeout: Duration | None = None

    @field_validator("ack_timeout")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(minutes=1):
            raise ValueError("ack_timeout is at least 1 minute (leave it out to turn it off)")
        return value


class EscalationTargetRef(Strict):
    """What a name in the escalation matrix or in a role's escalation trigger stands for
    ("VP of Engineering", "Legal"...): a user, a team, a schedule (one layer of it), an
    incident role, or a contact card for someone who is not a user."""

    user: Handle | None = None
    team: Slug | None = None
    schedule: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    layer: ScheduleName | None = None
    role: Slug | None = None
    # A contact card: shown as `name`, reached at these addresses.
    name: Annotated[str, Field(max_length=128)] = ""
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    teams: str | None = None
    webhook: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> EscalationTargetRef:
        kinds = [k for k in ("user", "team", "schedule", "role") if getattr(self, k)]
        card = {
            kind: getattr(self, kind)
            for kind in ("email", "phone", "slack", "teams", "webhook")
            if getattr(self, kind)
        }
        if len(kinds) + (1 if card else 0) != 1:
            raise ValueError(
                "give exactly one of user, team, schedule, role, or a contact card "
                "(email, phone, slack, teams, webhook)"
            )
        if self.layer is not None and not self.schedule:
            raise ValueError("layer applies to a schedule only")
        for kind, address in card.items():
            method = ContactMethodType.VOICE if kind == "phone" else ContactMethodType(kind)
            problem = _address_problem(method, address)
            if problem:
                raise ValueError(f"{kind}: {problem}")
        return self

    @property
    def addresses(self) -> list[tuple[str, str]]:
        """A contact card's (channel, address) pairs; a phone is called."""
        found: list[tuple[str, str]] = []
        for kind in ("email", "phone", "slack", "teams", "webhook"):
            value = getattr(self, kind)
            if value:
                channel = "voice" if kind == "phone" else kind
                found.append((channel, normalise_phone(value) if kind == "phone" else value))
        return found


def target_key(name: str) -> str:
    """How escalation target names compare: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


def _escalation_problems(config: WarroomConfig) -> list[str]:
    """Policies, services' policies, escalation targets, the matrix and role triggers."""
    problems: list[str] = []
    _unique(problems, "escalation_policies", [p.name for p in config.escalation_policies])
    policies = {p.name for p in config.escalation_policies}
    for i, itype in enumerate(config.incident_types):
        if itype.escalation_policy and itype.escalation_policy not in policies:
            problems.append(
                f"incident_types.{i}.escalation_policy: unknown escalation policy "
                f"{itype.escalation_policy!r}"
            )
    for i, service in enumerate(config.services):
        if service.escalation_policy and service.escalation_policy not in policies:
            problems.append(
                f"services.{i}.escalation_policy: unknown escalation policy "
                f"{service.escalation_policy!r}"
            )
    for i, policy in enumerate(config.escalation_policies):
        for j, step in enumerate(policy.steps):
            for k, target in enumerate(step.targets):
                where = f"escalation_policies.{i}.steps.{j}.targets.{k}"
                kind = target.type.value
                if kind == "channel":
                    continue
                problem = _reference_problem(config, kind, target.name, target.layer)
                if problem:
                    problems.append(f"{where}.name: {problem}")
    seen: dict[str, str] = {}
    for name, ref in config.escalation_targets.items():
        key = target_key(name)
        if key in seen:
            problems.append(f"escalation_targets: {name!r} is given twice (as {seen[key]!r})")
        seen[key] = name
        ref_kind = next((k for k in ("user", "team", "schedule", "role") if getattr(ref, k)), None)
        if ref_kind is not None:
            problem = _reference_problem(config, ref_kind, str(getattr(ref, ref_kind)), ref.layer)
            if problem:
                problems.append(f"escalation_targets: {name!r}: {problem}")
    # The matrix and the role triggers are free text, read by warroom.escalation.matrix.
    from warroom.escalation.matrix import config_problems

    problems.extend(config_problems(config))
    return problems


def _reference_problem(
    config: WarroomConfig, kind: str, name: str, layer: str | None
) -> str | None:
    if kind == "user":
        if config.users and config.user(name) is None:
            return f"unknown user {name!r}"
    elif kind == "team":
        if all(t.name != name for t in config.teams):
            return f"unknown team {name!r}"
    elif kind == "role":
        if name not in config.roles:
            return f"unknown role {name!r}"
    elif kind == "schedule":
        from warroom.oncall.logic import schedule_name_from_reference

        wanted = schedule_name_from_reference(name)
        schedule = next((s for s in config.schedules if s.name == wanted), None)
        # Schedules may also be defined through the API; without any in the configuration
        # the name is taken on trust and checked when a page is due.
        if schedule is None and config.schedules:
            return f"unknown schedule {name!r}"
        if schedule is not None and layer and all(x.name != layer for x in schedule.layers):
            return f"schedule {wanted!r} has no layer {layer!r}"
    return None


# --- the whole configuration ------------------------------------------------------------


class NotificationThrottle(Strict):
    limit: int = Field(ge=1, le=10_000)
    window: Duration


class WarroomConfig(Strict):
    severities: list[SeverityLevel]
    classifier: ClassifierThresholds = ClassifierThresholds()
    incident_types: list[IncidentType]
    roles: dict[Slug, RoleDefinition]
    users: list[User] = []
    teams: list[Team] = []
    services: list[Service] = []
    triage: TriageConfig
    # Accepted as the seeds write them; their engines arrive with the escalation and runbook work.
    escalation_matrix: dict[str, Any] | None = None
    runbooks: list[dict[str, Any]] = []
    handoff_template: dict[str, Any] | None = None
    # Alert routing (docs/alert-routing.md).
    auto_declare: list[AutoDeclareRule] = []
    alert_grouping: AlertGrouping = AlertGrouping()
    maintenance_windows: list[ConfiguredMaintenance] = []
    prometheus: PrometheusSource | None = None
    alert_resolution: AlertResolution = AlertResolution.MONITORING
    alert_routing: AlertRouting = AlertRouting()
    # On-call schedules (docs/oncall.md).
    schedules: list[Schedule] = []
    # Escalation policies, the names the matrix uses, SLA warnings (docs/escalation.md,
    # docs/sla.md).
    escalation_policies: list[EscalationPolicy] = []
    escalation_targets: dict[str, EscalationTargetRef] = {}
    sla_warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    # At most `limit` messages per person and channel within `window`; the rest are
    # recorded as throttled (GET /api/v1/notifications shows them), never sent.
    notification_throttles: dict[str, NotificationThrottle] = Field(
        default_factory=lambda: {
            "sms": NotificationThrottle(limit=20, window=timedelta(minutes=10)),
            "voice": NotificationThrottle(limit=10, window=timedelta(minutes=10)),
        }
    )
    # Who may change an incident, staffing its roles (docs/incidents.md#authority).
    authority: AuthorityConfig = AuthorityConfig()
    reports: ReportsConfig = ReportsConfig()

    @model_validator(mode="after")
    def _references_resolve(self) -> WarroomConfig:
        problems = reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- look-ups used by the services ---

    def severity(self, name: str) -> SeverityLevel | None:
        for level in self.severities:
            if level.name.lower() == name.lower():
                return level
        return None

    def severity_rank(self, name: str) -> int:
        """1 is the most severe level."""
        for rank, level in enumerate(self.severities, start=1):
            if level.name == name:
                return rank
        raise KeyError(name)

    def severity_at_rank(self, rank: int) -> SeverityLevel:
        """The level at a seed rank (1-4), clamped to the configured scheme's length."""
        return self.severities[min(max(rank, 1), len(self.severities)) - 1]

    def incident_type(self, name: str) -> IncidentType | None:
        return next((t for t in self.incident_types if t.name == name), None)

    def user(self, handle: str) -> User | None:
        return next((u for u in self.users if u.handle == handle), None)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def escalation_policy(self, name: str) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.name == name), None)

    def escalation_target(self, name: str) -> EscalationTargetRef | None:
        """The entry of `escalation_targets` for `name` (case and spacing aside)."""
        wanted = target_key(name)
        return next(
            (ref for key, ref in self.escalation_targets.items() if target_key(key) == wanted),
            None,
        )


def reference_problems(config: WarroomConfig) -> list[str]:
    """What refers to something that is not there, or is given twice, across sections: each
    finding is `dotted.path: text`. The loader also runs it on the parts of a configuration
    that validated when others did not, so that every problem is reported at once."""
    problems: list[str] = []
    _unique(problems, "severities", [s.name for s in config.severities])
    _unique(problems, "incident_types", [t.name for t in config.incident_types])
    _unique(problems, "users", [u.handle for u in config.users])
    _unique(problems, "teams", [t.name for t in config.teams])
    _unique(problems, "services", [s.name for s in config.services])
    if not config.severities:
        problems.append("severities: at least one level is needed")
    severity_names = {s.name for s in config.severities}
    handles = {u.handle for u in config.users}
    team_names = {t.name for t in config.teams}
    for i, level in enumerate(config.severities):
        for role in level.required_roles:
            if role not in config.roles:
                problems.append(f"severities.{i}.required_roles: unknown role {role!r}")
    for i, itype in enumerate(config.incident_types):
        default = itype.default_severity
        if default and default not in severity_names:
            problems.append(f"incident_types.{i}.default_severity: unknown severity {default!r}")
    if config.users:
        for i, team in enumerate(config.teams):
            for member in team.members:
                if member not in handles:
                    problems.append(f"teams.{i}.members: unknown user {member!r}")
    for i, service in enumerate(config.services):
        if service.owner and service.owner not in team_names:
            problems.append(f"services.{i}.owner: unknown team {service.owner!r}")
    for priority, route in config.triage.priorities.items():
        if route.severity not in severity_names:
            problems.append(
                f"triage.priorities.{priority}.severity: unknown severity {route.severity!r}"
            )
    problems.extend(_alert_routing_problems(config))
    problems.extend(_schedule_problems(config))
    problems.extend(_escalation_problems(config))
    problems.extend(authority_problems(config))
    return problems


def _unique(problems: list[str], section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(f"{section}.{i}: duplicate name {name!r}")
        seen.add(name)
