"""Pure definitions: the MTTx metrics, nearest-rank percentiles, reporting periods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# Each metric is the time from its first timestamp to its second. `begin` is the first of
# started_at, detected_at, declared_at that is known (declared_at always is). An incident
# missing the second timestamp (or the first, for MTTD) is excluded from that metric and
# counted in its `missing`; it is never taken as zero. A negative span cannot be stored
# (the incident service checks the order of timestamps) and is excluded all the same.


@dataclass(frozen=True)
class Metric:
    name: str
    start: str
    end: str
    meaning: str


METRICS: tuple[Metric, ...] = (
    Metric("mttd", "started_at", "detected_at", "time to detect: impact began → detected"),
    Metric("mtta", "declared_at", "acknowledged_at", "time to acknowledge: declared → acked"),
    Metric("mttm", "begin", "mitigated_at", "time to mitigate: impact began → mitigated"),
    Metric("mttr", "begin", "resolved_at", "time to resolve: impact began → resolved"),
)

PERCENTILES = (50, 90)


class GroupBy(StrEnum):
    SEVERITY = "severity"
    SERVICE = "service"
    TEAM = "team"
    TYPE = "type"


def nearest_rank(percent: int, count: int) -> int:
    """Return the 1-based rank of the `percent` percentile among `count` sorted values."""
    if count <= 0:
        raise ValueError("no values")
    return max(1, (percent * count + 99) // 100)


def percentile(values: Sequence[float], percent: int) -> float | None:
    """Return the nearest-rank percentile of `values` (the reference the SQL is tested on)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[nearest_rank(percent, len(ordered)) - 1]


def business_impact(
    affected_users: float | None, downtime_minutes: float | None, revenue: float | None
) -> float | None:
    """Return seed 003's `affected_users * downtime_minutes * revenue_per_user_per_minute`."""
    if affected_users is None or downtime_minutes is None or revenue is None:
        return None
    return round(affected_users * downtime_minutes * revenue, 2)


# --- periods ------------------------------------------------------------------------------


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


@dataclass(frozen=True)
class Window:
    """A reporting period: local start and end (exclusive), and its chart buckets."""

    period: Period
    start: datetime
    end: datetime
    buckets: tuple[tuple[str, datetime, datetime], ...]

    @property
    def since(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def until(self) -> datetime:
        return self.end.astimezone(UTC)

    @property
    def label(self) -> str:
        last = (self.end - timedelta(days=1)).date()
        if self.period is Period.DAILY:
            return self.start.date().isoformat()
        return f"{self.start.date().isoformat()} to {last.isoformat()}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _period_start(period: Period, day: date, week_starts: int) -> date:
    if period is Period.DAILY:
        return day
    if period is Period.WEEKLY:
        return day - timedelta(days=(day.isoweekday() - week_starts) % 7)
    if period is Period.MONTHLY:
        return day.replace(day=1)
    if period is Period.QUARTERLY:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def _next_start(period: Period, start: date) -> date:
    if period is Period.DAILY:
        return start + timedelta(days=1)
    if period is Period.WEEKLY:
        return start + timedelta(days=7)
    if period is Period.MONTHLY:
        return _add_months(start, 1)
    if period is Period.QUARTERLY:
        return _add_months(start, 3)
    return date(start.year + 1, 1, 1)


def window(
    period: Period,
    *,
    now: datetime,
    zone: ZoneInfo,
    on: date | None = None,
    week_starts: int = 1,
) -> Window:
    """Return the period containing the local date `on`, or else the last complete one
    before `now`; boundaries are local midnights, so a day can last 23 or 25 hours."""
    if on is None:
        today = now.astimezone(zone).date()
        current = _period_start(period, today, week_starts)
        previous_day = current - timedelta(days=1)
        first = _period_start(period, previous_day, week_starts)
    else:
        first = _period_start(period, on, week_starts)
    after = _next_start(period, first)
    start, end = _midnight(first, zone), _midnight(after, zone)
    return Window(period, start, end, tuple(_buckets(period, first, after, zone)))


def _buckets(
    period: Period, first: date, after: date, zone: ZoneInfo
) -> list[tuple[str, datetime, datetime]]:
    out: list[tuple[str, datetime, datetime]] = []
    if period is Period.DAILY:
        # Hours by real elapsed time: a DST day has 23 or 25 of them.
        begin = _midnight(first, zone).astimezone(UTC)
        stop = _midnight(after, zone).astimezone(UTC)
        moment = begin
        while moment < stop:
            local = moment.astimezone(zone)
            out.append((local.strftime("%H:%M"), moment, moment + timedelta(hours=1)))
            moment += timedelta(hours=1)
        return out
    if period in (Period.WEEKLY, Period.MONTHLY):
        day = first
        while day < after:
            nxt = day + timedelta(days=1)
            out.append((day.isoformat(), _midnight(day, zone), _midnight(nxt, zone)))
            day = nxt
        return out
    day = first
    while day < after:
        nxt = _add_months(day, 1)
        out.append((day.strftime("%Y-%m"), _midnight(day, zone), _midnight(nxt, zone)))
        day = nxt
    return out


def rate(numerator: int, denominator: int) -> float | None:
    """Return numerator / denominator rounded to 4 places, or None when nothing counts."""
    if denominator == 0:
        return None
    return round(numerator / denominator, 4)


def finite(value: float | None) -> float | None:
    """Return a number rounded to milliseconds, or None."""
    if value is None or math.isnan(value):
        return None
    return round(float(value), 3)
