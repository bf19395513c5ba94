"""What the vendor importers share: the plan, notes, the mapping of users, schedules,
policies and severities."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError as PydanticError

from warroom.config.escalation import EscalationPolicy
from warroom.config.oncall import Schedule
from warroom.config.people import User, normalise_phone
from warroom.config.schema import WarroomConfig

MAX_RECORDS = 100_000
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ICAL_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}


class Vendor(StrEnum):
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    GRAFANA_ONCALL = "grafana-oncall"


# Vendor severity words → warroom severity rank (1 = most severe); `default` for anything
# else, reported as a warning. `reports.import_severity` in the configuration overrides
# any of these with a severity name.
DEFAULT_SEVERITY: dict[Vendor, dict[str, int]] = {
    Vendor.PAGERDUTY: {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5, "high": 2, "low": 4},
    Vendor.OPSGENIE: {"P1": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5},
    Vendor.GRAFANA_ONCALL: {"critical": 1, "high": 2, "warning": 3, "low": 4, "info": 5},
}
DEFAULT_RANK = 3


@dataclass
class Note:
    """A record (or part of one) that was not mapped, or was mapped with a loss."""

    kind: str
    id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "reason": self.reason}


@dataclass
class Plan:
    vendor: Vendor
    incidents: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    escalation_policies: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Note] = field(default_factory=list)
    warnings: list[Note] = field(default_factory=list)

    def fragment(self) -> str:
        """The users, schedules and escalation policies as a configuration file."""
        data: dict[str, Any] = {}
        for name in ("users", "schedules", "escalation_policies"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if not data:
            return ""
        head = f"# Imported from {self.vendor.value} by `warroom import {self.vendor.value}`.\n"
        return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- helpers -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _id(record: dict[str, Any]) -> str:
    value = record.get("id")
    return str(value) if isinstance(value, str | int) and str(value) else ""


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset (`Z`, `+05:30`), or None; ValueError when it has none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset")
    return parsed


def slug(text: str, *, upper: bool = False) -> str:
    """`My Mail Service` → `my-mail-service` (a warroom name)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text.strip()).strip("-_")
    cleaned = cleaned if upper else cleaned.lower()
    return cleaned[:64] or "unnamed"


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _clock_plus(start: time, seconds: int) -> time:
    total = (start.hour * 3600 + start.minute * 60 + start.second + seconds) % 86400
    return time(total // 3600, total % 3600 // 60, total % 60)


def _length(seconds: int) -> tuple[str, str | None] | None:
    """A turn length in seconds → (rotation, shift_length), or None when not expressible."""
    if seconds <= 0 or seconds % 60:
        return None
    if seconds % 604800 == 0:
        weeks = seconds // 604800
        return "weekly", None if weeks == 1 else f"{weeks} weeks"
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "daily", None if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "hourly", None if hours == 1 else f"{hours} hours"
    return "custom", f"{seconds // 60} minutes"


def _validated(model: Any, data: dict[str, Any]) -> str | None:
    """Why `data` is not a valid `model`, or None."""
    try:
        model.model_validate(data)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(record)"
        return f"{where}: {str(first['msg']).removeprefix('Value error, ')}"
    return None


def records(documents: Iterable[Any], *keys: str) -> Iterable[dict[str, Any]]:
    """Every object under any of `keys` of every document (a document may be a bare list)."""
    for document in documents:
        if isinstance(document, dict):
            for key in keys:
                value = document.get(key)
                if isinstance(value, list):
                    yield from (r for r in value if isinstance(r, dict))
        elif isinstance(document, list) and not keys:
            yield from (r for r in document if isinstance(r, dict))


# --- the shared mapping ----------------------------------------------------------------


class Mapper:
    """What the three importers share: severities, users, services, schedules."""

    vendor: Vendor

    def run(self, documents: list[Any]) -> Plan:
        raise NotImplementedError

    def __init__(self, config: WarroomConfig) -> None:
        self.config = config
        self.plan = Plan(self.vendor)
        self.handles: dict[str, str] = {}  # vendor user id (or e-mail, username) → handle
        self._taken = {u.handle for u in config.users}
        self._by_email = {u.email.casefold(): u.handle for u in config.users if u.email}
        overrides = config.reports.import_severity.get(self.vendor.value, {})
        self._severity = {k.casefold(): v for k, v in overrides.items()}

    # notes
    def unmapped(self, kind: str, ident: str, reason: str) -> None:
        self.plan.unmapped.append(Note(kind, ident, reason))

    def warn(self, kind: str, ident: str, reason: str) -> None:
        self.plan.warnings.append(Note(kind, ident, reason))

    # severities
    def severity(self, words: list[str], ident: str) -> str:
        """The warroom severity of the first of `words` the mapping knows."""
        defaults = {k.casefold(): v for k, v in DEFAULT_SEVERITY[self.vendor].items()}
        for word in words:
            key = word.casefold()
            if key in self._severity:
                return self._severity[key]
            if key in defaults:
                return self.config.severity_at_rank(defaults[key]).name
        fallback = self._severity.get("default")
        name = fallback or self.config.severity_at_rank(DEFAULT_RANK).name
        shown = ", ".join(repr(w) for w in words) or "none"
        self.warn("incident", ident, f"no severity mapping for {shown}; imported as {name}")
        return name

    # services
    def services(self, names: list[str], ident: str) -> list[str]:
        found: list[str] = []
        for name in names:
            service = slug(name)
            if self.config.services and self.config.service(service) is None:
                self.warn("incident", ident, f"service {name!r} is not configured; left out")
                continue
            found.append(service)
        return list(dict.fromkeys(found))

    # users
    def add_user(self, ident: str, *, name: str, email: str, **extra: Any) -> None:
        if not ident:
            self.unmapped("user", "(no id)", "a user without an id")
            return
        known = self._by_email.get(email.casefold()) if email else None
        if known is not None:
            self.handles[ident] = known
            if email:
                self.handles[email.casefold()] = known
            self.warn("user", ident, f"already configured as {known}; not emitted again")
            return
        base = slug(email.split("@")[0] if email else name) if (email or name) else ""
        base = base.replace("-", ".") or f"user.{ident.lower()}"
        handle, n = base[:60], 2
        while handle in self._taken:
            handle, n = f"{base[:58]}-{n}", n + 1
        data: dict[str, Any] = {"handle": handle, "name": name or handle}
        if email:
            data["email"] = email
        for key, value in extra.items():
            if value:
                data[key] = value
        if data.get("timezone") and _zone(data["timezone"]) is None:
            self.warn("user", ident, f"unknown time zone {data['timezone']!r}; UTC used")
            data.pop("timezone")
        if data.get("phone"):
            try:
                normalise_phone(data["phone"])
            except ValueError:
                self.warn("user", ident, f"phone {data['phone']!r} is not international; left out")
                data.pop("phone")
        problem = _validated(User, data)
        if problem:
            self.unmapped("user", ident, problem)
            return
        self._taken.add(handle)
        self.handles[ident] = handle
        if email:
            self.handles[email.casefold()] = handle
        self.plan.users.append(data)

    def handle(self, ref: str) -> str | None:
        return self.handles.get(ref) or self.handles.get(ref.casefold())

    def participants(self, refs: list[str], kind: str, ident: str) -> list[str]:
        found: list[str] = []
        for ref in refs:
            handle = self.handle(ref)
            if handle is None:
                self.warn(kind, ident, f"user {ref!r} is not among the imported users; left out")
            else:
                found.append(handle)
        return found

    # schedules and policies
    def add_schedule(self, ident: str, data: dict[str, Any]) -> None:
        if not data.get("layers"):
            self.unmapped("schedule", ident, "no layer could be mapped")
            return
        problem = _validated(Schedule, data)
        if problem:
            self.unmapped("schedule", ident, problem)
            return
        self.plan.schedules.append(data)

    def add_policy(self, ident: str, data: dict[str, Any]) -> None:
        if not data.get("steps"):
            self.unmapped("escalation_policy", ident, "no step could be mapped")
            return
        problem = _validated(EscalationPolicy, data)
        if problem:
            self.unmapped("escalation_policy", ident, problem)
            return
        self.plan.escalation_policies.append(data)

    def layer_start(self, when: datetime, zone: ZoneInfo) -> tuple[str, time, str]:
        """(start date, handoff time, weekday) of a rotation's first turn, in `zone`."""
        local = when.astimezone(zone)
        return (
            local.date().isoformat(),
            local.time().replace(microsecond=0),
            WEEKDAYS[local.weekday()],
        )

    def rotation(
        self, name: str, seconds: int, start: datetime, zone: ZoneInfo
    ) -> dict[str, Any] | None:
        shape = _length(seconds)
        if shape is None:
            return None
        rotation, length = shape
        day, handoff, weekday = self.layer_start(start, zone)
        layer: dict[str, Any] = {
            "name": slug(name, upper=True)[:64],
            "rotation": rotation,
            "handoff_time": _hh_mm(handoff),
            "start": day,
        }
        if length:
            layer["shift_length"] = length
        if rotation == "weekly":
            layer["handoff_day"] = weekday
        return layer

    def incident(self, ident: str, **row: Any) -> None:
        row = {k: v for k, v in row.items() if v not in (None, "", [])}
        row["external_id"] = f"{self.vendor.value}:{ident}"
        self.plan.incidents.append(row)

    def time(self, record: dict[str, Any], name: str, ident: str) -> datetime | None:
        try:
            return parse_time(record.get(name))
        except ValueError as exc:
            self.warn("incident", ident, f"{name}: {exc}; left out")
            return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
