"""SLA clocks and update cadence: deadlines from declaration, warnings, reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.config.incidents import SlaClocks
from warroom.sla.logic import (
    SlaClock,
    breach_text,
    deadlines,
    next_update,
    pending,
    reminder_text,
    warning_text,
)

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
SEV1 = SlaClocks.model_validate(
    {"acknowledge": "15 minutes", "mitigate": "1 hour", "resolve": "4 hours"}
)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_seed_002_sev1_clocks_warn_at_80_percent_and_breach_at_100() -> None:
    found = [(d.clock.value, d.kind, d.at - T0) for d in deadlines(SEV1, T0, 0.8)]
    assert found == [
        ("acknowledge", "warning", minutes(12)),
        ("acknowledge", "breach", minutes(15)),
        ("mitigate", "warning", minutes(48)),
        ("mitigate", "breach", minutes(60)),
        ("resolve", "warning", minutes(192)),
        ("resolve", "breach", minutes(240)),
    ]


def test_reached_clocks_and_past_warnings_are_left_out() -> None:
    later = pending(SEV1, T0, 0.8, reached={SlaClock.ACKNOWLEDGE}, now=T0 + minutes(50))
    # The mitigate warning (48 min) is past but its breach (60 min) is not: it stays, and
    # the caller makes it due now. Acknowledge is reached: gone.
    assert [(d.clock.value, d.kind) for d in later] == [
        ("mitigate", "warning"),
        ("mitigate", "breach"),
        ("resolve", "warning"),
        ("resolve", "breach"),
    ]
    upgraded_late = pending(SEV1, T0, 0.8, reached=set(), now=T0 + minutes(45))
    # Acknowledge breached already: only its breach is reported, not a stale warning.
    assert [(d.clock.value, d.kind) for d in upgraded_late][:2] == [
        ("acknowledge", "breach"),
        ("mitigate", "warning"),
    ]


def test_texts() -> None:
    assert warning_text(SlaClock.ACKNOWLEDGE, minutes(15), minutes(3)) == (
        "SLA at risk: acknowledge within 15 minutes (3 minutes left)"
    )
    assert breach_text(SlaClock.RESOLVE, timedelta(hours=4)) == (
        "SLA breached: resolve within 4 hours"
    )
    assert reminder_text("SEV1", minutes(15), T0, T0 + minutes(30)) == (
        "Update due: no update for 30 minutes (SEV1: every 15 minutes)"
    )


def test_next_update_is_an_interval_after_the_last_or_now_when_overdue() -> None:
    assert next_update(T0, minutes(15), T0 + minutes(5)) == T0 + minutes(15)
    assert next_update(T0, minutes(15), T0 + minutes(40)) == T0 + minutes(40)
