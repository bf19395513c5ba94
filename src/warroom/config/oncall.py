"""On-call schedules: layers, rotations, restrictions (docs/oncall.md)."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    field_serializer,
    model_validator,
)

from warroom.config.alerts import (
    Weekday,
    _clock_time,
)
from warroom.config.base import Handle, Strict, TimeZoneName, unique_names
from warroom.config.durations import parse_duration

# --- on-call schedules (issue 4; docs/oncall.md, warroom/oncall/logic.py) ----------------

# Slug-like, but upper case too: the seed's escalation matrix names `EM_ONCALL`.
ScheduleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
_HH_MM = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")


def _time_of_day(value: object) -> object:
    """`"09:00"`, `"17:30:00"`; `"24:00"` is the midnight that ends a day."""
    if isinstance(value, time):
        return value
    text = _clock_time(value)
    match = _HH_MM.fullmatch(str(text))
    if match is None:
        raise ValueError(f"not a time of day: {text!r} (write HH:MM, e.g. '09:00')")
    hour, minute, second = (int(part or 0) for part in match.groups())
    if (hour, minute, second) == (24, 0, 0):
        return time(0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a time of day: {text!r}")
    return time(hour, minute, second)


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]


def _shift_length(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except OverflowError:  # "99999999999999999999 weeks" must be a 422, not a crash
        raise ValueError(f"not a usable shift_length: {value!r}") from None


ShiftLength = Annotated[timedelta, BeforeValidator(_shift_length)]


class RotationType(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # every `shift_length`


_ROTATION_UNITS = {
    RotationType.HOURLY: (timedelta(hours=1), "hour"),
    RotationType.DAILY: (timedelta(days=1), "day"),
    RotationType.WEEKLY: (timedelta(days=7), "week"),
}


class RestrictionType(StrEnum):
    TIME_OF_DAY = "time_of_day"  # every day from start to end
    DAY_OF_WEEK = "day_of_week"  # on the listed days from start to end


class Restriction(Strict):
    """When a layer is on call, in the schedule's local time; outside, nobody from it is.

    An end at or before the start crosses midnight (22:00-06:00); `days` are the days a
    window starts on. A day_of_week window without start and end is the whole day.
    """

    type: RestrictionType
    days: list[Weekday] = []
    start: TimeOfDay = time(0)
    end: TimeOfDay = time(0)

    @model_validator(mode="after")
    def _fits_the_type(self) -> Restriction:
        if self.type is RestrictionType.DAY_OF_WEEK and not self.days:
            raise ValueError("a day_of_week restriction needs days, e.g. [monday, friday]")
        if self.type is RestrictionType.TIME_OF_DAY:
            if self.days:
                raise ValueError("a time_of_day restriction is every day: use day_of_week")
            if self.start == self.end:
                raise ValueError("a time_of_day restriction needs different start and end")
        return self

    @field_serializer("start", "end")
    def _as_text(self, value: time) -> str:
        return _hh_mm(value)


class ScheduleLayer(Strict):
    """One position of a schedule (primary, secondary...): participants taking turns.

    Turns start at `handoff_time` (local), from the `start` date on (and, arithmetically,
    before it); weekly turns on `handoff_day`. `shift_length` makes a turn several units
    long (a bi-weekly rotation is weekly with `shift_length: 2 weeks`); a custom rotation
    takes any length (`12 hours`).
    """

    name: ScheduleName
    rotation: RotationType = RotationType.WEEKLY
    shift_length: ShiftLength | None = None
    handoff_time: TimeOfDay = time(9)
    handoff_day: Weekday | None = None
    start: date = date(2024, 1, 1)
    participants: list[Handle] = []
    restrictions: list[Restriction] = []

    @model_validator(mode="after")
    def _rotation_fits(self) -> ScheduleLayer:
        length = self.shift_length
        if self.rotation is RotationType.CUSTOM and length is None:
            raise ValueError("a custom rotation needs shift_length, e.g. '12 hours'")
        if length is not None:
            if not timedelta(minutes=1) <= length <= timedelta(days=366):
                raise ValueError("shift_length must be from 1 minute to 366 days")
            unit = _ROTATION_UNITS.get(self.rotation)
            if unit is not None and length % unit[0]:
                raise ValueError(
                    f"a {self.rotation.value} rotation's shift_length is a whole number of "
                    f"{unit[1]}s; use rotation: custom for other lengths"
                )
        if self.handoff_day is not None and self.rotation is not RotationType.WEEKLY:
            raise ValueError("handoff_day applies to weekly rotations only")
        if not date(1970, 1, 1) <= self.start <= date(2199, 12, 31):
            raise ValueError("start must be a date from 1970 to 2199")
        return self

    @field_serializer("handoff_time")
    def _time_as_text(self, value: time) -> str:
        return _hh_mm(value)

    @field_serializer("shift_length")
    def _length_as_text(self, value: timedelta | None) -> str | None:
        if value is None:
            return None
        seconds, parts = int(value.total_seconds()), []
        for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
            count, seconds = divmod(seconds, size)
            if count:
                parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
        if seconds or not parts:
            parts.append(f"{seconds} seconds")
        return " ".join(parts)


class Schedule(Strict):
    """An on-call schedule: ordered layers, all read in one IANA time zone."""

    name: ScheduleName
    title: str = ""
    description: str = ""
    time_zone: TimeZoneName = "UTC"
    layers: Annotated[list[ScheduleLayer], Field(min_length=1)]

    @model_validator(mode="after")
    def _layer_namesunique_names(self) -> Schedule:
        problems: list[str] = []
        unique_names(problems, "layers", [layer.name for layer in self.layers])
        if problems:
            raise ValueError("; ".join(problems))
        return self
