"""The whole configuration, `WarroomConfig`, and the references across its sections.

Each domain's types live in `warroom/config/<domain>.py` (incidents, people, triage,
alerts, oncall, escalation), made of `warroom/config/base.py`; this module assembles them
into one model and checks that what one section names, another defines. Rules that only a
domain knows come in as checks (`warroom/configuration.py`).

Every model forbids unknown fields so a typo is an error with its line, not a silent default.
The defaults are seed 000's scheme (SEV1-SEV4) with seed 002's SLA clocks, so a deployment
without any YAML still runs the documented procedure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from warroom.config.alerts import (
    AlertGrouping,
    AlertResolution,
    AlertRouting,
    AutoDeclareRule,
    ConfiguredMaintenance,
    PrometheusSource,
)
from warroom.config.authority import AuthorityConfig
from warroom.config.base import Duration, Slug, Strict, unique_names
from warroom.config.chat import ChatConfig
from warroom.config.escalation import (
    EscalationPolicy,
    EscalationTargetRef,
    TargetType,
    target_key,
)
from warroom.config.incidents import (
    ClassifierThresholds,
    IncidentType,
    RoleDefinition,
    SeverityLevel,
)
from warroom.config.oncall import (
    Schedule,
)
from warroom.config.people import (
    Service,
    Team,
    User,
)
from warroom.config.postmortems import LearningConfig
from warroom.config.reports import ReportsConfig
from warroom.config.runbooks import HandoffsConfig, Runbook, runbook_problems
from warroom.config.security import SecurityConfig
from warroom.config.statuspage import StatusPageConfig
from warroom.config.triage import TriageConfig

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


def names_severity(config: WarroomConfig, names: Iterable[str], severity: str) -> bool:
    """Whether one of `names` (configured severity names, or the seeds' SEV1-SEV4 meaning the
    level of that rank) is the level `severity`."""
    for name in names:
        level = rule_severity(config, name)
        if level is not None and level.name == severity:
            return True
    return False


def _alert_routing_problems(config: WarroomConfig) -> list[str]:
    """Cross-references of the alert routing sections: severities, types, services."""
    problems: list[str] = []
    unique_names(problems, "auto_declare", [r.name for r in config.auto_declare])
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


def _schedule_problems(config: WarroomConfig) -> list[str]:
    """Schedule names are unique; participants are configured users (when users are)."""
    problems: list[str] = []
    unique_names(problems, "schedules", [s.name for s in config.schedules])
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


def _escalation_problems(config: WarroomConfig) -> list[str]:
    """Policies, services' policies, escalation targets, the matrix and role triggers."""
    problems: list[str] = []
    unique_names(problems, "escalation_policies", [p.name for p in config.escalation_policies])
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
    seen: dict[str, str] = {}
    for name in config.escalation_targets:
        key = target_key(name)
        if key in seen:
            problems.append(f"escalation_targets: {name!r} is given twice (as {seen[key]!r})")
        seen[key] = name
    for reference in target_references(config):
        problem = _reference_problem(config, reference.kind, reference.name)
        if problem:
            problems.append(reference.finding(problem))
    # The matrix, the role triggers and schedule names follow their domains' own rules:
    # those checks come in as `checks` (warroom.configuration names them).
    return problems


@dataclass(frozen=True)
class TargetReference:
    """One name an escalation step or an `escalation_targets` entry refers to."""

    kind: str  # user, team, schedule or role
    name: str
    layer: str | None
    where: str  # the dotted field path, or the entry's name
    entry: bool  # an `escalation_targets` entry (else a policy step's target)

    def finding(self, problem: str) -> str:
        """`problem` as a `dotted.path: text` finding about this reference."""
        if self.entry:
            return f"escalation_targets: {self.where!r}: {problem}"
        return f"{self.where}.name: {problem}"


def target_references(config: WarroomConfig) -> Iterator[TargetReference]:
    """Every person, team, schedule or role that the escalation policies and targets name."""
    for i, policy in enumerate(config.escalation_policies):
        for j, step in enumerate(policy.steps):
            for k, target in enumerate(step.targets):
                if target.type is not TargetType.CHANNEL:
                    where = f"escalation_policies.{i}.steps.{j}.targets.{k}"
                    yield TargetReference(
                        target.type.value, target.name, target.layer, where, False
                    )
    for name, ref in config.escalation_targets.items():
        kind = next((k for k in ("user", "team", "schedule", "role") if getattr(ref, k)), None)
        if kind is not None:
            yield TargetReference(kind, str(getattr(ref, kind)), ref.layer, name, True)


def _reference_problem(config: WarroomConfig, kind: str, name: str) -> str | None:
    if kind == "user":
        if config.users and config.user(name) is None:
            return f"unknown user {name!r}"
    elif kind == "team":
        if all(t.name != name for t in config.teams):
            return f"unknown team {name!r}"
    elif kind == "role" and name not in config.roles:
        return f"unknown role {name!r}"
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
    # Accepted as the seeds write them (runbooks: seed 000's format, docs/runbooks.md).
    escalation_matrix: dict[str, Any] | None = None
    runbooks: list[Runbook] = []  # docs/runbooks.md
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
    postmortems: LearningConfig = LearningConfig()  # docs/postmortems.md
    handoffs: HandoffsConfig = HandoffsConfig()  # docs/handoffs.md
    chat: ChatConfig = ChatConfig()  # docs/chat.md
    # Evidence locker, regulatory clocks (docs/security.md).
    security: SecurityConfig = SecurityConfig()
    status_page: StatusPageConfig = StatusPageConfig()  # docs/status-page.md
    reports: ReportsConfig = ReportsConfig()  # docs/reports.md

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> WarroomConfig:
        problems = reference_problems(self, (info.context or {}).get("checks", ()))
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

    # The look-ups by name that routing and paging make per alert and per recipient: a
    # table made on first use, and made again for a copy whose list is another
    # (`model_copy(update=...)` copies this too).
    _by_name: dict[str, tuple[object, dict[str, Any]]] = PrivateAttr(default_factory=dict)

    def _named(self, section: str, items: Sequence[Any], key: Callable[[Any], str]) -> Any:
        # Read from the private store itself: `self._by_name` goes through pydantic's
        # `__getattr__`, which cost more than the scan this replaces.
        private = self.__pydantic_private__
        assert private is not None
        tables = private["_by_name"]
        cached = tables.get(section)
        if cached is None or cached[0] is not items:
            table: dict[str, Any] = {}
            for item in items:
                table.setdefault(key(item), item)  # the first of a name, as a scan finds it
            cached = tables[section] = (items, table)
        return cached[1]

    def user(self, handle: str) -> User | None:
        users: dict[str, User] = self._named("users", self.users, lambda u: u.handle)
        return users.get(handle)

    def service(self, name: str) -> Service | None:
        services: dict[str, Service] = self._named("services", self.services, lambda s: s.name)
        return services.get(name)

    def escalation_policy(self, name: str) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.name == name), None)

    def escalation_target(self, name: str) -> EscalationTargetRef | None:
        """The entry of `escalation_targets` for `name` (case and spacing aside)."""
        wanted = target_key(name)
        return next(
            (ref for key, ref in self.escalation_targets.items() if target_key(key) == wanted),
            None,
        )


#: A domain's own check of a whole configuration: its findings, each `dotted.path: text`.
ConfigCheck = Callable[["WarroomConfig"], list[str]]


def reference_problems(config: WarroomConfig, checks: Sequence[ConfigCheck] = ()) -> list[str]:
    """What refers to something that is not there, or is given twice, across sections: each
    finding is `dotted.path: text`. `checks` add the domains' own rules (validation passes
    them in its context as "checks"). The loader also runs it on the parts of a
    configuration that validated when others did not, so that every problem is reported
    at once."""
    problems: list[str] = []
    unique_names(problems, "severities", [s.name for s in config.severities])
    unique_names(problems, "incident_types", [t.name for t in config.incident_types])
    unique_names(problems, "users", [u.handle for u in config.users])
    unique_names(problems, "teams", [t.name for t in config.teams])
    unique_names(problems, "services", [s.name for s in config.services])
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
    problems.extend(_authority_problems(config))
    problems.extend(_chat_problems(config))
    types = {t.name for t in config.incident_types}
    problems.extend(
        runbook_problems(
            config.runbooks, roles=set(config.roles), severities=severity_names, types=types
        )
    )
    for check in checks:
        problems.extend(check(config))
    return problems


def _authority_problems(config: WarroomConfig) -> list[str]:
    """References of the `authority:` section to roles, levels, schedules and users."""
    problems: list[str] = []
    section = config.authority
    levels = {s.name for s in config.severities}
    for action, rule in section.actions.items():
        where = f"authority.actions.{action.value}"
        problems += [
            f"{where}.roles: unknown role {r!r}" for r in rule.roles if r not in config.roles
        ]
        if isinstance(rule.severities, list):
            problems += [
                f"{where}.severities: unknown severity {n!r}"
                for n in rule.severities
                if n not in levels
            ]
    rotation = section.ic_rotation
    if rotation.role not in config.roles:
        problems.append(f"authority.ic_rotation.role: unknown role {rotation.role!r}")
    if (
        rotation.schedule
        and config.schedules
        and all(s.name != rotation.schedule for s in config.schedules)
    ):
        problems.append(f"authority.ic_rotation.schedule: unknown schedule {rotation.schedule!r}")
    if config.users:
        problems += [
            f"authority.ic_rotation.participants: unknown user {u!r}"
            for u in rotation.participants
            if config.user(u) is None
        ]
    problems += [
        f"authority.staffing.within: unknown severity {n!r}"
        for n in section.staffing.within
        if n not in levels
    ]
    problems += [
        f"authority.staffing.remind: unknown role {r!r}"
        for r in section.staffing.remind
        if r not in config.roles
    ]
    return problems


def _chat_problems(config: WarroomConfig) -> list[str]:
    """`chat.slack.invite`: severities by name, and the people each invites: a role (its
    holder), an `escalation_targets` entry, a user handle, a team or a schedule (on call)."""
    problems: list[str] = []
    known = {target_key(name) for name in config.escalation_targets}
    known |= {target_key(t.name) for t in config.teams}
    known |= {target_key(s.name) for s in config.schedules}
    for severity, names in config.chat.slack.invite.items():
        where = f"chat.slack.invite.{severity}"
        if rule_severity(config, severity) is None:
            problems.append(f"{where}: unknown severity {severity!r}")
        if not config.users:
            continue  # without users, a handle cannot be told from a typo
        for name in names:
            if name in config.roles or config.user(name) is not None:
                continue
            if target_key(name) not in known:
                problems.append(f"{where}: unknown user, team, schedule or role {name!r}")
    return problems
