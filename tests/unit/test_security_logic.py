"""Pure security rules: hash chains, sealed files, deadlines across DST, reminders."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from warroom.auth.logic import Principal, Role
from warroom.config.security import Obligation, Regime
from warroom.security import crypto
from warroom.security.logic import (
    GENESIS,
    ClockState,
    Link,
    add_months,
    chain_hash,
    clock_state,
    deadline,
    may_read_evidence,
    reminders,
    verify_chain,
)


def chain(n: int) -> list[Link]:
    links, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "action": "view", "actor": f"user{seq}"}
        digest = chain_hash(prev, fields)
        links.append(Link(seq, fields, prev, digest))
        prev = digest
    return links


def test_an_intact_chain_verifies() -> None:
    links = chain(5)
    assert verify_chain(links, (5, links[-1].hash)) == []


def test_an_altered_entry_is_named() -> None:
    links = chain(5)
    links[2] = Link(3, {**links[2].fields, "actor": "mallory"}, links[2].prev_hash, links[2].hash)
    assert [str(p) for p in verify_chain(links, (5, links[-1].hash))] == [
        "entry 3: altered (its content no longer matches its hash)"
    ]


def test_a_rehashed_alteration_breaks_the_next_link() -> None:
    links = chain(4)
    forged = {**links[1].fields, "actor": "mallory"}
    links[1] = Link(2, forged, links[1].prev_hash, chain_hash(links[1].prev_hash, forged))
    assert [str(p) for p in verify_chain(links, (4, links[-1].hash))] == [
        "entry 3: does not follow the entry before it"
    ]


def test_deleted_entries_in_the_middle_and_at_the_end_are_named() -> None:
    links = chain(6)
    head = (6, links[-1].hash)
    assert [str(p) for p in verify_chain(links[:2] + links[4:], head)] == [
        "entry 3: deleted, and every entry to 4"
    ]
    assert [str(p) for p in verify_chain(links[:5], head)] == ["entry 6: deleted"]


def test_evidence_is_for_admins_participants_and_the_security_team() -> None:
    team = ["lena"]
    assert may_read_evidence(Principal("a", Role.ADMIN), participants=[], team=team)
    assert may_read_evidence(Principal("j", Role.VIEWER, "jane"), participants=["jane"], team=team)
    assert may_read_evidence(Principal("l", Role.VIEWER, "lena"), participants=[], team=team)
    assert not may_read_evidence(Principal("b", Role.RESPONDER, "bob"), participants=[], team=team)
    assert not may_read_evidence(Principal("r", Role.RESPONDER), participants=[], team=team)


@pytest.mark.parametrize("size", [0, 1, 100, 1024, 1025, 4096, 10_000])
def test_sealed_content_round_trips_at_every_chunk_boundary(size: int) -> None:
    key, data, sink = crypto.LockerKey("x" * 32), os.urandom(size), io.BytesIO()
    sealer = crypto.Sealer(key, sink, chunk=1024)
    for start in range(0, size, 333):
        sealer.feed(data[start : start + 333])
    sealer.close()
    # (A byte or two may turn up in any ciphertext by chance; 100 of them may not.)
    assert data not in sink.getvalue() or size < 16
    assert b"".join(crypto.open_sealed(key, io.BytesIO(sink.getvalue()))) == data


def sealed(key: crypto.LockerKey, data: bytes) -> bytes:
    sink = io.BytesIO()
    sealer = crypto.Sealer(key, sink, chunk=1024)
    sealer.feed(data)
    sealer.close()
    return sink.getvalue()


def test_a_flipped_bit_a_dropped_chunk_or_another_key_is_refused() -> None:
    key = crypto.LockerKey("x" * 32)
    blob = sealed(key, os.urandom(3000))
    flipped = bytearray(blob)
    flipped[crypto.HEADER_SIZE + 10] ^= 1
    block = 1024 + crypto.TAG
    truncated = blob[: crypto.HEADER_SIZE + block]  # the last two chunks dropped
    for bad, k in ((bytes(flipped), key), (truncated, key), (blob, crypto.LockerKey("y" * 32))):
        with pytest.raises(crypto.Corrupt):
            b"".join(crypto.open_sealed(k, io.BytesIO(bad)))
    assert "x" * 32 not in repr(key)


def test_72_hours_is_elapsed_time_across_a_dst_change() -> None:
    gdpr = Regime(
        title="GDPR",
        timezone="Europe/Berlin",
        obligations=[Obligation(name="authority", recipient="DPA", within=timedelta(hours=72))],
    )
    # Aware on Friday 29 March 2024, 10:00 in Berlin (CET); clocks go forward on Sunday.
    aware = datetime(2024, 3, 29, 9, 0, tzinfo=UTC)
    due = deadline(gdpr.obligations[0], gdpr, aware)
    assert due - aware == timedelta(hours=72)
    # On the wall clock that is 11:00 CEST on Monday, not 10:00.
    assert due.astimezone(ZoneInfo("Europe/Berlin")).hour == 11


def test_one_month_is_the_same_local_time_a_calendar_month_later() -> None:
    nis2 = Regime(
        title="NIS2",
        timezone="Europe/Brussels",
        obligations=[Obligation(name="final_report", recipient="CSIRT", within_months=1)],
    )
    aware = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)  # 10:30 CET
    due = deadline(nis2.obligations[0], nis2, aware)
    local = due.astimezone(ZoneInfo("Europe/Brussels"))
    assert (local.month, local.day, local.hour, local.minute) == (4, 15, 10, 30)  # CEST now
    assert due - aware == timedelta(days=31) - timedelta(hours=1)
    # The 31st of January becomes the last day of February.
    assert add_months(datetime(2024, 1, 31, 12, tzinfo=UTC), 1, "UTC").day == 29


def test_reminders_ahead_and_the_last_one_escalates() -> None:
    due = datetime(2024, 3, 18, 9, 0, tzinfo=UTC)
    offsets = [timedelta(hours=24), timedelta(hours=6), timedelta(hours=1)]
    start = due - timedelta(hours=72)
    planned = reminders(offsets, due, now=start)
    assert [(due - r.at, r.escalate) for r in planned] == [
        (timedelta(hours=24), False),
        (timedelta(hours=6), False),
        (timedelta(hours=1), True),
    ]
    # A clock started 30 minutes before its deadline escalates at once.
    late = due - timedelta(minutes=30)
    assert [(r.at, r.escalate) for r in reminders(offsets, due, now=late)] == [(late, True)]


def test_clock_states() -> None:
    due = datetime(2024, 3, 18, 9, 0, tzinfo=UTC)
    assert clock_state(due, None, now=due - timedelta(seconds=1)) is ClockState.RUNNING
    assert clock_state(due, None, now=due) is ClockState.OVERDUE
    assert clock_state(due, due, now=due) is ClockState.NOTIFIED
    assert clock_state(due, due + timedelta(1), now=due) is ClockState.NOTIFIED_LATE


def test_an_obligation_needs_exactly_one_deadline() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Obligation(name="x", recipient="y")
    with pytest.raises(ValueError, match="exactly one"):
        Obligation(name="x", recipient="y", within=timedelta(hours=1), within_months=1)


def test_an_entrys_hash_is_sha256_of_the_previous_hash_and_canonical_json() -> None:
    """Stored chains are verified by hashing again: these bytes must never change."""
    import hashlib

    at = datetime(2024, 3, 15, 9, 30, 1, 5, tzinfo=UTC)
    fields = {"b": [at, (1, "x"), {"c": None, 3: True}], "a": 1.5, 5: "ü", "d": {"e": {}}, "n": 2}
    body = (
        '{"5":"\\u00fc","a":1.5,"b":["2024-03-15T09:30:01.000005+00:00",[1,"x"],'
        '{"3":true,"c":null}],"d":{"e":{}},"n":2}'
    )
    assert chain_hash("p", fields) == hashlib.sha256(f"p\n{body}".encode()).hexdigest()


def test_audited_values_keep_their_form() -> None:
    """What the audit log records of a column's value (and hashes): the fast paths for
    plain types must give what the general rules give."""
    from datetime import date
    from decimal import Decimal
    from enum import Enum, IntEnum, StrEnum

    from warroom.security.audit import _value

    class Level(IntEnum):
        HIGH = 3

    class Kind(StrEnum):
        NOTE = "note"

    class Colour(Enum):
        RED = "red"

    at = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    assert _value("title", None) is None
    assert _value("flag", True) is True
    assert _value("count", 7) == 7 and _value("ratio", 1.5) == 1.5
    assert _value("level", Level.HIGH) is Level.HIGH
    assert _value("token_hash", 12) == 12  # numbers are kept even in a secret's column
    assert _value("token_hash", "abc") == "[redacted]"
    assert _value("key", "abc") == "[redacted]" and _value("keyword", "abc") == "abc"
    assert _value("title", "x" * 500) == "x" * 500
    assert _value("title", "x" * 501) == "x" * 500 + "…"
    assert _value("at", at) == "2024-03-15T09:30:00+00:00"
    assert _value("day", date(2024, 1, 2)) == "2024-01-02"
    assert _value("kind", Kind.NOTE) == "note" and _value("colour", Colour.RED) == "red"
    assert _value("amount", Decimal("1.10")) == "1.10"
    assert _value("details", {"a": [1]}) == {"a": [1]}
    assert _value("details", {"a": "y" * 600}) == str({"a": "y" * 600})[:500] + "…"
