"""Seed 003's triage: impact sets a priority, urgency and reach move it, the priority routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from warroom.config import schema
from warroom.config.triage import AffectedUsersStep, Priority, TriageConfig
from warroom.configuration import load_config
from warroom.triage import TriageInput, TriageResult, triage
from warroom.triage.logic import IMPACT_INCIDENT_TYPES, LADDER, RESTRICTED_IMPACTS

SEED_IMPACT_TYPES = [
    "data_breach",
    "service_outage",
    "service_degradation",
    "security_violation",
    "compliance_issue",
    "user_complaints",
    "internal_error",
]

SEED_TEAMS = {
    Priority.CRITICAL: ["security-engineer", "devops-incident-responder", "sre-engineer"],
    Priority.HIGH: ["devops-incident-responder", "security-engineer", "backend-developer"],
    Priority.MEDIUM: ["devops-incident-responder", "backend-developer"],
    Priority.LOW: ["backend-developer", "qa-expert"],
}


def _default_yaml() -> dict[str, Any]:
    path = Path(schema.__file__).parent / "defaults" / "triage.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def rules() -> TriageConfig:
    return TriageConfig.model_validate(_default_yaml()["triage"])


def run(
    rules: TriageConfig,
    impact: str = "internal_error",
    urgency: str = "normal",
    users: int = 0,
    service: str | None = None,
) -> TriageResult:
    return triage(TriageInput(impact, urgency, users, service), config=rules)


# --- the seed's example -------------------------------------------------------------------


def test_the_seed_example_is_a_critical_sev1_outage(rules: TriageConfig) -> None:
    # warroom triage --incident INC-001 --impact service_outage --urgency immediate
    #   --affected-users 500 --service api-service
    result = run(rules, "service_outage", "immediate", 500, "api-service")

    assert result == TriageResult(
        priority=Priority.CRITICAL,
        severity="SEV1",
        teams=["security-engineer", "devops-incident-responder", "sre-engineer"],
        incident_type="service_outage",
        restricted=False,
        explanation=[
            "impact service_outage → critical",
            "urgency immediate: raise by 1 level",
            "clamped to critical, the most severe priority",
            "priority critical → SEV1, teams: security-engineer, devops-incident-responder, "
            "sre-engineer",
        ],
        service="api-service",
    )


# --- the default configuration ------------------------------------------------------------


def test_the_default_file_is_a_triage_section_only() -> None:
    assert list(_default_yaml()) == ["triage"]


def test_the_defaults_know_every_seed_impact_type(rules: TriageConfig) -> None:
    assert sorted(rules.impact_types) == sorted(SEED_IMPACT_TYPES)
    assert sorted(IMPACT_INCIDENT_TYPES) == sorted(SEED_IMPACT_TYPES)


def test_the_defaults_route_each_priority_as_seed_003(rules: TriageConfig) -> None:
    assert {p: route.teams for p, route in rules.priorities.items()} == SEED_TEAMS
    assert {p: route.severity for p, route in rules.priorities.items()} == {
        Priority.CRITICAL: "SEV1",
        Priority.HIGH: "SEV2",
        Priority.MEDIUM: "SEV3",
        Priority.LOW: "SEV4",
    }


def test_the_default_configuration_loads_with_the_triage_defaults() -> None:
    whole = load_config(None)

    assert whole.triage == TriageConfig.model_validate(_default_yaml()["triage"])
    for incident_type in filter(None, IMPACT_INCIDENT_TYPES.values()):
        assert whole.incident_type(incident_type) is not None, incident_type
    for impact in SEED_IMPACT_TYPES:
        result = triage(TriageInput(impact, "immediate", 500), config=whole.triage)
        assert whole.severity(result.severity) is not None


# --- each impact type, at normal urgency and few users ------------------------------------


@pytest.mark.parametrize(
    ("impact", "priority", "severity", "incident_type", "restricted"),
    [
        ("data_breach", Priority.CRITICAL, "SEV1", "security_breach", True),
        ("service_outage", Priority.CRITICAL, "SEV1", "service_outage", False),
        ("security_violation", Priority.HIGH, "SEV2", "security_breach", True),
        ("compliance_issue", Priority.HIGH, "SEV2", "data_privacy", True),
        ("service_degradation", Priority.MEDIUM, "SEV3", "performance_degradation", False),
        ("user_complaints", Priority.MEDIUM, "SEV3", None, False),
        ("internal_error", Priority.LOW, "SEV4", None, False),
    ],
)
def test_each_impact_type_sets_the_base_priority(
    rules: TriageConfig,
    impact: str,
    priority: Priority,
    severity: str,
    incident_type: str | None,
    restricted: bool,
) -> None:
    result = run(rules, impact, "normal", 10)

    assert result.priority == priority
    assert result.severity == severity
    assert result.teams == SEED_TEAMS[priority]
    assert result.incident_type == incident_type
    assert result.restricted is restricted
    assert result.explanation == [
        f"impact {impact} → {priority}",
        f"priority {priority} → {severity}, teams: {', '.join(SEED_TEAMS[priority])}",
    ]


def test_restricted_impacts_are_the_security_and_privacy_ones() -> None:
    assert {"data_breach", "security_violation", "compliance_issue"} == RESTRICTED_IMPACTS


# --- each urgency ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "priority", "step"),
    [
        ("immediate", Priority.HIGH, "urgency immediate: raise by 1 level"),
        ("high", Priority.MEDIUM, None),
        ("normal", Priority.MEDIUM, None),
        ("medium", Priority.MEDIUM, None),
        ("low", Priority.LOW, "urgency low: lower by 1 level"),
    ],
)
def test_each_urgency_moves_the_priority(
    rules: TriageConfig, urgency: str, priority: Priority, step: str | None
) -> None:
    result = run(rules, "service_degradation", urgency)

    assert result.priority == priority
    assert (step in result.explanation) if step else len(result.explanation) == 2


def test_urgency_is_read_from_configuration(rules: TriageConfig) -> None:
    custom = rules.model_copy(update={"urgency": {"now": 2, "whenever": -3}})

    assert run(custom, "internal_error", "now").priority == Priority.HIGH
    assert run(custom, "service_outage", "whenever").priority == Priority.LOW


# --- affected users at their boundaries -----------------------------------------------------


@pytest.mark.parametrize(
    ("users", "priority", "step"),
    [
        (0, Priority.LOW, None),
        (500, Priority.LOW, None),
        (1000, Priority.LOW, None),
        (1001, Priority.MEDIUM, "affected users 1,001 > 1,000: raise by 1 level"),
        (10_000, Priority.MEDIUM, "affected users 10,000 > 1,000: raise by 1 level"),
        (10_001, Priority.HIGH, "affected users 10,001 > 10,000: raise by 2 levels"),
        (10**9, Priority.HIGH, "affected users 1,000,000,000 > 10,000: raise by 2 levels"),
    ],
)
def test_affected_users_raise_the_priority_strictly_above_each_step(
    rules: TriageConfig, users: int, priority: Priority, step: str | None
) -> None:
    result = run(rules, "internal_error", "normal", users)

    assert result.priority == priority
    if step:
        assert step in result.explanation
    else:
        assert not any(line.startswith("affected users") for line in result.explanation)


def test_the_largest_raise_among_the_steps_passed_applies(rules: TriageConfig) -> None:
    steps = [
        AffectedUsersStep(above=100, raise_by=1),
        AffectedUsersStep(above=50, raise_by=2),
        AffectedUsersStep(above=10, raise_by=0),
    ]
    custom = rules.model_copy(update={"affected_users": steps})

    assert run(custom, users=11).priority == Priority.LOW
    assert run(custom, users=51).priority == Priority.HIGH
    assert "affected users 101 > 50: raise by 2 levels" in run(custom, users=101).explanation


def test_users_and_urgency_add_up(rules: TriageConfig) -> None:
    result = run(rules, "internal_error", "immediate", 1001)

    assert result.priority == Priority.HIGH
    assert result.explanation[1:3] == [
        "urgency immediate: raise by 1 level",
        "affected users 1,001 > 1,000: raise by 1 level",
    ]


# --- clamping -------------------------------------------------------------------------------


def test_the_priority_never_goes_above_critical(rules: TriageConfig) -> None:
    result = run(rules, "data_breach", "immediate", 50_000)

    assert result.priority == Priority.CRITICAL
    assert "clamped to critical, the most severe priority" in result.explanation


def test_the_priority_never_goes_below_low(rules: TriageConfig) -> None:
    result = run(rules, "internal_error", "low", 0)

    assert result.priority == Priority.LOW
    assert "clamped to low, the least severe priority" in result.explanation


def test_clamping_happens_once_at_the_end(rules: TriageConfig) -> None:
    # low - 1 (urgency) + 1 (users) nets out at low, whichever step comes first.
    result = run(rules, "internal_error", "low", 5_000)

    assert result.priority == Priority.LOW
    assert not any(line.startswith("clamped") for line in result.explanation)


@given(
    st.sampled_from(SEED_IMPACT_TYPES),
    st.sampled_from(["immediate", "high", "normal", "medium", "low"]),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
)
def test_more_users_never_lower_the_priority(impact: str, urgency: str, a: int, b: int) -> None:
    rules = TriageConfig.model_validate(_default_yaml()["triage"])
    fewer, more = sorted((a, b))

    low = run(rules, impact, urgency, fewer).priority
    high = run(rules, impact, urgency, more).priority

    assert LADDER.index(high) <= LADDER.index(low)
    assert high in rules.priorities


# --- input validation -----------------------------------------------------------------------


def test_an_unknown_impact_is_refused_listing_the_allowed_values(rules: TriageConfig) -> None:
    with pytest.raises(ValueError, match=r"^impact: unknown value 'outage'; allowed: data_breach"):
        run(rules, "outage", "normal")


def test_an_unknown_urgency_is_refused_listing_the_allowed_values(rules: TriageConfig) -> None:
    with pytest.raises(
        ValueError, match=r"^urgency: .*'asap'.*immediate, high, normal, medium, low"
    ):
        run(rules, "internal_error", "asap")


def test_impact_and_urgency_are_matched_ignoring_case_and_spaces(rules: TriageConfig) -> None:
    result = run(rules, " Service_Outage ", "IMMEDIATE")

    assert result.priority == Priority.CRITICAL
    assert result.explanation[0] == "impact service_outage → critical"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "normal", 0, None), "impact"),
        (("internal_error", "  ", 0, None), "urgency"),
        (("internal_error", "normal", -1, None), "affected_users"),
        (("internal_error", "normal", 1.5, None), "affected_users"),
        (("internal_error", "normal", True, None), "affected_users"),
        (("internal_error", "normal", 0, ""), "service"),
    ],
)
def test_malformed_input_is_refused_naming_the_field(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        TriageInput(*args)


def test_a_priority_without_a_route_is_a_configuration_error(rules: TriageConfig) -> None:
    partial = rules.model_copy(
        update={"priorities": {p: r for p, r in rules.priorities.items() if p != Priority.LOW}}
    )

    with pytest.raises(ValueError, match=r"triage\.priorities: no route for priority 'low'"):
        run(partial, "internal_error")


def test_an_impact_a_deployment_adds_has_no_incident_type(rules: TriageConfig) -> None:
    custom = rules.model_copy(
        update={"impact_types": {**rules.impact_types, "payment_failure": Priority.HIGH}}
    )

    result = run(custom, "payment_failure", "normal", service="payments")

    assert (result.priority, result.incident_type, result.restricted) == (
        Priority.HIGH,
        None,
        False,
    )
    assert result.service == "payments"
