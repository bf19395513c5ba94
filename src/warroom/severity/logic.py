"""Seed 000's severity classifier, with its thresholds and level names taken from configuration.

`classify` keeps `classify_severity`'s decision order and its strict greater-than
comparisons exactly; only the numbers come from `ClassifierThresholds` and the level
names from the configured severity scheme. The rules are checked in order and the first
one that holds decides. Their seed ranks never decrease along that order (1, 1, 1, 1, 2,
2, 3, 4), so the first match is also the most severe match, and because every condition
is a strict `>` on a number or a true flag, raising any input can never lower the
severity.

A seed rank (1 = most severe ... 4) names a configured level by position: the first
configured level is rank 1. A scheme with fewer than four levels takes the least severe
configured level for every rank beyond its length, so `P0`-`P3`, `P1`-`P4` and shorter
schemes all work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.config.incidents import ClassifierThresholds, RoleDefinition, SeverityLevel

__all__ = [
    "NO_REQUIRED_ROLES",
    "RULES",
    "Classification",
    "ImpactMetrics",
    "classify",
    "level_for_rank",
    "response_requirements",
]

# Seed 000 lists "Assigned engineer" for SEV4, a level that needs none of the incident roles.
NO_REQUIRED_ROLES = "Assigned engineer"

# Stable machine ids of the rules, in the order they are checked.
RULES: tuple[str, ...] = (
    "security_or_data_loss",
    "high_error_rate_and_users",
    "core_feature_and_users",
    "revenue_sev1",
    "revenue_sev2",
    "moderate_error_or_users",
    "low_error_or_users",
    "minimal_impact",
)


@dataclass(frozen=True)
class ImpactMetrics:
    """What is known about an incident's impact: seed 000's `IncidentMetrics`, validated."""

    error_rate_percent: float
    affected_users_percent: float
    revenue_impact_per_hour: float
    is_security_incident: bool = False
    is_data_loss: bool = False
    core_feature_affected: bool = False

    def __post_init__(self) -> None:
        for name in ("error_rate_percent", "affected_users_percent", "revenue_impact_per_hour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number, got {value!r}")
        for name in ("error_rate_percent", "affected_users_percent"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name}: must be between 0 and 100, got {value!r}")
        if self.revenue_impact_per_hour < 0:
            raise ValueError(
                f"revenue_impact_per_hour: cannot be negative, got {self.revenue_impact_per_hour!r}"
            )
        for name in ("is_security_incident", "is_data_loss", "core_feature_affected"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class Classification:
    """The severity the classifier chose, the rule that chose it, and what it requires."""

    severity: str
    rank: int
    rule: str
    explanation: str
    requirements: dict[str, Any] = field(default_factory=dict)


def level_for_rank(rank: int, severities: Sequence[SeverityLevel]) -> SeverityLevel:
    """Return the configured level at a seed rank, clamped to the scheme's length."""
    if not severities:
        raise ValueError("severities: at least one level is needed")
    return severities[min(max(rank, 1), len(severities)) - 1]


def classify(
    metrics: ImpactMetrics,
    *,
    thresholds: ClassifierThresholds,
    severities: Sequence[SeverityLevel],
    roles: Mapping[str, RoleDefinition],
) -> Classification:
    """Classify an incident's severity from its impact, in seed 000's rule order."""
    rank, rule, reason = _decide(metrics, thresholds)
    level = level_for_rank(rank, severities)
    return Classification(
        severity=level.name,
        rank=rank,
        rule=rule,
        explanation=f"{reason} → {level.name}",
        requirements=response_requirements(level, roles),
    )


def response_requirements(
    level: SeverityLevel, roles: Mapping[str, RoleDefinition]
) -> dict[str, Any]:
    """Return what a level requires: seed 000's `get_response_requirements` keys, plus clocks."""
    role_names: list[str] = []
    for key in level.required_roles:
        role = roles.get(key)
        if role is None:
            raise ValueError(f"severity {level.name}: required role {key!r} is not configured")
        role_names.append(role.short_name)
    return {
        "response_time": level.response_time,
        "update_frequency": level.update_frequency,
        "required_roles": role_names or [NO_REQUIRED_ROLES],
        "status_page": level.status_page,
        "leadership_notification": level.leadership_notification,
        "bridge_call": level.bridge_call,
        "update_interval_seconds": _seconds(level.update_interval.total_seconds()),
        "sla": {
            "acknowledge_seconds": _seconds(level.sla.acknowledge.total_seconds()),
            "mitigate_seconds": _seconds(level.sla.mitigate.total_seconds()),
            "resolve_seconds": _seconds(level.sla.resolve.total_seconds()),
        },
        "component_status": level.component_status.value if level.component_status else None,
        "required_role_keys": list(level.required_roles),
    }


def _decide(m: ImpactMetrics, t: ClassifierThresholds) -> tuple[int, str, str]:
    """Return (seed rank, rule id, reason); the order and the `>` are seed 000's."""
    error = f"error rate {_num(m.error_rate_percent)}%"
    users = f"affected users {_num(m.affected_users_percent)}%"
    revenue = f"revenue impact ${_num(m.revenue_impact_per_hour)}/h"

    if m.is_security_incident or m.is_data_loss:
        flags = [
            text
            for text, on in (
                ("security incident", m.is_security_incident),
                ("data loss", m.is_data_loss),
            )
            if on
        ]
        return 1, "security_or_data_loss", " and ".join(flags)

    if (
        m.error_rate_percent > t.sev1_error_rate_percent
        and m.affected_users_percent > t.sev1_error_affected_users_percent
    ):
        return (
            1,
            "high_error_rate_and_users",
            f"{error} > {_num(t.sev1_error_rate_percent)}% and "
            f"{users} > {_num(t.sev1_error_affected_users_percent)}%",
        )

    if (
        m.core_feature_affected
        and m.affected_users_percent > t.sev1_core_feature_affected_users_percent
    ):
        return (
            1,
            "core_feature_and_users",
            f"core feature affected and {users} > "
            f"{_num(t.sev1_core_feature_affected_users_percent)}%",
        )

    if m.revenue_impact_per_hour > t.sev1_revenue_per_hour:
        return 1, "revenue_sev1", f"{revenue} > ${_num(t.sev1_revenue_per_hour)}/h"
    if m.revenue_impact_per_hour > t.sev2_revenue_per_hour:
        return 2, "revenue_sev2", f"{revenue} > ${_num(t.sev2_revenue_per_hour)}/h"

    moderate = _exceeded(
        (error, m.error_rate_percent, t.sev2_error_rate_percent),
        (users, m.affected_users_percent, t.sev2_affected_users_percent),
    )
    if moderate:
        return 2, "moderate_error_or_users", moderate

    low = _exceeded(
        (error, m.error_rate_percent, t.sev3_error_rate_percent),
        (users, m.affected_users_percent, t.sev3_affected_users_percent),
    )
    if low:
        return 3, "low_error_or_users", low

    return (
        4,
        "minimal_impact",
        f"minimal impact: {error} ≤ {_num(t.sev3_error_rate_percent)}%, "
        f"{users} ≤ {_num(t.sev3_affected_users_percent)}%, "
        f"{revenue} ≤ ${_num(t.sev2_revenue_per_hour)}/h",
    )


def _exceeded(*checks: tuple[str, float, float]) -> str:
    """Join the "value > threshold" parts that hold; empty when none does (the seed's `or`)."""
    return " and ".join(
        f"{label} > {_num(threshold)}%" for label, value, threshold in checks if value > threshold
    )


def _num(value: float) -> str:
    """Write a number for people: 15, 50.0001, 10,000, not 15.0 or 1e+04."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return repr(float(value))


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
