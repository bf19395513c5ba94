"""On-call use cases: schedules from the configuration and the API, overrides, look-ups.

Configured schedules live in the YAML; API-defined ones are rows holding their validated
definition. Both answer the same questions through `warroom.oncall.logic`. Overrides are
rows for any schedule, by name. Nothing here commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal, Role
from warroom.config.oncall import Schedule as ScheduleSpec
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.oncall import ical, logic
from warroom.oncall.logic import Override, OverrideKind, Shift
from warroom.oncall.models import CalendarFeed, ScheduleOverride, StoredSchedule
from warroom.oncall.schemas import OverrideCreate

#: The longest window rendered at once (iCalendar, shift lists, an override's length).
MAX_WINDOW = timedelta(days=366)
#: The most turns one rendering may walk through (a year of 1-minute turns is too many).
MAX_TURNS = 100_000
#: Instants asked about or overridden lie in this range (far dates overflow the maths).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# Overrides further than this from an instant cannot change who is on call at it: no turn
# is longer than 366 days.
_OVERRIDE_REACH = timedelta(days=367)


@dataclass(frozen=True)
class Defined:
    """A schedule and where it is defined."""

    spec: ScheduleSpec
    source: Literal["config", "api"]
    row: StoredSchedule | None = None

    @property
    def name(self) -> str:
        return self.spec.name


# --- compiled schedules, cached -----------------------------------------------------------

# Configured schedules compile once per configuration; API ones once per definition. A
# row's id alone is not enough: SQLite hands a deleted row's id to the next new row.
_config_cache: dict[int, tuple[WarroomConfig, dict[str, logic.Schedule]]] = {}
_row_cache: dict[tuple[int, str], logic.Schedule] = {}


def _configured(config: WarroomConfig) -> dict[str, logic.Schedule]:
    cached = _config_cache.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_config_cache) > 8:
            _config_cache.clear()
        cached = (config, {s.name: logic.from_spec(s) for s in config.schedules})
        _config_cache[id(config)] = cached
    return cached[1]


def compiled(defined: Defined) -> logic.Schedule:
    """The schedule ready for look-ups."""
    if defined.row is None:
        return logic.from_spec(defined.spec)
    key = (defined.row.id, json.dumps(defined.row.spec, sort_keys=True))
    schedule = _row_cache.get(key)
    if schedule is None:
        if len(_row_cache) > 4096:
            _row_cache.clear()
        schedule = _row_cache[key] = logic.from_spec(defined.spec)
    return schedule


def _compiled_all(config: WarroomConfig, defined: Iterable[Defined]) -> list[logic.Schedule]:
    configured = _configured(config)
    return [
        configured[d.name] if d.source == "config" else compiled(d)
        for d in defined
        if d.source == "api" or d.name in configured
    ]


# --- schedules ----------------------------------------------------------------------------


def _from_row(row: StoredSchedule) -> Defined:
    return Defined(ScheduleSpec.model_validate(row.spec), "api", row)


def list_schedules(session: Session, *, config: WarroomConfig) -> list[Defined]:
    """Every schedule: the configured ones in file order, then the API's by name."""
    configured = [Defined(spec, "config") for spec in config.schedules]
    rows = session.scalars(select(StoredSchedule).order_by(StoredSchedule.name))
    return configured + [_from_row(row) for row in rows]


def get(session: Session, *, config: WarroomConfig, name: str) -> Defined | None:
    """Return the schedule called `name` (or `pagerduty://schedules/<name>`), if any."""
    name = logic.schedule_name_from_reference(name)
    spec = next((s for s in config.schedules if s.name == name), None)
    if spec is not None:
        return Defined(spec, "config")
    row = session.scalar(select(StoredSchedule).where(StoredSchedule.name == name))
    return _from_row(row) if row is not None else None


def get_or_raise(
    session: Session, *, config: WarroomConfig, name: str, field: str = "name"
) -> Defined:
    defined = get(session, config=config, name=name)
    if defined is None:
        raise NotFound(f"no schedule {name!r}", field=field)
    return defined


def _check_participants(config: WarroomConfig, spec: ScheduleSpec) -> None:
    if not config.users:
        return
    handles = {u.handle for u in config.users}
    for i, layer in enumerate(spec.layers):
        for j, user in enumerate(layer.participants):
            if user not in handles:
                raise ValidationFailed(
                    f"layers.{i}.participants.{j}: unknown user {user!r}",
                    field=f"layers.{i}.participants.{j}",
                )


def create(
    session: Session,
    *,
    config: WarroomConfig,
    spec: ScheduleSpec,
    actor: Principal,
    now: datetime,
) -> Defined:
    """Define a schedule through the API; its name must be free in the configuration too."""
    if any(s.name == spec.name for s in config.schedules):
        raise Conflict(f"schedule {spec.name!r} is defined in the configuration", field="name")
    _check_participants(config, spec)
    if session.scalar(select(StoredSchedule.id).where(StoredSchedule.name == spec.name)):
        raise Conflict(f"schedule {spec.name!r} already exists", field="name")
    row = StoredSchedule(
        name=spec.name,
        time_zone=spec.time_zone,
        spec=spec.model_dump(mode="json"),
        created_by=actor.actor,
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # created by someone else since the check above
        raise Conflict(f"schedule {spec.name!r} already exists", field="name") from None
    return Defined(spec, "api", row)


def delete(session: Session, *, config: WarroomConfig, name: str, now: datetime) -> Defined:
    """Delete an API-defined schedule, cancel its overrides and revoke its calendar feeds."""
    defined = get_or_raise(session, config=config, name=name)
    if defined.row is None:
        raise Conflict(
            f"schedule {defined.name!r} is defined in the configuration; remove it there",
            field="name",
        )
    for override in session.scalars(
        select(ScheduleOverride).where(
            ScheduleOverride.schedule == defined.name, ScheduleOverride.cancelled_at.is_(None)
        )
    ):
        override.cancelled_at = now
    revoke_feeds_of(session, kind="schedule", target=defined.name, now=now)
    session.delete(defined.row)
    return defined


# --- overrides ----------------------------------------------------------------------------


def to_override(row: ScheduleOverride) -> Override:
    return Override(
        kind=OverrideKind(row.kind),
        start=row.starts_at,
        end=row.ends_at,
        user=row.user,
        layer=row.layer,
        replaces=row.replaces,
        id=row.id,
    )


def check_instant(value: datetime, field: str) -> None:
    if not EARLIEST <= value <= LATEST:
        raise ValidationFailed(f"{field}: must be between 1970 and 2200", field=field)


def _check_override(config: WarroomConfig, spec: ScheduleSpec, data: OverrideCreate) -> None:
    check_instant(data.start, "start")
    check_instant(data.end, "end")
    if data.end <= data.start:
        raise ValidationFailed("end: must be after start", field="end")
    if data.end - data.start > MAX_WINDOW:
        raise ValidationFailed("end: an override lasts at most 366 days", field="end")
    if data.kind is not OverrideKind.REMOVE and not data.user:
        raise ValidationFailed(f"user: a {data.kind.value} override needs a user", field="user")
    if data.kind is OverrideKind.REPLACE and data.layer is None and data.replaces is None:
        raise ValidationFailed(
            "replaces: a replace override needs the user it replaces, or a layer",
            field="replaces",
        )
    if data.kind is not OverrideKind.REPLACE and data.replaces is not None:
        raise ValidationFailed("replaces: only a replace override takes it", field="replaces")
    if data.layer is not None and all(layer.name != data.layer for layer in spec.layers):
        names = ", ".join(layer.name for layer in spec.layers)
        raise ValidationFailed(
            f"layer: schedule {spec.name!r} has no layer {data.layer!r} (it has {names})",
            field="layer",
        )
    if config.users:
        for field in ("user", "replaces"):
            handle = getattr(data, field)
            if handle is not None and config.user(handle) is None:
                raise ValidationFailed(f"{field}: unknown user {handle!r}", field=field)


def create_override(
    session: Session,
    *,
    config: WarroomConfig,
    schedule: str,
    data: OverrideCreate,
    actor: Principal,
    now: datetime,
) -> ScheduleOverride:
    """Add, remove or replace someone on a schedule for a window of time."""
    defined = get_or_raise(session, config=config, name=schedule)
    _check_override(config, defined.spec, data)
    row = ScheduleOverride(
        schedule=defined.name,
        layer=data.layer,
        kind=data.kind.value,
        user=data.user,
        replaces=data.replaces,
        starts_at=data.start,
        ends_at=data.end,
        reason=data.reason,
        created_by=actor.actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_overrides(
    session: Session,
    *,
    config: WarroomConfig,
    schedule: str,
    now: datetime,
    include_past: bool = False,
) -> list[ScheduleOverride]:
    """A schedule's overrides in the order they apply; by default the live, unfinished ones."""
    defined = get_or_raise(session, config=config, name=schedule)
    query = select(ScheduleOverride).where(ScheduleOverride.schedule == defined.name)
    if not include_past:
        query = query.where(ScheduleOverride.cancelled_at.is_(None), ScheduleOverride.ends_at > now)
    return list(session.scalars(query.order_by(ScheduleOverride.id)))


def cancel_override(
    session: Session, *, config: WarroomConfig, schedule: str, override_id: int, now: datetime
) -> ScheduleOverride:
    """Cancel an override (it stays on record); cancelling twice is harmless."""
    defined = get_or_raise(session, config=config, name=schedule)
    row = session.get(ScheduleOverride, override_id)
    if row is None or row.schedule != defined.name:
        raise NotFound(f"no override {override_id} on schedule {defined.name!r}", field="id")
    if row.cancelled_at is None:
        row.cancelled_at = now
    return row


def _live_overrides(
    session: Session, names: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[Override]]:
    """Uncancelled overrides of the named schedules that overlap [start, end), in order."""
    found: dict[str, list[Override]] = {}
    if not names:
        return found
    query = (
        select(ScheduleOverride)
        .where(
            ScheduleOverride.cancelled_at.is_(None),
            ScheduleOverride.starts_at < end,
            ScheduleOverride.ends_at > start,
        )
        .order_by(ScheduleOverride.id)
    )
    if len(names) < 100:
        query = query.where(ScheduleOverride.schedule.in_(names))
    wanted = set(names)
    for row in session.scalars(query):
        if row.schedule in wanted:
            found.setdefault(row.schedule, []).append(to_override(row))
    return found


# --- who is on call -----------------------------------------------------------------------


def on_call(
    session: Session, *, config: WarroomConfig, at: datetime, schedule: str | None = None
) -> list[Shift]:
    """Who is on call at `at`, in one schedule or in all of them."""
    check_instant(at, "at")
    if schedule is not None:
        defined = [get_or_raise(session, config=config, name=schedule, field="schedule")]
    else:
        defined = list_schedules(session, config=config)
    schedules = _compiled_all(config, defined)
    overrides = _live_overrides(
        session, [s.name for s in schedules], at - _OVERRIDE_REACH, at + _OVERRIDE_REACH
    )
    entries: list[Shift] = []
    for compiled_schedule in schedules:
        entries.extend(
            logic.who_is_on_call(compiled_schedule, at, overrides.get(compiled_schedule.name, ()))
        )
    return entries


def check_window(start: datetime, end: datetime) -> None:
    check_instant(start, "from")
    check_instant(end, "to")
    if end <= start:
        raise ValidationFailed("to: must be after from", field="to")
    if end - start > MAX_WINDOW:
        raise ValidationFailed("to: a window spans at most 366 days", field="to")


def _check_turns(schedules: Sequence[logic.Schedule], start: datetime, end: datetime) -> None:
    turns = sum(
        (end - start) / layer.length
        for schedule in schedules
        for layer in schedule.layers
        if layer.participants
    )
    if turns > MAX_TURNS:
        raise ValidationFailed(
            f"to: the window holds about {turns:,.0f} turns (at most {MAX_TURNS:,}); "
            "ask for a shorter one",
            field="to",
        )


def schedule_shifts(
    session: Session, *, config: WarroomConfig, name: str, start: datetime, end: datetime
) -> tuple[Defined, list[Shift]]:
    """The rendered shifts of one schedule that overlap [start, end)."""
    check_window(start, end)
    defined = get_or_raise(session, config=config, name=name)
    schedule = _compiled_all(config, [defined])[0]
    _check_turns([schedule], start, end)
    overrides = _live_overrides(
        session, [schedule.name], start - _OVERRIDE_REACH, end + _OVERRIDE_REACH
    )
    return defined, logic.shifts(schedule, start, end, overrides.get(schedule.name, ()))


def user_shifts(
    session: Session, *, config: WarroomConfig, handle: str, start: datetime, end: datetime
) -> list[Shift]:
    """One person's shifts in every schedule that overlap [start, end)."""
    check_window(start, end)
    if config.users and config.user(handle) is None:
        raise NotFound(f"no user {handle!r}", field="handle")
    schedules = _compiled_all(config, list_schedules(session, config=config))
    overrides = _live_overrides(
        session, [s.name for s in schedules], start - _OVERRIDE_REACH, end + _OVERRIDE_REACH
    )
    theirs = [
        s
        for s in schedules
        if handle in s.participants or any(o.user == handle for o in overrides.get(s.name, ()))
    ]
    _check_turns(theirs, start, end)
    found: list[Shift] = []
    for schedule in theirs:
        rendered = logic.shifts(schedule, start, end, overrides.get(schedule.name, ()))
        found.extend(s for s in rendered if s.user == handle)
    found.sort(key=lambda s: (s.start, s.schedule))
    return found


# --- calendars and their subscription feeds -----------------------------------------------

#: A feed's secret: `wrcal_` and 43 URL-safe characters (256 random bits).
FEED_PREFIX = "wrcal_"
# last_used_at moves at most this often (calendar apps poll every few minutes).
_FEED_USE_RESOLUTION = timedelta(minutes=5)


def schedule_calendar(
    session: Session,
    *,
    config: WarroomConfig,
    name: str,
    start: datetime,
    end: datetime,
    now: datetime,
    feed: bool = False,
) -> tuple[Defined, bytes]:
    """One schedule's shifts overlapping [start, end) as iCalendar."""
    defined, found = schedule_shifts(session, config=config, name=name, start=start, end=end)
    title = defined.spec.title or defined.name
    body = ical.render(
        found, name=f"On call: {title}", now=now, titles={defined.name: title}, feed=feed
    )
    return defined, body


def user_calendar(
    session: Session,
    *,
    config: WarroomConfig,
    handle: str,
    start: datetime,
    end: datetime,
    now: datetime,
    feed: bool = False,
) -> bytes:
    """One person's shifts in every schedule overlapping [start, end) as iCalendar."""
    found = user_shifts(session, config=config, handle=handle, start=start, end=end)
    titles = {d.name: d.spec.title or d.name for d in list_schedules(session, config=config)}
    user = config.user(handle)
    who = user.name if user is not None and user.name else handle
    return ical.render(found, name=f"On call: {who}", now=now, titles=titles, feed=feed)


def hash_feed_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_visible(row: CalendarFeed, who: Principal) -> bool:
    """An admin sees every feed; anyone else the feeds they made and those of their own
    shifts."""
    if who.role is Role.ADMIN:
        return True
    if row.created_by == who.actor:
        return True
    return row.kind == "user" and who.user is not None and row.target == who.user


def create_feed(
    session: Session,
    *,
    config: WarroomConfig,
    kind: Literal["user", "schedule"],
    target: str,
    label: str,
    actor: Principal,
    now: datetime,
) -> tuple[CalendarFeed, str]:
    """Make a secret feed URL of a person's or a schedule's shifts; return the row and the
    secret, which is never stored.

    A person's feed is made by that person (a token with their `user`) or an admin; a
    schedule's by a responder or an admin.
    """
    if kind == "user":
        if config.users and config.user(target) is None:
            raise NotFound(f"no user {target!r}", field="user")
        if actor.role is not Role.ADMIN and actor.user != target:
            raise Forbidden(
                f"a calendar feed of {target}'s shifts is made by {target} (a token with "
                f"user {target}) or by an admin"
            )
    else:
        target = get_or_raise(session, config=config, name=target, field="schedule").name
        if not actor.has(Role.RESPONDER):
            raise Forbidden(
                "a schedule's calendar feed is made by a responder or an admin; "
                f"the token has {actor.role.value}"
            )
    secret = FEED_PREFIX + secrets.token_urlsafe(32)
    row = CalendarFeed(
        kind=kind,
        target=target,
        label=label,
        secret_hash=hash_feed_secret(secret),
        created_by=actor.actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, secret


def list_feeds(
    session: Session, *, viewer: Principal, include_revoked: bool = False
) -> list[CalendarFeed]:
    query = select(CalendarFeed).order_by(CalendarFeed.id)
    if not include_revoked:
        query = query.where(CalendarFeed.revoked_at.is_(None))
    return [row for row in session.scalars(query) if feed_visible(row, viewer)]


def _visible_feed(session: Session, *, feed_id: int, who: Principal) -> CalendarFeed:
    row = session.get(CalendarFeed, feed_id)
    if row is None or not feed_visible(row, who):
        raise NotFound(f"no calendar feed {feed_id}", field="id")
    return row


def rotate_feed(
    session: Session, *, feed_id: int, who: Principal, now: datetime
) -> tuple[CalendarFeed, str]:
    """Give a live feed a new secret: the old URL answers 404 from now on."""
    row = _visible_feed(session, feed_id=feed_id, who=who)
    if row.revoked_at is not None:
        raise Conflict(f"calendar feed {feed_id} is revoked; make a new one", field="id")
    secret = FEED_PREFIX + secrets.token_urlsafe(32)
    row.secret_hash = hash_feed_secret(secret)
    row.rotated_at = now
    return row, secret


def revoke_feed(session: Session, *, feed_id: int, who: Principal, now: datetime) -> CalendarFeed:
    """Revoke a feed (its URL answers 404); revoking twice is harmless."""
    row = _visible_feed(session, feed_id=feed_id, who=who)
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def revoke_feeds_of(session: Session, *, kind: str, target: str, now: datetime) -> int:
    """Revoke every live feed of a schedule or a person (when it is deleted)."""
    rows = session.scalars(
        select(CalendarFeed).where(
            CalendarFeed.kind == kind,
            CalendarFeed.target == target,
            CalendarFeed.revoked_at.is_(None),
        )
    )
    count = 0
    for row in rows:
        row.revoked_at = now
        count += 1
    return count


def feed_by_secret(session: Session, *, secret: str, now: datetime) -> CalendarFeed | None:
    """The live feed a secret opens, or None (unknown, malformed or revoked alike)."""
    if not secret.startswith(FEED_PREFIX) or len(secret) > 128:
        return None
    digest = hash_feed_secret(secret)
    row = session.scalar(select(CalendarFeed).where(CalendarFeed.secret_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest):
        return None
    if row.last_used_at is None or now - row.last_used_at > _FEED_USE_RESOLUTION:
        row.last_used_at = now
    return row
