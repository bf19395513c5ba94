"""Human durations as written in runbooks: "15 minutes", "1 hour", "4h", "1 week", 900."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    # A month is 30 days: SLA clocks need a fixed length, not a calendar month.
    "month": 2592000, "months": 2592000,
}  # fmt: skip

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(value: object) -> timedelta:
    """Parse a duration; a bare number is seconds. Raise ValueError naming what was wrong."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _seconds(value, value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip().lower()
    if text in {"0", "immediate", "immediately", "none"}:
        return timedelta(0)
    if text.isdigit():
        return _seconds(int(text), value)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if text[pos : match.start()].strip(" ,and"):
            break
        unit = _UNITS.get(match.group(2))
        if unit is None:
            raise ValueError(f"unknown unit {match.group(2)!r} in duration {value!r}")
        total += float(match.group(1)) * unit
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"not a duration: {value!r} (write e.g. '15 minutes', '4h', '1 week')")
    return _seconds(total, value)


def _seconds(total: float, original: object) -> timedelta:
    try:
        return timedelta(seconds=total)
    except OverflowError:
        raise ValueError(f"duration too long: {original!r}") from None


def format_duration(delta: timedelta) -> str:
    """Render a duration for people: '4 hours 30 minutes', '45 seconds'."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(parts)


def format_compact(seconds: float) -> str:
    """A duration for a table column: `45s`, `12m`, `3h 05m`, `2d 4h`."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
