"""The incident state machine and its timestamp chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.incidents.logic import (
    TIMESTAMP_FIELDS,
    Status,
    Timestamps,
    TransitionRefused,
    allowed_transitions,
    check_transition,
    duration_seconds,
    stamps_for_transition,
    timestamp_order_problems,
)

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
S = Status

ALLOWED = {
    (S.INVESTIGATING, S.IDENTIFIED),
    (S.INVESTIGATING, S.MONITORING),
    (S.INVESTIGATING, S.RESOLVED),
    (S.IDENTIFIED, S.INVESTIGATING),
    (S.IDENTIFIED, S.MONITORING),
    (S.IDENTIFIED, S.RESOLVED),
    (S.MONITORING, S.INVESTIGATING),
    (S.MONITORING, S.IDENTIFIED),
    (S.MONITORING, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.INVESTIGATING),
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_every_transition_is_allowed_or_refused_as_specified(
    current: Status, target: Status
) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
        assert target in allowed_transitions(current)
    else:
        with pytest.raises(TransitionRefused):
            check_transition(current, target)
        assert target not in allowed_transitions(current)


def test_refusals_say_why() -> None:
    with pytest.raises(TransitionRefused, match="already investigating"):
        check_transition(S.INVESTIGATING, S.INVESTIGATING)
    with pytest.raises(TransitionRefused, match="only a resolved incident can be closed"):
        check_transition(S.MONITORING, S.CLOSED)
    with pytest.raises(TransitionRefused, match="closed incident cannot change"):
        check_transition(S.CLOSED, S.INVESTIGATING)
    with pytest.raises(TransitionRefused, match="closed or reopened"):
        check_transition(S.RESOLVED, S.MONITORING)


def test_closed_is_terminal() -> None:
    assert allowed_transitions(S.CLOSED) == frozenset()


def test_timestamps_in_order_have_no_problems() -> None:
    stamps = {name: T0 + timedelta(minutes=i) for i, name in enumerate(TIMESTAMP_FIELDS)}
    assert timestamp_order_problems(stamps) == []


def test_equal_timestamps_are_in_order() -> None:
    assert timestamp_order_problems({name: T0 for name in TIMESTAMP_FIELDS}) == []


@pytest.mark.parametrize("index", range(1, len(TIMESTAMP_FIELDS)))
def test_a_timestamp_before_its_predecessor_is_named(index: int) -> None:
    stamps: dict[str, datetime | None] = {
        name: T0 + timedelta(minutes=i) for i, name in enumerate(TIMESTAMP_FIELDS)
    }
    field = TIMESTAMP_FIELDS[index]
    stamps[field] = T0 - timedelta(seconds=1)
    problems = timestamp_order_problems(stamps)
    assert [f for f, _ in problems] == [field]
    assert f"is before {TIMESTAMP_FIELDS[index - 1]}" in problems[0][1]


def test_gaps_compare_with_the_latest_present_stamp() -> None:
    problems = timestamp_order_problems(
        {
            "started_at": T0,
            "resolved_at": T0 + timedelta(hours=1),
            "closed_at": T0 + timedelta(minutes=5),
        }
    )
    assert problems == [
        (
            "closed_at",
            f"closed_at ({(T0 + timedelta(minutes=5)).isoformat()}) is before resolved_at "
            f"({(T0 + timedelta(hours=1)).isoformat()})",
        )
    ]


def test_resolving_stamps_ack_mitigation_and_resolution_once() -> None:
    at = T0 + timedelta(minutes=30)
    assert stamps_for_transition(Timestamps(declared_at=T0), S.RESOLVED, at) == {
        "acknowledged_at": at,
        "mitigated_at": at,
        "resolved_at": at,
    }
    already = Timestamps(declared_at=T0, acknowledged_at=T0, mitigated_at=T0)
    assert stamps_for_transition(already, S.RESOLVED, at) == {"resolved_at": at}


def test_identified_acknowledges_but_does_not_mitigate() -> None:
    at = T0 + timedelta(minutes=5)
    assert stamps_for_transition(Timestamps(declared_at=T0), S.IDENTIFIED, at) == {
        "acknowledged_at": at
    }


def test_reopening_clears_resolution_and_mitigation() -> None:
    resolved = Timestamps(declared_at=T0, acknowledged_at=T0, mitigated_at=T0, resolved_at=T0)
    at = T0 + timedelta(hours=1)
    assert stamps_for_transition(resolved, S.INVESTIGATING, at) == {
        "mitigated_at": None,
        "resolved_at": None,
    }


def test_closing_stamps_closed_at() -> None:
    at = T0 + timedelta(days=2)
    assert stamps_for_transition(Timestamps(declared_at=T0, resolved_at=T0), S.CLOSED, at) == {
        "closed_at": at
    }


def test_duration_runs_from_start_to_resolution_or_now() -> None:
    stamps = Timestamps(started_at=T0, declared_at=T0 + timedelta(minutes=15))
    now = T0 + timedelta(hours=2)
    assert duration_seconds(stamps, now) == 7200
    assert duration_seconds(replace(stamps, resolved_at=T0 + timedelta(hours=5)), now) == 18000
    assert duration_seconds(Timestamps(declared_at=T0), now) == 7200


@given(
    st.lists(st.sampled_from(list(Status)), max_size=30),
    st.lists(st.integers(0, 3600), max_size=30),
)
def test_any_walk_of_allowed_transitions_keeps_the_chain_in_order(
    targets: list[Status], gaps: list[int]
) -> None:
    status = S.INVESTIGATING
    now = T0
    stamps = Timestamps(declared_at=T0)
    for target, gap in zip(targets, gaps, strict=False):
        now += timedelta(seconds=gap)
        if target not in allowed_transitions(status):
            continue
        stamps = replace(stamps, **stamps_for_transition(stamps, target, now))
        status = target
        assert timestamp_order_problems(stamps.as_dict()) == []
        assert (stamps.resolved_at is not None) == (status in (S.RESOLVED, S.CLOSED))
        assert (stamps.closed_at is not None) == (status is S.CLOSED)
