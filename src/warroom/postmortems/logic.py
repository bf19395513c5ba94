"""Postmortem and action-item rules (pure: no database, no clock reads).

A postmortem moves `draft → in_review → published`; a reviewer may send it back
(`in_review → draft`), and a published one changes only through an explicit new revision
(`published → draft`, recorded as such). An action item moves `open → in_progress → done`,
or to `wont_do` with a reason; a finished item may be reopened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from warroom.config.postmortems import ActionItemPolicy, PostmortemPolicy


class PostmortemStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class ActionType(StrEnum):
    DETECTIVE = "detective"
    PREVENTIVE = "preventive"
    CORRECTIVE = "corrective"


class ActionStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"


FINISHED = frozenset({ActionStatus.DONE, ActionStatus.WONT_DO})

_POSTMORTEM_MOVES = {
    PostmortemStatus.DRAFT: {PostmortemStatus.IN_REVIEW},
    PostmortemStatus.IN_REVIEW: {PostmortemStatus.DRAFT, PostmortemStatus.PUBLISHED},
    PostmortemStatus.PUBLISHED: {PostmortemStatus.DRAFT},
}
_ACTION_MOVES = {
    ActionStatus.OPEN: {ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.WONT_DO},
    ActionStatus.IN_PROGRESS: {ActionStatus.OPEN, ActionStatus.DONE, ActionStatus.WONT_DO},
    ActionStatus.DONE: {ActionStatus.OPEN},
    ActionStatus.WONT_DO: {ActionStatus.OPEN},
}


class Refused(Exception):
    """A move the state machine does not allow; the message says why."""


def check_postmortem_move(current: PostmortemStatus, target: PostmortemStatus) -> None:
    if target not in _POSTMORTEM_MOVES[current]:
        allowed = ", ".join(sorted(_POSTMORTEM_MOVES[current]))
        raise Refused(
            f"a {current.value} postmortem cannot become {target.value}; it can: {allowed}"
        )


def check_action_move(current: ActionStatus, target: ActionStatus, reason: str | None) -> None:
    if current == target:
        return
    if target not in _ACTION_MOVES[current]:
        allowed = ", ".join(sorted(_ACTION_MOVES[current]))
        raise Refused(
            f"a {current.value} action item cannot become {target.value}; it can: {allowed}"
        )
    if target is ActionStatus.WONT_DO and not (reason or "").strip():
        raise Refused("won't do needs a reason")


# --- deadlines and business days --------------------------------------------------------


def deadline_for(policy: PostmortemPolicy, severity: str, resolved_at: datetime) -> datetime | None:
    """When the postmortem is due, or None when the severity does not require one."""
    for name, within in policy.required.items():
        if name.lower() == severity.lower():
            return resolved_at + within
    return None


def action_due(policy: ActionItemPolicy, priority: Priority, created_at: datetime) -> datetime:
    """The default due date of an item of this priority."""
    return created_at + policy.due.get(priority.value, timedelta(days=30))


def is_business_day(day: date, holidays: Iterable[date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def add_business_days(start: date, days: int, holidays: Iterable[date]) -> date:
    """The business day `days` business days after `start` (weekends and holidays skipped)."""
    off = set(holidays)
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if is_business_day(current, off):
            left -= 1
    while not is_business_day(current, off):  # days == 0 on a weekend: the next working day
        current += timedelta(days=1)
    return current


def review_slot(policy: PostmortemPolicy, resolved_at: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the review meeting `review_within_business_days` after resolution.

    The day is counted in the policy's time zone, and the meeting is at `review_time` local
    time on that day, so it stays at 10:00 across a daylight-saving change.
    """
    zone = ZoneInfo(policy.timezone)
    local_day = resolved_at.astimezone(zone).date()
    day = add_business_days(local_day, policy.review_within_business_days, policy.holidays)
    start = datetime.combine(day, policy.review_time, tzinfo=zone)
    start_utc = start.astimezone(ZoneInfo("UTC"))
    return start_utc, start_utc + policy.review_duration


def review_local_time(policy: PostmortemPolicy, at: datetime) -> time:
    return at.astimezone(ZoneInfo(policy.timezone)).time()


# --- reminders --------------------------------------------------------------------------


class Notice(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"


def notices_due(deadline: datetime, now: datetime, remind_before: timedelta) -> list[Notice]:
    """What should have been sent by `now` for something due at `deadline`."""
    due: list[Notice] = []
    if now >= deadline - remind_before:
        due.append(Notice.REMINDER)
    if now >= deadline:
        due.append(Notice.ESCALATION)
    return due


def is_overdue(due_at: datetime | None, now: datetime, *, finished: bool) -> bool:
    return due_at is not None and not finished and now >= due_at


def next_check(
    deadlines: Iterable[datetime], now: datetime, remind_before: timedelta
) -> datetime | None:
    """The next moment a reminder or escalation becomes due after `now`."""
    moments = [m for d in deadlines for m in (d - remind_before, d) if m > now]
    return min(moments, default=None)


# --- content ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Why:
    """One link of the five-whys chain: the question and its answer."""

    why: str
    because: str


def parse_whys(raw: Sequence[Mapping[str, Any]]) -> list[Why]:
    """Five whys from JSON; each needs a non-empty `why` and `because`."""
    chain: list[Why] = []
    for i, item in enumerate(raw):
        why = str(item.get("why") or "").strip()
        because = str(item.get("because") or "").strip()
        if not why or not because:
            missing = "why" if not why else "because"
            raise ValueError(f"five_whys.{i}.{missing}: must not be empty")
        chain.append(Why(why, because))
    return chain


def missing_sections(
    sections: Mapping[str, str], required: Iterable[str], whys: Sequence[Any] = ()
) -> list[str]:
    """The required sections that are still empty (root cause is filled by five whys too)."""
    missing = []
    for name in required:
        if (sections.get(name) or "").strip():
            continue
        if name == "root_cause" and whys:
            continue
        missing.append(name)
    return missing


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field → {from, to} for every field whose value differs."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out[key] = {"from": old.get(key), "to": new.get(key)}
    return out


def is_repeat(
    category: str | None,
    at: datetime,
    earlier: Iterable[tuple[str | None, datetime]],
    window: timedelta,
) -> bool:
    """Whether an incident of this root-cause category happened within `window` before `at`."""
    if not category:
        return False
    wanted = category.strip().lower()
    return any(
        c is not None and c.strip().lower() == wanted and at - window <= when < at
        for c, when in earlier
    )
