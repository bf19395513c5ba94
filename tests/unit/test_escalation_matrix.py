"""The escalation matrix and the roles' triggers, read from the seeds' free text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from warroom.configuration import load_config, validate_path
from warroom.escalation.matrix import (
    ConditionKind,
    Delivery,
    compile_rules,
    matches_severity,
    parse_action,
    parse_condition,
    parse_matrix,
    parse_method,
    split_names,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def seed_matrix() -> dict[str, object]:
    data = yaml.safe_load((EXAMPLES / "escalation-matrix.yaml").read_text())
    matrix: dict[str, object] = data["escalation_matrix"]
    return matrix


# --- conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("30 minutes without resolution", timedelta(minutes=30)),
        ("90 minutes without resolution", timedelta(minutes=90)),
        ("2 hours without resolution", timedelta(hours=2)),
        ("Incident duration exceeds 60 minutes", timedelta(minutes=60)),
        ("incident  duration exceeds 1h.", timedelta(hours=1)),
    ],
)
def test_time_conditions(text: str, after: timedelta) -> None:
    condition = parse_condition(text)
    assert condition.kind is ConditionKind.UNRESOLVED_FOR
    assert condition.after == after
    assert condition.time_based


@pytest.mark.parametrize(
    ("text", "amount", "fields"),
    [
        ("Revenue loss exceeds $50,000", 50_000, ("revenue_loss",)),
        ("Revenue impact exceeds $10,000", 10_000, ("revenue_loss", "revenue_impact_per_hour")),
        ("revenue loss exceeds 1500", 1_500, ("revenue_loss",)),
        ("Revenue loss exceeds $10k", 10_000, ("revenue_loss",)),
        ("Revenue loss exceeds $1.5m", 1_500_000, ("revenue_loss",)),
    ],
)
def test_revenue_conditions(text: str, amount: float, fields: tuple[str, ...]) -> None:
    condition = parse_condition(text)
    assert (condition.kind, condition.amount, condition.fields) == (
        ConditionKind.REVENUE,
        amount,
        fields,
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Customer data exposed", ConditionKind.DATA_EXPOSED),
        ("Customer data potentially exposed", ConditionKind.DATA_EXPOSED),
        ("SLA breach imminent", ConditionKind.SLA_AT_RISK),
        ("Third-party dependency failure", ConditionKind.VENDOR_FAILURE),
        ("third party failure", ConditionKind.VENDOR_FAILURE),
        ("Multiple critical systems affected", ConditionKind.CRITICAL_SYSTEMS),
    ],
)
def test_impact_conditions(text: str, kind: ConditionKind) -> None:
    assert parse_condition(text).kind is kind


@pytest.mark.parametrize(
    "text", ["Things look bad", "Revenue loss exceeds lots", "30 minutes", "$50,000"]
)
def test_unreadable_conditions_say_what_is_understood(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read the condition") as caught:
        parse_condition(text)
    assert "without resolution" in str(caught.value)


# --- methods and actions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "delivery"),
    [
        ("phone", Delivery(("voice",), "phone")),
        ("slack", Delivery(("slack",), "slack")),
        ("email and phone", Delivery(("email", "voice"), "email and phone")),
        (["pagerduty", "phone"], Delivery((), "pagerduty and phone")),
        (["phone"], Delivery(("voice",), "phone")),
        ("SMS, email", Delivery(("sms", "email"), "SMS, email")),
    ],
)
def test_methods(value: object, delivery: Delivery) -> None:
    assert parse_method(value) == delivery


def test_an_unknown_method_is_named() -> None:
    with pytest.raises(ValueError, match="unknown method 'carrier pigeon'"):
        parse_method("carrier pigeon")


def test_actions_of_the_seed_ic() -> None:
    director = parse_action("Notify Engineering Director")
    assert (director.targets, director.delivery.plan, director.urgency) == (
        ("Engineering Director",),
        True,
        "low",
    )
    security = parse_action("Notify Security team and Legal immediately")
    assert (security.targets, security.urgency) == (("Security team", "Legal"), "high")
    money = parse_action("Notify VP of Engineering and Finance")
    assert money.targets == ("VP of Engineering", "Finance")
    advice = parse_action("Consider declaring company-wide emergency")
    assert advice.targets == () and advice.advice == "Consider declaring company-wide emergency"
    call = parse_action("Call the CEO")
    assert call.delivery.channels == ("voice",)


def test_a_known_name_with_and_in_it_is_not_split() -> None:
    assert split_names("Research and Development", {"research and development"}) == (
        "Research and Development",
    )
    assert split_names("CISO, Legal and CEO") == ("CISO", "Legal", "CEO")


def test_an_unreadable_action_is_a_problem() -> None:
    with pytest.raises(ValueError, match="cannot read the action"):
        parse_action("Shout loudly")


# --- the seed's matrix ----------------------------------------------------------------------


def test_the_seed_matrix_reads_as_it_stands(seed_matrix: dict[str, object]) -> None:
    matrix, problems = parse_matrix(seed_matrix)
    assert problems == []
    assert [
        (r.condition.after, r.severities, r.targets, r.delivery.channels) for r in matrix.time_based
    ] == [
        (timedelta(minutes=30), ("SEV1",), ("Engineering Manager on-call",), ("voice",)),
        (timedelta(minutes=60), ("SEV1",), ("Director of Engineering",), ("voice",)),
        (timedelta(minutes=90), ("SEV1",), ("VP of Engineering",), ("voice",)),
        (timedelta(minutes=60), ("SEV2",), ("Engineering Manager on-call",), ("slack",)),
    ]
    assert [(r.condition.kind, r.targets, r.delivery.channels) for r in matrix.impact_based] == [
        (ConditionKind.REVENUE, ("VP of Engineering", "CFO"), ("voice",)),
        (ConditionKind.DATA_EXPOSED, ("CISO", "Legal", "CEO"), ("voice",)),
        (ConditionKind.SLA_AT_RISK, ("Account Manager", "Customer Success Director"), ("slack",)),
        (ConditionKind.VENDOR_FAILURE, ("Vendor contact on file",), ("email", "voice")),
    ]


def test_the_on_call_chain_becomes_timed_steps(seed_matrix: dict[str, object]) -> None:
    matrix, _ = parse_matrix(seed_matrix)
    # The secondary is paged when the primary is unresponsive for 10 minutes, the EM when
    # the secondary is; the EM's own response time closes the chain.
    assert [(s.key, s.role, s.wait, s.delivery.plan) for s in matrix.chain] == [
        ("primary", "Primary On-Call Engineer", timedelta(minutes=10), True),
        ("secondary", "Secondary On-Call Engineer", timedelta(minutes=10), True),
        ("tertiary", "Engineering Manager", timedelta(minutes=10), False),
    ]
    assert matrix.chain[2].delivery.channels == ("voice",)


def test_seed_001_p0_p1_matrix_is_written_in_the_same_form() -> None:
    # Seed 001's matrix: P0 — 5 min EM, 15 min VP, 30 min executives; P1 — 30 min EM,
    # 2 hours VP. (The on-call page at 0 minutes is the escalation policy.)
    data = {
        "time_based": [
            {"trigger": "5 minutes without resolution", "severity": ["P0"],
             "escalate_to": "Engineering Manager on-call", "method": "pagerduty"},
            {"trigger": "15 minutes without resolution", "severity": ["P0"],
             "escalate_to": "VP of Engineering", "method": "pagerduty"},
            {"trigger": "30 minutes without resolution", "severity": ["P0"],
             "escalate_to": ["CEO", "CFO"], "method": "email"},
            {"trigger": "1 hour without resolution", "severity": ["P0"],
             "escalate_to": "Account Manager", "method": "slack"},
            {"trigger": "30 minutes without resolution", "severity": ["P1"],
             "escalate_to": "Engineering Manager on-call", "method": "pagerduty"},
            {"trigger": "2 hours without resolution", "severity": ["P1"],
             "escalate_to": "VP of Engineering", "method": "pagerduty"},
        ]
    }  # fmt: skip
    matrix, problems = parse_matrix(data, known_severity=lambda name: name in {"P0", "P1"})
    assert problems == []
    assert [r.condition.after for r in matrix.time_based] == [
        timedelta(minutes=m) for m in (5, 15, 30, 60, 30, 120)
    ]


def test_matrix_problems_name_their_fields() -> None:
    data = {
        "time_based": [
            {"trigger": "soon", "severity": ["SEV9"], "escalate_to": "X", "method": "owl"},
            {"trigger": "5 minutes without resolution"},
        ],
        "impact_based": [{"trigger": "Customer data exposed", "escalate_to": "X", "colour": 1}],
        "on_call_chain": {"primary": {"role": "A", "response_time": "later"}},
        "surprise": {},
    }
    _, problems = parse_matrix(data, known_severity=lambda name: name == "SEV1")
    fields = sorted(p.split(": ", 1)[0] for p in problems)
    assert fields == [
        "escalation_matrix.impact_based.0.colour",
        "escalation_matrix.on_call_chain.primary",
        "escalation_matrix.on_call_chain.primary.response_time",
        "escalation_matrix.surprise",
        "escalation_matrix.time_based.0.method",
        "escalation_matrix.time_based.0.severity",
        "escalation_matrix.time_based.0.trigger",
        "escalation_matrix.time_based.1.escalate_to",
    ]


# --- in a configuration -----------------------------------------------------------------


def test_example_rules_with_their_ids() -> None:
    config = load_config(EXAMPLES)
    rules = compile_rules(config)
    ids = [r.id for r in rules.all]
    assert ids[:4] == [f"matrix.time_based.{i}" for i in range(4)]
    assert ids[-4:] == [f"role.incident_commander.{i}" for i in range(4)]
    director = rules.get("role.incident_commander.0")
    assert director is not None and director.condition.after == timedelta(minutes=60)
    # Role triggers are for leadership: SEV1 and SEV2 (leadership_notification).
    assert matches_severity(config, director, "SEV2")
    assert not matches_severity(config, director, "SEV3")
    sev1_only = rules.get("matrix.time_based.0")
    assert sev1_only is not None
    assert matches_severity(config, sev1_only, "SEV1")
    assert not matches_severity(config, sev1_only, "SEV2")


def test_the_seed_names_resolve_in_the_examples() -> None:
    assert validate_path(EXAMPLES) == []
    # The seed's matrix alone (no escalation targets) loads too: names are then looked up
    # when a rule fires.
    assert validate_path(EXAMPLES / "escalation-matrix.yaml") == []


def test_unknown_names_are_problems_once_targets_are_given(tmp_path: Path) -> None:
    for name in ("users.yaml", "teams.yaml", "schedules.yaml", "escalation-targets.yaml"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
    (tmp_path / "matrix.yaml").write_text(
        "escalation_matrix:\n"
        "  impact_based:\n"
        '    - trigger: "Customer data exposed"\n'
        '      escalate_to: ["CISO", "Chief Janitor"]\n'
        '      method: "phone"\n'
    )
    problems = validate_path(tmp_path)
    assert [(p.file.endswith("matrix.yaml"), p.line, p.field) for p in problems] == [
        (True, 4, "escalation_matrix.impact_based.0.escalate_to.1")
    ]
    assert problems[0].message == "no escalation target named 'Chief Janitor'"


def test_an_unreadable_role_trigger_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "ic.yaml").write_text(
        "incident_commander:\n"
        "  title: Incident Commander\n"
        "  escalation_triggers:\n"
        '    - condition: "Everything is on fire"\n'
        '      action: "Notify Engineering Director"\n'
    )
    problems = validate_path(tmp_path)
    assert [(p.line, p.field) for p in problems] == [
        (4, "incident_commander.escalation_triggers.0.condition")
    ]


def _with_people(tmp_path: Path, policies: str) -> Path:
    for name in ("users.yaml", "teams.yaml", "schedules.yaml"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
    (tmp_path / "policies.yaml").write_text(policies)
    return tmp_path


def test_policy_cross_references_are_checked(tmp_path: Path) -> None:
    path = _with_people(
        tmp_path,
        "escalation_policies:\n"
        "  - name: p\n"
        "    steps:\n"
        "      - delay: 5 minutes\n"
        "        targets:\n"
        "          - { type: schedule, name: platform, layer: tertiary }\n"
        "          - { type: user, name: nobody }\n"
        "          - { type: team, name: nobody }\n"
        "          - { type: role, name: chief }\n"
        "          - { type: schedule, name: nowhere }\n"
        "services:\n"
        "  - { name: api, escalation_policy: q }\n",
    )
    problems = {(p.line, p.field, p.message) for p in validate_path(path)}
    assert problems == {
        (6, "escalation_policies.0.steps.0.targets.0.name",
         "schedule 'platform' has no layer 'tertiary'"),
        (7, "escalation_policies.0.steps.0.targets.1.name", "unknown user 'nobody'"),
        (8, "escalation_policies.0.steps.0.targets.2.name", "unknown team 'nobody'"),
        (9, "escalation_policies.0.steps.0.targets.3.name", "unknown role 'chief'"),
        (10, "escalation_policies.0.steps.0.targets.4.name", "unknown schedule 'nowhere'"),
        (12, "services.0.escalation_policy", "unknown escalation policy 'q'"),
    }  # fmt: skip


def test_policy_fields_are_checked(tmp_path: Path) -> None:
    path = _with_people(
        tmp_path,
        "escalation_policies:\n"
        "  - name: p\n"
        "    repeat: -1\n"
        "    ack_timeout: 10 seconds\n"
        "    steps:\n"
        "      - delay: 30 seconds\n"
        "        targets: [{ type: channel, name: 'not a channel' }]\n"
        "      - delay: 5 minutes\n"
        "        targets: [{ type: user, name: jane.smith, layer: primary }]\n",
    )
    problems = {(p.field, p.message.split(",")[0]) for p in validate_path(path)}
    assert problems == {
        ("escalation_policies.0.repeat", "Input should be greater than or equal to 0"),
        ("escalation_policies.0.ack_timeout",
         "ack_timeout is at least 1 minute (leave it out to turn it off)"),
        ("escalation_policies.0.steps.0.delay", "a step waits at least 1 minute before escalating"),
        ("escalation_policies.0.steps.0.targets.0", "name: a Slack address is #channel"),
        ("escalation_policies.0.steps.1.targets.0", "layer applies to schedule targets only"),
    }  # fmt: skip
