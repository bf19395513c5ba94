"""Escalation decisions: where paging goes next, which rules hold, acknowledge links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.configuration import load_config
from warroom.escalation.logic import (
    CHAIN_POLICY,
    AckLinkError,
    IncidentFacts,
    Policy,
    Position,
    Step,
    StepTarget,
    derive_key,
    escalate_key,
    next_position,
    page_urgency,
    paging_plan,
    policy_from_chain,
    policy_from_spec,
    read_ack_token,
    rule_holds,
    sign_ack_token,
    step_description,
)
from warroom.escalation.matrix import Rule, compile_rules, parse_condition

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
KEY = derive_key("x" * 40, "acknowledge links")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def three_steps(repeat: int = 0) -> Policy:
    return Policy(
        name="p",
        repeat=repeat,
        steps=tuple(
            Step(delay=minutes(d), targets=(StepTarget("user", f"u{i}"),))
            for i, d in enumerate((10, 10, 15))
        ),
    )


# --- the paging state machine -----------------------------------------------------------


def test_steps_then_loops_then_nothing() -> None:
    assert next_position(Position(0, 0, 0), 3, 1) == Position(0, 1, 0)
    assert next_position(Position(0, 2, 0), 3, 1) == Position(0, 0, 1)
    assert next_position(Position(0, 2, 1), 3, 1) is None
    assert next_position(Position(2, 0, 0), 1, 0) is None


def test_paging_plan_of_an_unacknowledged_round() -> None:
    pages, exhausted = paging_plan(three_steps(repeat=1), T0)
    assert [(p.at - T0, p.position.step, p.position.loop) for p in pages] == [
        (minutes(0), 0, 0),
        (minutes(10), 1, 0),
        (minutes(20), 2, 0),
        (minutes(35), 0, 1),
        (minutes(45), 1, 1),
        (minutes(55), 2, 1),
    ]
    assert exhausted - T0 == minutes(70)


@given(
    steps=st.integers(min_value=1, max_value=6),
    repeat=st.integers(min_value=0, max_value=5),
    round=st.integers(min_value=0, max_value=3),
)
def test_every_step_pages_once_per_pass(steps: int, repeat: int, round: int) -> None:
    seen = []
    position: Position | None = Position(round, 0, 0)
    while position is not None:
        seen.append(position)
        position = next_position(position, steps, repeat)
    assert seen == [Position(round, s, loop) for loop in range(repeat + 1) for s in range(steps)]
    assert len({escalate_key(7, p) for p in seen}) == len(seen)


def test_step_descriptions() -> None:
    policy = three_steps(repeat=1)
    assert step_description(policy, Position(0, 1, 0)) == "step 2"
    assert step_description(policy, Position(0, 0, 1)) == "step 1, repeat 1 of 1"
    assert step_description(policy, Position(1, 0, 0)) == "step 1, round 2"


def test_urgency_follows_the_severity_unless_the_step_says() -> None:
    step = Step(delay=minutes(5), targets=())
    assert page_urgency(step, 1) == "high"
    assert page_urgency(step, 2) == "high"
    assert page_urgency(step, 3) == "low"
    assert page_urgency(step, None) == "low"
    assert page_urgency(Step(delay=minutes(5), targets=(), urgency="high"), 4) == "high"


def test_example_policy_and_the_matrix_chain() -> None:
    config = load_config(EXAMPLES)
    spec = config.escalation_policy("platform-oncall")
    assert spec is not None
    policy = policy_from_spec(spec)
    assert [s.delay for s in policy.steps] == [minutes(10)] * 3
    assert [t.describe() for s in policy.steps for t in s.targets] == [
        "schedule platform, layer primary",
        "schedule platform, layer secondary",
        "schedule EM_ONCALL",
    ]
    assert (policy.repeat, policy.ack_timeout) == (1, minutes(30))
    chain = policy_from_chain(compile_rules(config).matrix.chain)
    assert chain is not None and chain.name == CHAIN_POLICY
    assert [(s.targets[0].name, s.delay, s.delivery.plan) for s in chain.steps] == [
        ("Primary On-Call Engineer", minutes(10), True),
        ("Secondary On-Call Engineer", minutes(10), True),
        ("Engineering Manager", minutes(10), False),
    ]


# --- rules ------------------------------------------------------------------------------


def facts(**impact: object) -> IncidentFacts:
    return IncidentFacts(severity="SEV1", declared_at=T0, open=True, impact=impact)


def rule_for(text: str) -> Rule:
    return Rule(id="r", where="w", condition=parse_condition(text), targets=("X",))


def holds(text: str, at: datetime = T0, **impact: object) -> str | None:
    return rule_holds(rule_for(text), facts(**impact), at)


def test_time_rules_hold_from_their_instant() -> None:
    assert holds("30 minutes without resolution", T0 + minutes(29)) is None
    assert holds("30 minutes without resolution", T0 + minutes(30)) == (
        "unresolved 30 minutes after declaration"
    )


def test_revenue_rules_compare_strictly() -> None:
    assert holds("Revenue loss exceeds $50,000", revenue_loss=50_000) is None
    assert holds("Revenue loss exceeds $50,000", revenue_loss=60_000) == (
        "revenue_loss $60,000 > $50,000"
    )
    # "Revenue impact" reads the loss or the hourly impact.
    assert holds("Revenue impact exceeds $10,000", revenue_impact_per_hour=12_500.5) == (
        "revenue_impact_per_hour $12,500.50 > $10,000"
    )
    assert holds("Revenue loss exceeds $50,000", revenue_impact_per_hour=90_000) is None
    assert holds("Revenue loss exceeds $50,000", revenue_loss="lots") is None


def test_flag_rules() -> None:
    assert holds("Customer data exposed", customer_data_exposed=True)
    assert holds("Customer data exposed", customer_data_exposed=False) is None
    assert holds("SLA breach imminent", sla_breach_imminent=True)
    assert holds("Third-party dependency failure", third_party_failure=True, vendor="Stripe") == (
        "third_party_failure (Stripe)"
    )


def test_multiple_critical_systems_by_count_or_by_tier_0_services() -> None:
    assert holds("Multiple critical systems affected", critical_systems_affected=1) is None
    assert holds("Multiple critical systems affected", critical_systems_affected=3)
    rule = rule_for("Multiple critical systems affected")
    two_tier_0 = IncidentFacts("SEV1", T0, True, {}, critical_services=2)
    assert rule_holds(rule, two_tier_0, T0) == "2 tier-0 services affected"


def test_nothing_holds_once_resolved() -> None:
    rule = rule_for("Customer data exposed")
    closed = IncidentFacts("SEV1", T0, False, {"customer_data_exposed": True})
    assert rule_holds(rule, closed, T0) is None


# --- acknowledge links ------------------------------------------------------------------


def test_a_link_round_trips() -> None:
    token = sign_ack_token(KEY, incident_id=42, user="jane.smith", expires_at=T0 + minutes(60))
    claim = read_ack_token(KEY, token, now=T0)
    assert (claim.incident_id, claim.user) == (42, "jane.smith")
    assert claim.expires_at == T0 + minutes(60)
    # Short enough for a text message.
    assert len(token) < 80


def test_an_expired_link_is_refused() -> None:
    token = sign_ack_token(KEY, incident_id=1, user="bob", expires_at=T0 + minutes(1))
    with pytest.raises(AckLinkError) as caught:
        read_ack_token(KEY, token, now=T0 + minutes(1))
    assert caught.value.reason == "expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # another tag
        lambda t: "x" + t,  # another body
        lambda t: sign_ack_token(
            derive_key("y" * 40, "acknowledge links"),
            incident_id=1,
            user="bob",
            expires_at=T0 + minutes(5),
        ),  # another key
    ],
)
def test_a_forged_link_is_refused(mutate: Callable[[str], str]) -> None:
    token = sign_ack_token(KEY, incident_id=1, user="bob", expires_at=T0 + minutes(5))
    with pytest.raises(AckLinkError) as caught:
        read_ack_token(KEY, mutate(token), now=T0)
    assert caught.value.reason == "forged"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "a" * 600])
def test_a_malformed_link_is_refused(token: str) -> None:
    with pytest.raises(AckLinkError) as caught:
        read_ack_token(KEY, token, now=T0)
    assert caught.value.reason in ("malformed", "forged")


def test_another_user_cannot_be_substituted() -> None:
    token = sign_ack_token(KEY, incident_id=1, user="bob", expires_at=T0 + minutes(5))
    body, tag = token.split(".")
    other = sign_ack_token(KEY, incident_id=1, user="eve", expires_at=T0 + minutes(5))
    with pytest.raises(AckLinkError):
        read_ack_token(KEY, f"{other.split('.')[0]}.{tag}", now=T0)
    assert read_ack_token(KEY, f"{body}.{tag}", now=T0).user == "bob"
