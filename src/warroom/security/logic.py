"""Pure security rules: hash chains, who may read evidence, regulatory deadlines and
reminders, draft notifications. No database, no clock reads."""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from warroom.auth.logic import Principal, Role
from warroom.config.security import Obligation, Regime

if TYPE_CHECKING:
    from warroom.config.schema import WarroomConfig

GENESIS = "0" * 64


class CustodyAction(StrEnum):
    ADD = "add"
    VIEW = "view"
    DOWNLOAD = "download"
    EXPORT = "export"
    VERIFY = "verify"
    TRANSFER = "transfer"
    HOLD = "hold"
    RELEASE = "release"
    PURGE = "purge"


# --- hash chains ------------------------------------------------------------------------


#: Values `_canonical` hands back as they are, by exact type (one look-up where the checks
#: below took three `isinstance` calls each: every audit entry's every field comes here).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _canonical(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The hash of an entry: SHA-256 of the previous hash and the entry's canonical JSON."""
    body = json.dumps(_canonical(fields), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    """An entry as stored: its sequence number, hashed fields, and the hashes it carries."""

    seq: int
    fields: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Problem:
    seq: int | None
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}" if self.seq is not None else self.what


def _gap(first: int, last: int) -> Problem:
    return Problem(first, "deleted" if first == last else f"deleted, and every entry to {last}")


def verify_chain(links: Sequence[Link], head: tuple[int, str] | None) -> list[Problem]:
    """Name every altered, missing or re-ordered entry, and a deleted tail (from `head`)."""
    problems: list[Problem] = []
    expected_seq, prev = 1, GENESIS
    for link in sorted(links, key=lambda x: x.seq):
        if link.seq > expected_seq:
            problems.append(_gap(expected_seq, link.seq - 1))
        elif link.seq < expected_seq:
            problems.append(Problem(link.seq, "appears twice"))
            continue
        if link.prev_hash != prev and link.seq == expected_seq:
            problems.append(Problem(link.seq, "does not follow the entry before it"))
        if chain_hash(link.prev_hash, link.fields) != link.hash:
            problems.append(Problem(link.seq, "altered (its content no longer matches its hash)"))
        expected_seq, prev = link.seq + 1, link.hash
    if head is not None:
        head_seq, head_hash = head
        if head_seq >= expected_seq:
            problems.append(_gap(expected_seq, head_seq))
        elif head_seq == expected_seq - 1 and head_hash != prev:
            problems.append(Problem(head_seq, "the last entry is not the one recorded"))
    return problems


# --- who: security.team and security.notify ----------------------------------------------


def people(config: WarroomConfig, names: Iterable[str]) -> list[str]:
    """The user handles `names` stand for: a team's name is its members, in order."""
    teams = {t.name: t.members for t in config.teams}
    found: list[str] = []
    for name in names:
        found.extend(teams.get(name, [name]))
    return list(dict.fromkeys(found))


def config_problems(config: WarroomConfig) -> list[str]:
    """`security.team` and `security.notify` name configured users or teams.

    Like the other sections' references to users, a handle is checked only when the
    configuration lists users; a team's name always is."""
    handles = {u.handle for u in config.users}
    teams = {t.name for t in config.teams}
    problems: list[str] = []
    for key in ("team", "notify"):
        for i, name in enumerate(getattr(config.security, key)):
            if name in teams or not handles or name in handles:
                continue
            problems.append(f"security.{key}.{i}: unknown user or team {name!r}")
    return problems


# --- access -----------------------------------------------------------------------------


def may_read_evidence(who: Principal, *, participants: Iterable[str], team: Iterable[str]) -> bool:
    """Evidence is restricted on every incident: admins, participants and the security team."""
    if who.role is Role.ADMIN:
        return True
    return who.user is not None and (who.user in set(participants) or who.user in set(team))


def may_add_evidence(who: Principal, *, participants: Iterable[str], team: Iterable[str]) -> bool:
    return who.has(Role.RESPONDER) and may_read_evidence(who, participants=participants, team=team)


# --- regulatory clocks ------------------------------------------------------------------


def add_months(at: datetime, months: int, zone: str) -> datetime:
    """The same local time `months` calendar months later in `zone` (clamped to the month's
    last day); a local time a DST change skips or repeats resolves as Python's zoneinfo does."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    later = local.replace(year=year, month=month, day=day, tzinfo=tz)
    return later.astimezone(at.tzinfo)


def deadline(obligation: Obligation, regime: Regime, aware_at: datetime) -> datetime:
    """When the obligation is due: elapsed hours, or calendar months in the regime's zone."""
    if obligation.within is not None:
        return aware_at + obligation.within
    assert obligation.within_months is not None
    return add_months(aware_at, obligation.within_months, regime.timezone)


@dataclass(frozen=True)
class Reminder:
    at: datetime
    left: timedelta
    escalate: bool


def reminders(offsets: Iterable[timedelta], due: datetime, *, now: datetime) -> list[Reminder]:
    """The reminders still ahead, earliest first; the latest one before the deadline
    escalates. One already past is dropped, except that a clock started late still gets
    its escalation at once."""
    ordered = sorted(set(offsets), reverse=True)
    planned = [
        Reminder(due - o, o, escalate=(i == len(ordered) - 1)) for i, o in enumerate(ordered)
    ]
    ahead = [r for r in planned if r.at > now]
    if due > now and planned and not any(r.escalate for r in ahead):
        ahead.append(Reminder(now, due - now, escalate=True))
    return sorted(ahead, key=lambda r: r.at)


class ClockState(StrEnum):
    RUNNING = "running"
    OVERDUE = "overdue"
    NOTIFIED = "notified"
    NOTIFIED_LATE = "notified_late"


def clock_state(due: datetime, notified_at: datetime | None, *, now: datetime) -> ClockState:
    if notified_at is not None:
        return ClockState.NOTIFIED if notified_at <= due else ClockState.NOTIFIED_LATE
    return ClockState.RUNNING if now < due else ClockState.OVERDUE


def format_left(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}h {rest // 60:02d}m"
