"""On-call schedule maths: who is on call at an instant, and the rendered shifts of a window.

Pure: no database, no clock reads. Every function takes the instant(s) it reasons about.

The model
---------
A schedule has a time zone and ordered *layers*. Layers are parallel positions (primary,
secondary, ...): at any instant each layer has at most one person on call from its
rotation, and `who_is_on_call` answers with one entry per layer that has someone.

A layer rotates through its participants in order. Turn `k` starts at the wall-clock time
`anchor + k * length` in the schedule's time zone, and belongs to `participants[k % n]`.
The anchor is the first handoff (the layer's `start` date at `handoff_time`; for weekly
rotations the first `handoff_day` on or after it). Because the arithmetic runs on local
wall-clock time, handoffs stay at the same local time across DST changes: a daily 09:00
handoff in Europe/Berlin is 08:00 UTC in winter and 07:00 UTC in summer, and a weekly
turn that spans a change lasts 167 or 169 hours. The rotation index is computed by one
division, never by walking turn by turn from the start.

Restrictions limit a layer to weekly windows of local time (every day 09:00-17:00, or on
given days); outside them nobody from that layer is on call. The rotation keeps turning
underneath: a restriction blanks part of a turn, it does not delay the next handoff.

Overrides change the rendered schedule for a window of real time, in the order given
(later ones apply on top): `replace` gives user A's turns (or whoever's, in one layer) to
user B; `remove` leaves a layer (or one user's turns) empty; `add` puts someone on call in
addition, in one layer or on top of all of them. Removals and replacements apply to the
rotation, not to other overrides' additions: to undo an addition, cancel it.

The DST rule
------------
Every boundary (a handoff, a restriction's start or end) is a local wall-clock time. It
happens at the *first instant at which the wall clock reads that time or later*:

* a time that does not exist (02:30 on a spring-forward day, when clocks jump from 02:00
  to 03:00) happens when the clocks jump, at 03:00 local;
* a time that occurs twice (01:30 on a fall-back day) happens at its first occurrence,
  so the turn that contains the repeated hour is one hour longer.

This rule is monotonic, so turns never overlap and never run backwards; a turn that lies
entirely inside a skipped hour (possible only with hourly or shorter turns) is empty.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from warroom.config.schema import target_references

if TYPE_CHECKING:
    from warroom.config.oncall import Restriction as RestrictionSpec
    from warroom.config.oncall import Schedule as ScheduleSpec
    from warroom.config.oncall import ScheduleLayer as LayerSpec
    from warroom.config.schema import WarroomConfig

__all__ = [
    "WEEKDAYS",
    "Handoff",
    "Layer",
    "OnCallEntry",
    "Override",
    "OverrideKind",
    "Schedule",
    "Shift",
    "build_layer",
    "config_problems",
    "from_spec",
    "local_instant",
    "local_wall",
    "schedule_name_from_reference",
    "shifts",
    "upcoming_handoffs",
    "weekly_windows",
    "who_is_on_call",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Rotations start here unless a layer says otherwise (a Monday).
EPOCH = date(2024, 1, 1)
ROTATION_LENGTHS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
}

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)

# A weekly window of allowed local time: offsets from Monday 00:00. The end may pass the
# end of the week (a window from Sunday 22:00 to Monday 06:00 wraps).
Window = tuple[timedelta, timedelta]
# The same, placed in time: naive local wall-clock start and end.
Span = tuple[datetime, datetime]


# --- values -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    """One position of a schedule, compiled for fast look-ups."""

    name: str
    participants: tuple[str, ...]
    # Naive local wall-clock time at which turn 0 starts.
    anchor: datetime
    # Wall-clock length of one turn.
    length: timedelta
    # Allowed weekly windows, sorted and disjoint; empty means always allowed.
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is not None:
            raise ValueError("a layer's anchor is a naive local wall-clock time")
        if self.length <= timedelta(0):
            raise ValueError("a turn must last longer than zero")


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    zone: ZoneInfo
    layers: tuple[Layer, ...]
    title: str = ""

    @property
    def time_zone(self) -> str:
        return self.zone.key

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    @property
    def participants(self) -> frozenset[str]:
        return frozenset(user for layer in self.layers for user in layer.participants)


@dataclass(frozen=True, slots=True)
class Shift:
    """Someone on call in one layer from `start` to `end` (UTC, end exclusive).

    `layer` is None for a person added by an override on top of every layer. `added_by`
    is the id of the `add` override that put the person there (None for a rotation turn,
    replaced or not); it tells apart an addition and a turn of the same person that start
    together, and takes no part in comparisons.
    """

    schedule: str
    layer: str | None
    user: str
    start: datetime
    end: datetime
    added_by: int | None = field(default=None, compare=False)


#: The shift that covers the instant asked about.
OnCallEntry = Shift


class OverrideKind(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Override:
    """A change to the rendered schedule from `start` to `end` (aware, end exclusive).

    * add: `user` is on call too, as an extra entry in `layer` (None: on top of every layer);
    * remove: nobody from `layer` (None: any layer) is on call; with `user`, only that
      user's turns are left empty;
    * replace: `user` takes the turns of `replaces` (None: whoever is on call) in `layer`
      (None: in every layer).
    """

    kind: OverrideKind
    start: datetime
    end: datetime
    user: str | None = None
    layer: str | None = None
    replaces: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an override's start and end must be aware datetimes")
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")
        if self.kind is not OverrideKind.REMOVE and not self.user:
            raise ValueError(f"a {self.kind.value} override needs a user")
        if self.kind is OverrideKind.REPLACE and self.layer is None and self.replaces is None:
            raise ValueError("a replace override needs a layer or the user it replaces")
        if self.kind is not OverrideKind.REPLACE and self.replaces is not None:
            raise ValueError("only a replace override names the user it replaces")


class Handoff(NamedTuple):
    """A shift that starts at `at`: `user` goes on call in `layer`."""

    at: datetime
    layer: str | None
    user: str


# --- building schedules -----------------------------------------------------------------


def build_layer(
    name: str,
    participants: Sequence[str],
    *,
    rotation: str = "weekly",
    handoff_time: time = time(9),
    handoff_day: str | None = None,
    start: date = EPOCH,
    shift_length: timedelta | None = None,
    windows: Sequence[Window] = (),
) -> Layer:
    """Compile one rotation: `rotation` is hourly, daily, weekly or custom (`shift_length`)."""
    if rotation == "custom":
        if shift_length is None:
            raise ValueError("a custom rotation needs a shift_length")
        length = shift_length
    elif rotation in ROTATION_LENGTHS:
        length = shift_length or ROTATION_LENGTHS[rotation]
    else:
        raise ValueError(f"unknown rotation {rotation!r}")
    anchor = datetime.combine(start, handoff_time.replace(tzinfo=None))
    if rotation == "weekly":
        day = WEEKDAYS.index(handoff_day or "monday")
        anchor += timedelta(days=(day - start.weekday()) % 7)
    return Layer(name, tuple(participants), anchor, length, tuple(windows))


def weekly_windows(restrictions: Iterable[RestrictionSpec]) -> tuple[Window, ...]:
    """The allowed weekly windows of a layer's restrictions, merged; () when always allowed."""
    raw: list[Window] = []
    for restriction in restrictions:
        days = restriction.days if restriction.type == "day_of_week" else WEEKDAYS
        for day in days:
            raw.append(_daily_window(WEEKDAYS.index(day), restriction.start, restriction.end))
    return merge_windows(raw)


def _daily_window(day: int, start: time, end: time) -> Window:
    """From `start` on `day` to `end`: the same day, or the next when end <= start."""
    begin = timedelta(days=day, hours=start.hour, minutes=start.minute, seconds=start.second)
    finish = timedelta(days=day, hours=end.hour, minutes=end.minute, seconds=end.second)
    if finish <= begin:
        finish += _DAY
    return begin, finish


def merge_windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    """Merge overlapping or touching weekly windows, around the week's end too."""
    spans = sorted((s % _WEEK, s % _WEEK + min(e - s, _WEEK)) for s, e in windows if e > s)
    merged: list[list[timedelta]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    # A window running past Sunday midnight may reach the first windows of the week.
    while len(merged) > 1 and merged[-1][1] >= merged[0][0] + _WEEK:
        first = merged.pop(0)
        merged[-1][1] = max(merged[-1][1], first[1] + _WEEK)
    if merged and merged[-1][1] - merged[-1][0] >= _WEEK:
        return ()  # the whole week: no restriction at all
    return tuple((start, end) for start, end in merged)


def from_spec(spec: ScheduleSpec) -> Schedule:
    """Compile a validated schedule definition (YAML or API) for look-ups."""
    return Schedule(
        name=spec.name,
        zone=ZoneInfo(spec.time_zone),
        layers=tuple(_layer_from_spec(layer) for layer in spec.layers),
        title=spec.title,
    )


def _layer_from_spec(spec: LayerSpec) -> Layer:
    return build_layer(
        spec.name,
        spec.participants,
        rotation=spec.rotation.value,
        handoff_time=spec.handoff_time,
        handoff_day=spec.handoff_day,
        start=spec.start,
        shift_length=spec.shift_length,
        windows=weekly_windows(spec.restrictions),
    )


_REFERENCE_PREFIXES = ("pagerduty://schedules/", "schedule://", "schedules/")


def schedule_name_from_reference(reference: str) -> str:
    """`pagerduty://schedules/EM_ONCALL` (as the seed's escalation matrix writes) → `EM_ONCALL`."""
    text = reference.strip()
    for prefix in _REFERENCE_PREFIXES:
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip("/")
    return text


def config_problems(config: WarroomConfig) -> list[str]:
    """Schedule names that escalation policies and targets give, as the schedules know them.

    Schedules may also be defined through the API: without any in the configuration a name
    is taken on trust and checked when a page is due.
    """
    problems: list[str] = []
    for reference in target_references(config):
        if reference.kind != "schedule":
            continue
        wanted = schedule_name_from_reference(reference.name)
        schedule = next((s for s in config.schedules if s.name == wanted), None)
        if schedule is None and config.schedules:
            problems.append(reference.finding(f"unknown schedule {reference.name!r}"))
        elif reference.layer and schedule is not None:
            layer = reference.layer
            if all(x.name != layer for x in schedule.layers):
                problems.append(reference.finding(f"schedule {wanted!r} has no layer {layer!r}"))
    return problems


# --- local time -------------------------------------------------------------------------


def local_wall(at: datetime, zone: ZoneInfo) -> datetime:
    """The latest wall-clock reading `zone` has shown up to the instant `at` (naive).

    It is the local time of `at`, except during the second run of a repeated hour, when
    the clock shows an earlier time than it already did: then it is just below the end
    of the repeated hour. With it, `local_instant(w, zone) <= at` exactly when
    `w <= local_wall(at, zone)`, so all the rotation maths can run on wall-clock time.
    """
    if at.tzinfo is None:
        raise ValueError("who is on call when? give an aware datetime")
    local = at.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if local.fold:
        wall = _end_of_repeat(wall, zone) - _MICROSECOND
    return wall


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `zone` reads `wall` or later."""
    if wall.fold:
        wall = wall.replace(fold=0)
    # The offset a wall time has at its first occurrence (fold=0) and at its second
    # (fold=1): equal for ordinary times, first > second in a repeated hour, first <
    # second in a skipped one.
    first = zone.utcoffset(wall)
    second = zone.utcoffset(wall.replace(fold=1))
    if first is not None and second is not None and first >= second:
        return (wall - first).replace(tzinfo=UTC)
    return _end_of_gap(wall, zone)


def _reading(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# Clocks change at most once a day: the instant of a jump and the end of a repeated hour
# are remembered per zone and local date (a bounded memo; the functions stay pure).
_JUMPS: dict[tuple[ZoneInfo, date], datetime] = {}
_REPEAT_ENDS: dict[tuple[ZoneInfo, date], datetime] = {}
_MEMO_SIZE = 4096


def _memo(
    memo: dict[tuple[ZoneInfo, date], datetime], key: tuple[ZoneInfo, date], value: datetime
) -> datetime:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clocks jump over the non-existent `wall` (whole seconds)."""
    known = _JUMPS.get((zone, wall.date()))
    if known is not None:
        return known
    # With fold=1 a skipped time takes the offset after the jump (an instant before it);
    # with fold=0, the offset before (an instant after it).
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(microsecond=0)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if high.microsecond:
        high = high.replace(microsecond=0) + _SECOND
    while high - low > _SECOND:
        middle = low + timedelta(seconds=int((high - low).total_seconds()) // 2)
        if _reading(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return _memo(_JUMPS, (zone, wall.date()), high)


def _is_repeated(wall: datetime, zone: ZoneInfo) -> bool:
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return first is not None and second is not None and first > second


def _end_of_repeat(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first wall time after `wall` that is not repeated (whole seconds)."""
    known = _REPEAT_ENDS.get((zone, wall.date()))
    if known is not None and known > wall:
        return known
    first = wall.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    second = wall.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    step = max(first - second, _SECOND)
    low = wall.replace(microsecond=0)
    high = low + step
    while _is_repeated(high, zone):
        high += step
    while high - low > _SECOND:
        middle = low + timedelta(seconds=int((high - low).total_seconds()) // 2)
        if _is_repeated(middle, zone):
            low = middle
        else:
            high = middle
    return _memo(_REPEAT_ENDS, (zone, wall.date()), high)


# --- rendering --------------------------------------------------------------------------


def _monday(wall: datetime) -> datetime:
    return datetime(wall.year, wall.month, wall.day) - timedelta(days=wall.weekday())


def _window_at(windows: tuple[Window, ...], wall: datetime) -> Span | None:
    """The allowed window (as wall times) that contains `wall`, if any."""
    week = _monday(wall)
    offset = wall - week
    for start, end in windows:
        if start <= offset < end:
            return week + start, week + end
        if start <= offset + _WEEK < end:  # the tail of last week's wrapping window
            return week - _WEEK + start, week - _WEEK + end
    return None


def _allowed(windows: tuple[Window, ...], start: datetime, end: datetime) -> Iterator[Span]:
    """The parts of the wall-time span [start, end) inside the allowed windows, in order."""
    if not windows:
        yield start, end
        return
    week = _monday(start) - _WEEK
    while week < end:
        for window_start, window_end in windows:
            low, high = max(start, week + window_start), min(end, week + window_end)
            if low < high:
                yield low, high
        week += _WEEK


def _rotation_overrides(
    layer: str, start: datetime, end: datetime, overrides: Sequence[Override]
) -> list[Override]:
    return [
        o
        for o in overrides
        if o.kind is not OverrideKind.ADD
        and o.start < end
        and o.end > start
        and (o.layer is None or o.layer == layer)
    ]


def _apply_overrides(
    user: str, start: datetime, end: datetime, relevant: Sequence[Override]
) -> list[tuple[datetime, datetime, str | None]]:
    """Split a rotation piece where overrides begin or end; who is on call in each part."""
    if not relevant:
        return [(start, end, user)]
    cuts = {start, end}
    for o in relevant:
        cuts.update(t for t in (o.start, o.end) if start < t < end)
    parts: list[tuple[datetime, datetime, str | None]] = []
    for low, high in itertools.pairwise(sorted(cuts)):
        who: str | None = user
        for o in relevant:
            if o.start <= low and high <= o.end and who is not None:
                if o.kind is OverrideKind.REPLACE:
                    if o.replaces is None or o.replaces == who:
                        who = o.user
                elif o.user is None or o.user == who:
                    who = None
        if parts and parts[-1][2] == who:
            parts[-1] = (parts[-1][0], high, who)
        else:
            parts.append((low, high, who))
    return parts


def who_is_on_call(
    schedule: Schedule, at: datetime, overrides: Sequence[Override] = ()
) -> list[OnCallEntry]:
    """Who is on call at `at`: one entry per layer that has someone, then added people.

    Each entry's start and end are the bounds of the shift covering `at` once restrictions
    and overrides are applied (the same shift `shifts()` renders).
    """
    zone = schedule.zone
    wall = local_wall(at, zone)
    entries: list[OnCallEntry] = []
    for layer in schedule.layers:
        count = len(layer.participants)
        if not count:
            continue
        turn = (wall - layer.anchor) // layer.length
        begin = layer.anchor + turn * layer.length
        finish = begin + layer.length
        if layer.windows:
            window = _window_at(layer.windows, wall)
            if window is None:
                continue
            begin, finish = max(begin, window[0]), min(finish, window[1])
        user = layer.participants[turn % count]
        start, end = local_instant(begin, zone), local_instant(finish, zone)
        relevant = _rotation_overrides(layer.name, start, end, overrides) if overrides else ()
        if not relevant:
            entries.append(Shift(schedule.name, layer.name, user, start, end))
            continue
        for low, high, who in _apply_overrides(user, start, end, relevant):
            if low <= at < high:
                if who is not None:
                    entries.append(Shift(schedule.name, layer.name, who, low, high))
                break
    for o in overrides:
        if o.kind is OverrideKind.ADD and o.start <= at < o.end and o.user:
            entries.append(Shift(schedule.name, o.layer, o.user, o.start, o.end, o.id))
    return entries


def shifts(
    schedule: Schedule, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> list[Shift]:
    """The rendered schedule: every shift that overlaps [start, end), with its real bounds.

    Sorted by start, then by layer order; people added on top come after the layers.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("shifts() needs aware datetimes")
    if end <= start:
        return []
    zone = schedule.zone
    first_wall = local_wall(start, zone)
    rendered: list[tuple[int, Shift]] = []
    for position, layer in enumerate(schedule.layers):
        count = len(layer.participants)
        if not count:
            continue
        turn = (first_wall - layer.anchor) // layer.length
        begin = layer.anchor + turn * layer.length
        while local_instant(begin, zone) < end:
            finish = begin + layer.length
            user = layer.participants[turn % count]
            for low_wall, high_wall in _allowed(layer.windows, begin, finish):
                low, high = local_instant(low_wall, zone), local_instant(high_wall, zone)
                if low >= high or high <= start or low >= end:
                    continue
                relevant = _rotation_overrides(layer.name, low, high, overrides)
                for part_start, part_end, who in _apply_overrides(user, low, high, relevant):
                    if who is not None and part_end > start and part_start < end:
                        shift = Shift(schedule.name, layer.name, who, part_start, part_end)
                        rendered.append((position, shift))
            turn += 1
            begin = finish
    on_top = len(schedule.layers)
    for o in overrides:
        if o.kind is OverrideKind.ADD and o.user and o.start < end and o.end > start:
            shift = Shift(schedule.name, o.layer, o.user, o.start, o.end, o.id)
            rendered.append((on_top, shift))
    rendered.sort(key=lambda item: (item[1].start, item[0]))
    return [shift for _, shift in rendered]


def upcoming_handoffs(
    schedule: Schedule, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> list[Handoff]:
    """Shifts that start in [start, end): who goes on call, where and when.

    A turn handed from someone to themselves (a one-person rotation, or a replacement that
    continues) is not a handoff: nobody needs telling.
    """
    rendered = shifts(schedule, start - _MICROSECOND, end, overrides)
    last_end: dict[tuple[str | None, str], datetime] = {}
    handoffs: list[Handoff] = []
    for shift in rendered:
        key = (shift.layer, shift.user)
        continued = last_end.get(key) == shift.start
        last_end[key] = shift.end
        if start <= shift.start < end and not continued:
            handoffs.append(Handoff(shift.start, shift.layer, shift.user))
    return handoffs
