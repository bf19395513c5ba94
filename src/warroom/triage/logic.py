"""Seed 003's triage: impact, urgency and reach decide a priority, which names severity and teams.

The rule set is three additive steps on the priority ladder critical > high > medium > low:

1. the impact type sets the base priority (`triage.impact_types`);
2. the urgency moves it by a configured number of levels, positive meaning more urgent
   (`triage.urgency`);
3. the affected user count raises it by the largest `raise_by` among the
   `triage.affected_users` steps whose `above` it exceeds (strictly).

The sum is clamped once, at the end, to the ladder. Clamping only at the end keeps the
steps order-free: a low-urgency internal error that reaches many users nets out rather
than depending on which step was applied first. The priority then names a configured
route (`triage.priorities`): a severity level and the teams to engage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warroom.config.triage import AffectedUsersStep, Priority, TriageConfig

__all__ = [
    "IMPACT_INCIDENT_TYPES",
    "LADDER",
    "RESTRICTED_IMPACTS",
    "TriageInput",
    "TriageResult",
    "triage",
]

# Most severe first; an index on this ladder is how many levels below critical a priority is.
LADDER: tuple[Priority, ...] = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)

# Seed 003's impact types onto seed 001's incident types. Kept here until incident types
# carry their own impact mapping in configuration; an impact a deployment adds maps to None.
IMPACT_INCIDENT_TYPES: dict[str, str | None] = {
    "data_breach": "security_breach",
    "service_outage": "service_outage",
    "service_degradation": "performance_degradation",
    "security_violation": "security_breach",
    "compliance_issue": "data_privacy",
    "user_complaints": None,
    "internal_error": None,
}

# Impacts whose details must stay with the responders (seed 001's security and privacy steps).
RESTRICTED_IMPACTS: frozenset[str] = frozenset(
    {"data_breach", "security_violation", "compliance_issue"}
)


@dataclass(frozen=True)
class TriageInput:
    """What the responder reports to `warroom triage`: impact, urgency, users, service."""

    impact: str
    urgency: str
    affected_users: int = 0
    service: str | None = None

    def __post_init__(self) -> None:
        for name in ("impact", "urgency"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
        if isinstance(self.affected_users, bool) or not isinstance(self.affected_users, int):
            raise ValueError(f"affected_users: must be a whole number, got {self.affected_users!r}")
        if self.affected_users < 0:
            raise ValueError(f"affected_users: cannot be negative, got {self.affected_users}")
        if self.service is not None and (
            not isinstance(self.service, str) or not self.service.strip()
        ):
            raise ValueError(f"service: must be a non-empty name or omitted, got {self.service!r}")


@dataclass(frozen=True)
class TriageResult:
    """The priority triage chose, what it means, and every step that moved it."""

    priority: Priority
    severity: str
    teams: list[str]
    incident_type: str | None
    restricted: bool
    explanation: list[str] = field(default_factory=list)
    service: str | None = None


def triage(inp: TriageInput, *, config: TriageConfig) -> TriageResult:
    """Triage an incident report into a priority, a severity level and the teams to engage."""
    impact = _choose("impact", inp.impact, list(config.impact_types))
    urgency = _choose("urgency", inp.urgency, list(config.urgency))

    base = config.impact_types[impact]
    explanation = [f"impact {impact} → {base}"]
    position = LADDER.index(base)

    urgency_raise = config.urgency[urgency]
    if urgency_raise:
        explanation.append(f"urgency {urgency}: {_levels(urgency_raise)}")
    position -= urgency_raise

    step = _users_step(inp.affected_users, config)
    if step is not None:
        explanation.append(
            f"affected users {inp.affected_users:,} > {step.above:,}: {_levels(step.raise_by)}"
        )
        position -= step.raise_by

    clamped = min(max(position, 0), len(LADDER) - 1)
    priority = LADDER[clamped]
    if clamped != position:
        edge = "most" if position < clamped else "least"
        explanation.append(f"clamped to {priority}, the {edge} severe priority")

    route = config.priorities.get(priority)
    if route is None:
        raise ValueError(f"triage.priorities: no route for priority {priority.value!r}")
    explanation.append(f"priority {priority} → {route.severity}, teams: {', '.join(route.teams)}")

    return TriageResult(
        priority=priority,
        severity=route.severity,
        teams=list(route.teams),
        incident_type=IMPACT_INCIDENT_TYPES.get(impact),
        restricted=impact in RESTRICTED_IMPACTS,
        explanation=explanation,
        service=inp.service.strip() if inp.service is not None else None,
    )


def _choose(name: str, value: str, allowed: list[str]) -> str:
    """Return the configured key a value names (keys are lowercase slugs), or refuse it."""
    key = value.strip().lower()
    if key not in allowed:
        raise ValueError(f"{name}: unknown value {value!r}; allowed: {', '.join(allowed)}")
    return key


def _users_step(affected_users: int, config: TriageConfig) -> AffectedUsersStep | None:
    """Return the exceeded step with the largest raise (the highest threshold on a tie)."""
    passed = [s for s in config.affected_users if affected_users > s.above and s.raise_by > 0]
    return max(passed, key=lambda s: (s.raise_by, s.above), default=None)


def _levels(raise_by: int) -> str:
    direction = "raise" if raise_by > 0 else "lower"
    count = abs(raise_by)
    return f"{direction} by {count} level{'s' if count != 1 else ''}"
