"""Importers for PagerDuty, Opsgenie and Grafana OnCall history (docs/import.md).

Each reads the JSON its vendor's REST API answers list requests with — PagerDuty's
`{"incidents": [...]}`, `{"schedules": [...]}`, `{"escalation_policies": [...]}`,
`{"users": [...]}`; Opsgenie's `{"data": [...]}`; Grafana OnCall's paginated
`{"results": [...]}` — and makes a `Plan`: warroom incidents (imported through
`warroom.reports.importer`, idempotent on `<vendor>:<id>`), and the users, schedules and
escalation policies as a configuration fragment (those live in warroom's YAML
configuration), with every record that could not be mapped and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
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


# --- PagerDuty ---------------------------------------------------------------------------


class PagerDuty(Mapper):
    vendor = Vendor.PAGERDUTY

    def run(self, documents: list[Any]) -> Plan:
        for user in records(documents, "users"):
            self.user(user)
        for schedule in records(documents, "schedules"):
            self.schedule(schedule)
        for policy in records(documents, "escalation_policies"):
            self.policy(policy)
        for incident in records(documents, "incidents"):
            self.map_incident(incident)
        return self.plan

    def user(self, record: dict[str, Any]) -> None:
        phone = None
        for method in record.get("contact_methods") or []:
            if isinstance(method, dict) and method.get("type") in (
                "phone_contact_method",
                "sms_contact_method",
            ):
                code, address = method.get("country_code"), _text(method.get("address"))
                if address and phone is None:
                    phone = f"+{code}{address}" if code else address
        self.add_user(
            _id(record),
            name=_text(record.get("name")),
            email=_text(record.get("email")),
            timezone=_text(record.get("time_zone")),
            title=_text(record.get("job_title")),
            phone=phone,
        )

    def schedule(self, record: dict[str, Any]) -> None:
        ident = _id(record) or "(no id)"
        zone_name = _text(record.get("time_zone")) or "UTC"
        zone = _zone(zone_name)
        if zone is None:
            self.unmapped("schedule", ident, f"unknown time zone {zone_name!r}")
            return
        layers = []
        for n, raw in enumerate(record.get("schedule_layers") or [], start=1):
            layer = self._layer(ident, n, raw, zone)
            if layer is not None:
                layers.append(layer)
        name = slug(_text(record.get("name")) or ident, upper=True)
        self.handles[f"schedule:{ident}"] = name
        self.add_schedule(
            ident,
            {
                "name": name,
                "title": _text(record.get("name")),
                "description": _text(record.get("description")),
                "time_zone": zone_name,
                "layers": layers,
            },
        )

    def _layer(self, ident: str, n: int, raw: Any, zone: ZoneInfo) -> dict[str, Any] | None:
        where = f"{ident} layer {n}"
        if not isinstance(raw, dict):
            return None
        try:
            start = parse_time(raw.get("rotation_virtual_start") or raw.get("start"))
            end = parse_time(raw.get("end"))
        except ValueError as exc:
            self.unmapped("schedule_layer", where, str(exc))
            return None
        if start is None:
            self.unmapped("schedule_layer", where, "no rotation_virtual_start")
            return None
        if end is not None:
            self.warn("schedule_layer", where, f"ended {end.isoformat()}; left out")
            return None
        seconds = raw.get("rotation_turn_length_seconds")
        layer = self.rotation(
            _text(raw.get("name")) or f"layer-{n}",
            seconds if isinstance(seconds, int) else 0,
            start,
            zone,
        )
        if layer is None:
            self.unmapped(
                "schedule_layer", where, f"turn length {seconds!r} s is not whole minutes"
            )
            return None
        refs = [_id(u.get("user") or {}) for u in raw.get("users") or [] if isinstance(u, dict)]
        layer["participants"] = self.participants(refs, "schedule_layer", where)
        restrictions = []
        for r in raw.get("restrictions") or []:
            mapped = self._restriction(where, r)
            if mapped is not None:
                restrictions.append(mapped)
        if restrictions:
            layer["restrictions"] = restrictions
        return layer

    def _restriction(self, where: str, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            return None
        seconds = raw.get("duration_seconds")
        try:
            begin = time.fromisoformat(_text(raw.get("start_time_of_day")))
        except ValueError:
            self.unmapped("restriction", where, "start_time_of_day is not HH:MM:SS")
            return None
        if not isinstance(seconds, int) or not 0 < seconds < 86400:
            self.unmapped("restriction", where, f"a window of {seconds!r} s is not within a day")
            return None
        window = {"start": _hh_mm(begin), "end": _hh_mm(_clock_plus(begin, seconds))}
        if raw.get("type") == "daily_restriction":
            return {"type": "time_of_day", **window}
        day = raw.get("start_day_of_week")
        if raw.get("type") == "weekly_restriction" and isinstance(day, int) and 1 <= day <= 7:
            return {"type": "day_of_week", "days": [WEEKDAYS[day - 1]], **window}
        self.unmapped("restriction", where, f"restriction type {raw.get('type')!r}")
        return None

    def policy(self, record: dict[str, Any]) -> None:
        ident = _id(record) or "(no id)"
        steps = []
        for n, rule in enumerate(record.get("escalation_rules") or [], start=1):
            if not isinstance(rule, dict):
                continue
            targets = []
            for target in rule.get("targets") or []:
                mapped = self._target(f"{ident} rule {n}", target)
                if mapped is not None:
                    targets.append(mapped)
            if not targets:
                self.unmapped("escalation_rule", f"{ident} rule {n}", "no target could be mapped")
                continue
            delay = rule.get("escalation_delay_in_minutes")
            minutes = delay if isinstance(delay, int) and delay >= 1 else 30
            steps.append({"delay": f"{minutes} minutes", "targets": targets})
        loops = record.get("num_loops")
        data: dict[str, Any] = {
            "name": slug(_text(record.get("name")) or ident),
            "title": _text(record.get("name")),
            "description": _text(record.get("description")),
            "steps": steps,
        }
        if isinstance(loops, int) and loops > 0:
            data["repeat"] = min(loops, 20)
        self.add_policy(ident, data)

    def _target(self, where: str, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            return None
        kind, ident = raw.get("type"), _id(raw)
        if kind in ("user_reference", "user"):
            handle = self.handle(ident)
            if handle is None:
                self.warn("escalation_rule", where, f"user {ident!r} was not imported; left out")
                return None
            return {"type": "user", "name": handle}
        if kind in ("schedule_reference", "schedule"):
            name = self.handles.get(f"schedule:{ident}") or slug(
                _text(raw.get("summary")) or ident, upper=True
            )
            return {"type": "schedule", "name": name}
        self.warn("escalation_rule", where, f"target type {kind!r} has no warroom equivalent")
        return None

    def map_incident(self, record: dict[str, Any]) -> None:
        ident = _id(record)
        if not ident:
            self.unmapped("incident", "(no id)", "an incident without an id")
            return
        created = self.time(record, "created_at", ident)
        if created is None:
            self.unmapped("incident", ident, "no created_at")
            return
        priority = record.get("priority") if isinstance(record.get("priority"), dict) else {}
        words = [_text(priority.get("summary")), _text(record.get("urgency"))]
        severity = self.severity([w for w in words if w], ident)
        acks = [
            self.time(a, "at", ident)
            for a in record.get("acknowledgements") or []
            if isinstance(a, dict)
        ]
        acknowledged = min((a for a in acks if a is not None), default=None)
        resolved = self.time(record, "resolved_at", ident)
        status = record.get("status")
        if status == "resolved" and resolved is None:
            resolved = self.time(record, "last_status_change_at", ident)
            self.warn("incident", ident, "resolved without resolved_at: last_status_change_at used")
        if status == "acknowledged" and acknowledged is None:
            self.warn(
                "incident", ident, "acknowledged, but no acknowledgement time: MTTA excludes it"
            )
        if status != "resolved":
            resolved = None
        service = record.get("service") if isinstance(record.get("service"), dict) else {}
        title = _text(record.get("title")) or _text(record.get("summary")) or f"PagerDuty {ident}"
        self.incident(
            ident,
            title=title[:255],
            severity=severity,
            services=self.services([_text(service.get("summary"))] if service else [], ident),
            description=_text(record.get("description"))[:20_000],
            detected_at=_iso(created),
            declared_at=_iso(created),
            acknowledged_at=_iso(acknowledged),
            resolved_at=_iso(resolved),
        )


# --- Opsgenie ----------------------------------------------------------------------------


_OG_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


class Opsgenie(Mapper):
    vendor = Vendor.OPSGENIE

    def run(self, documents: list[Any]) -> Plan:
        by_kind: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("users", "schedules", "escalations", "alerts", "incidents")
        }
        for document in documents:
            if not isinstance(document, dict):
                continue
            for key in by_kind:
                if isinstance(document.get(key), list):
                    by_kind[key].extend(r for r in document[key] if isinstance(r, dict))
            for record in records([document], "data"):
                by_kind[self._kind(record)].append(record)
        for user in by_kind["users"]:
            self.user(user)
        for schedule in by_kind["schedules"]:
            self.schedule(schedule)
        for policy in by_kind["escalations"]:
            self.policy(policy)
        for alert in by_kind["alerts"]:
            self.alert(alert)
        for incident in by_kind["incidents"]:
            self.map_incident(incident)
        return self.plan

    @staticmethod
    def _kind(record: dict[str, Any]) -> str:
        """Opsgenie wraps every list in `data`: tell the record kinds apart by their fields."""
        if "rules" in record:
            return "escalations"
        if "rotations" in record or ("timezone" in record and "enabled" in record):
            return "schedules"
        if "username" in record or "fullName" in record:
            return "users"
        if "impactStartDate" in record or "impactedServices" in record:
            return "incidents"
        return "alerts"

    def user(self, record: dict[str, Any]) -> None:
        email = _text(record.get("username"))
        self.add_user(
            _id(record),
            name=_text(record.get("fullName")),
            email=email if "@" in email else "",
            timezone=_text(record.get("timeZone")),
        )

    def _ref(self, recipient: Any) -> str:
        if not isinstance(recipient, dict):
            return ""
        return _text(recipient.get("username")) or _id(recipient)

    def schedule(self, record: dict[str, Any]) -> None:
        ident = _id(record) or "(no id)"
        zone_name = _text(record.get("timezone")) or "UTC"
        zone = _zone(zone_name)
        if zone is None:
            self.unmapped("schedule", ident, f"unknown time zone {zone_name!r}")
            return
        if record.get("enabled") is False:
            self.warn("schedule", ident, "disabled in Opsgenie; imported all the same")
        layers = []
        for n, rotation in enumerate(record.get("rotations") or [], start=1):
            layer = self._layer(f"{ident} rotation {n}", n, rotation, zone)
            if layer is not None:
                layers.append(layer)
        name = slug(_text(record.get("name")) or ident, upper=True)
        self.handles[f"schedule:{ident}"] = name
        self.handles[f"schedule:{_text(record.get('name'))}"] = name
        self.add_schedule(
            ident,
            {
                "name": name,
                "title": _text(record.get("name")),
                "description": _text(record.get("description")),
                "time_zone": zone_name,
                "layers": layers,
            },
        )

    def _layer(self, where: str, n: int, raw: Any, zone: ZoneInfo) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            return None
        try:
            start, end = parse_time(raw.get("startDate")), parse_time(raw.get("endDate"))
        except ValueError as exc:
            self.unmapped("rotation", where, str(exc))
            return None
        if start is None:
            self.unmapped("rotation", where, "no startDate")
            return None
        if end is not None:
            self.warn("rotation", where, f"ends {end.isoformat()}; imported without an end")
        unit = {"hourly": 3600, "daily": 86400, "weekly": 604800}.get(_text(raw.get("type")))
        length = raw.get("length") if isinstance(raw.get("length"), int) else 1
        if unit is None:
            self.unmapped("rotation", where, f"rotation type {raw.get('type')!r}")
            return None
        layer = self.rotation(_text(raw.get("name")) or f"rotation-{n}", unit * length, start, zone)
        if layer is None:
            return None
        refs = []
        for p in raw.get("participants") or []:
            if isinstance(p, dict) and p.get("type") == "user":
                refs.append(self._ref(p))
            else:
                kind = p.get("type") if isinstance(p, dict) else p
                self.warn("rotation", where, f"participant of type {kind!r} left out")
        layer["participants"] = self.participants(refs, "rotation", where)
        restriction = raw.get("timeRestriction")
        if isinstance(restriction, dict):
            layer["restrictions"] = self._restrictions(where, restriction)
            if not layer["restrictions"]:
                layer.pop("restrictions")
        return layer

    def _restrictions(self, where: str, raw: dict[str, Any]) -> list[dict[str, Any]]:
        def clock(r: dict[str, Any], prefix: str) -> str:
            return f"{int(r.get(prefix + 'Hour') or 0):02d}:{int(r.get(prefix + 'Min') or 0):02d}"

        if raw.get("type") == "time-of-day" and isinstance(raw.get("restriction"), dict):
            r = raw["restriction"]
            return [{"type": "time_of_day", "start": clock(r, "start"), "end": clock(r, "end")}]
        found = []
        for r in raw.get("restrictions") or []:
            if not isinstance(r, dict):
                continue
            day = _text(r.get("startDay")).lower()
            if day not in WEEKDAYS or _text(r.get("endDay")).lower() != day:
                self.unmapped(
                    "restriction", where, "a window across days has no warroom equivalent"
                )
                continue
            found.append(
                {
                    "type": "day_of_week",
                    "days": [day],
                    "start": clock(r, "start"),
                    "end": clock(r, "end"),
                }
            )
        return found

    def policy(self, record: dict[str, Any]) -> None:
        ident = _id(record) or "(no id)"
        # Opsgenie's delays count from the alert's creation; warroom's from the step before.
        timed: list[tuple[int, dict[str, Any]]] = []
        for n, rule in enumerate(record.get("rules") or [], start=1):
            if not isinstance(rule, dict):
                continue
            where = f"{ident} rule {n}"
            if rule.get("notifyType") not in (None, "default"):
                self.unmapped("escalation_rule", where, f"notifyType {rule.get('notifyType')!r}")
                continue
            if rule.get("condition") == "if-not-closed":
                self.warn("escalation_rule", where, "if-not-closed escalates until acknowledged")
            target = self._target(where, rule.get("recipient"))
            if target is None:
                continue
            delay = rule.get("delay") if isinstance(rule.get("delay"), dict) else {}
            amount = delay.get("timeAmount") if isinstance(delay.get("timeAmount"), int) else 0
            seconds = amount * _OG_UNITS.get(_text(delay.get("timeUnit")) or "minutes", 60)
            timed.append((seconds, target))
        timed.sort(key=lambda pair: pair[0])
        steps: list[dict[str, Any]] = []
        for i, (at, target) in enumerate(timed):
            if steps and timed[i - 1][0] == at:
                steps[-1]["targets"].append(target)
                continue
            steps.append({"delay": "5 minutes", "targets": [target], "_at": at})
        for this, following in pairwise(steps):
            this["delay"] = f"{max(1, (following['_at'] - this['_at']) // 60)} minutes"
        for step in steps:
            step.pop("_at")
        data: dict[str, Any] = {
            "name": slug(_text(record.get("name")) or ident),
            "title": _text(record.get("name")),
            "description": _text(record.get("description")),
            "steps": steps,
        }
        repeat = record.get("repeat") if isinstance(record.get("repeat"), dict) else {}
        if isinstance(repeat.get("count"), int) and repeat["count"] > 0:
            data["repeat"] = min(repeat["count"], 20)
        self.add_policy(ident, data)

    def _target(self, where: str, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.unmapped("escalation_rule", where, "no recipient")
            return None
        kind = raw.get("type")
        if kind == "user":
            handle = self.handle(self._ref(raw))
            if handle is None:
                self.warn("escalation_rule", where, f"user {self._ref(raw)!r} was not imported")
                return None
            return {"type": "user", "name": handle}
        if kind == "schedule":
            name = self.handles.get(f"schedule:{_id(raw)}") or self.handles.get(
                f"schedule:{_text(raw.get('name'))}"
            )
            return {"type": "schedule", "name": name or slug(_text(raw.get("name")), upper=True)}
        if kind == "team":
            team = slug(_text(raw.get("name")) or _id(raw))
            if all(t.name != team for t in self.config.teams):
                self.unmapped("escalation_rule", where, f"team {team!r} is not configured")
                return None
            return {"type": "team", "name": team}
        self.unmapped("escalation_rule", where, f"recipient type {kind!r}")
        return None

    def alert(self, record: dict[str, Any]) -> None:
        ident = _id(record)
        if not ident:
            self.unmapped("alert", "(no id)", "an alert without an id")
            return
        created = self.time(record, "createdAt", ident)
        if created is None:
            self.unmapped("alert", ident, "no createdAt")
            return
        report = record.get("report") if isinstance(record.get("report"), dict) else {}

        def after(name: str) -> datetime | None:
            value = report.get(name)
            return created + timedelta(milliseconds=value) if isinstance(value, int) else None

        acknowledged = after("ackTime")
        if record.get("acknowledged") and acknowledged is None:
            self.warn("alert", ident, "acknowledged, but no report.ackTime: MTTA excludes it")
        resolved = None
        if record.get("status") == "closed":
            resolved = after("closeTime")
            if resolved is None:
                resolved = self.time(record, "updatedAt", ident)
                self.warn("alert", ident, "closed without report.closeTime: updatedAt used")
        tags = [t for t in record.get("tags") or [] if isinstance(t, str)]
        self.incident(
            f"alert:{ident}",
            title=(_text(record.get("message")) or f"Opsgenie alert {ident}")[:255],
            severity=self.severity([_text(record.get("priority"))], ident),
            description=_text(record.get("description"))[:20_000],
            services=self.services(
                [t.split(":", 1)[1] for t in tags if t.startswith("service:")], ident
            ),
            detected_at=_iso(created),
            declared_at=_iso(created),
            acknowledged_at=_iso(acknowledged),
            resolved_at=_iso(resolved),
        )

    def map_incident(self, record: dict[str, Any]) -> None:
        ident = _id(record)
        if not ident:
            self.unmapped("incident", "(no id)", "an incident without an id")
            return
        created = self.time(record, "createdAt", ident)
        if created is None:
            self.unmapped("incident", ident, "no createdAt")
            return
        started = self.time(record, "impactStartDate", ident)
        resolved = None
        if record.get("status") in ("resolved", "closed"):
            resolved = self.time(record, "impactEndDate", ident)
            if resolved is None:
                resolved = self.time(record, "updatedAt", ident)
                self.warn("incident", ident, "resolved without impactEndDate: updatedAt used")
        self.incident(
            f"incident:{ident}",
            title=(_text(record.get("message")) or f"Opsgenie incident {ident}")[:255],
            severity=self.severity([_text(record.get("priority"))], ident),
            description=_text(record.get("description"))[:20_000],
            started_at=_iso(started if started is None or started <= created else None),
            declared_at=_iso(created),
            resolved_at=_iso(resolved),
        )


# --- Grafana OnCall ----------------------------------------------------------------------


class GrafanaOnCall(Mapper):
    vendor = Vendor.GRAFANA_ONCALL

    def run(self, documents: list[Any]) -> Plan:
        kinds: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("users", "schedules", "shifts", "chains", "policies", "alert_groups")
        }
        named = {
            "users": "users",
            "schedules": "schedules",
            "on_call_shifts": "shifts",
            "escalation_chains": "chains",
            "escalation_policies": "policies",
            "alert_groups": "alert_groups",
        }
        for document in documents:
            if not isinstance(document, dict):
                continue
            for key, kind in named.items():
                if isinstance(document.get(key), list):
                    kinds[kind].extend(r for r in document[key] if isinstance(r, dict))
            for record in records([document], "results"):
                kinds[self._kind(record)].append(record)
        for user in kinds["users"]:
            self.add_user(
                _id(user),
                name=_text(user.get("name")) or _text(user.get("username")),
                email=_text(user.get("email")),
                timezone=_text(user.get("timezone")),
            )
        shifts = {_id(s): s for s in kinds["shifts"]}
        for schedule in kinds["schedules"]:
            self.schedule(schedule, shifts)
        steps: dict[str, list[dict[str, Any]]] = {}
        for policy in kinds["policies"]:
            steps.setdefault(_text(policy.get("escalation_chain_id")), []).append(policy)
        for chain in kinds["chains"]:
            self.chain(chain, steps.get(_id(chain), []))
        for group in kinds["alert_groups"]:
            self.alert_group(group)
        return self.plan

    @staticmethod
    def _kind(record: dict[str, Any]) -> str:
        if "escalation_chain_id" in record:
            return "policies"
        if "alerts_count" in record or "state" in record:
            return "alert_groups"
        if record.get("type") in ("single_event", "recurrent_event", "rolling_users"):
            return "shifts"
        if "shifts" in record or "on_call_now" in record or "ical_url_primary" in record:
            return "schedules"
        if "email" in record or "username" in record:
            return "users"
        return "chains"

    def schedule(self, record: dict[str, Any], shifts: dict[str, dict[str, Any]]) -> None:
        ident = _id(record) or "(no id)"
        name = slug(_text(record.get("name")) or ident, upper=True)
        self.handles[f"schedule:{ident}"] = name
        if record.get("type") == "ical":
            self.unmapped("schedule", ident, "an iCal schedule: its shifts live in the calendar")
            return
        zone_name = _text(record.get("time_zone")) or "UTC"
        zone = _zone(zone_name)
        if zone is None:
            self.unmapped("schedule", ident, f"unknown time zone {zone_name!r}")
            return
        layers: list[dict[str, Any]] = []
        for shift_id in record.get("shifts") or []:
            shift = shifts.get(str(shift_id))
            if shift is None:
                self.unmapped(
                    "shift", f"{ident} shift {shift_id}", "not in the on_call_shifts given"
                )
                continue
            layers.extend(self._layers(shift, zone))
        self.add_schedule(
            ident,
            {
                "name": name,
                "title": _text(record.get("name")),
                "time_zone": zone_name,
                "layers": layers,
            },
        )

    def _layers(self, shift: dict[str, Any], zone: ZoneInfo) -> list[dict[str, Any]]:
        ident = _id(shift) or "(no id)"
        kind = shift.get("type")
        if kind == "single_event":
            self.unmapped("shift", ident, "a one-off shift: add it as an override")
            return []
        shift_zone = _zone(shift.get("time_zone")) or zone
        try:
            start = datetime.fromisoformat(_text(shift.get("rotation_start") or shift.get("start")))
        except ValueError:
            self.unmapped("shift", ident, "start is not an ISO 8601 time")
            return []
        if start.tzinfo is None:
            start = start.replace(tzinfo=shift_zone)
        unit = {"hourly": 3600, "daily": 86400, "weekly": 604800}.get(_text(shift.get("frequency")))
        if unit is None:
            self.unmapped("shift", ident, f"frequency {shift.get('frequency')!r}")
            return []
        interval = shift.get("interval") if isinstance(shift.get("interval"), int) else 1
        name = _text(shift.get("name")) or f"shift-{ident}"
        base = self.rotation(name, unit * interval, start, zone)
        if base is None:
            return []
        duration = shift.get("duration") if isinstance(shift.get("duration"), int) else 0
        restrictions: list[dict[str, Any]] = []
        if 0 < duration < 86400:
            local = start.astimezone(zone).time().replace(microsecond=0)
            window = {"start": _hh_mm(local), "end": _hh_mm(_clock_plus(local, duration))}
            days = [WEEKDAYS[_ICAL_DAYS[d]] for d in shift.get("by_day") or [] if d in _ICAL_DAYS]
            if days:
                restrictions.append({"type": "day_of_week", "days": days, **window})
            elif unit == 86400:
                restrictions.append({"type": "time_of_day", **window})
        if restrictions:
            base["restrictions"] = restrictions
        if kind == "rolling_users":
            groups = [g for g in shift.get("rolling_users") or [] if isinstance(g, list) and g]
            if any(len(g) > 1 for g in groups):
                self.warn("shift", ident, "several users per turn: the first of each turn is kept")
            refs = [str(g[0]) for g in groups]
            base["participants"] = self.participants(refs, "shift", ident)
            return [base]
        # recurrent_event: everyone listed is on call together — one layer each.
        layers = []
        for n, ref in enumerate(shift.get("users") or [], start=1):
            layer = {**base, "name": f"{base['name'][:60]}-{n}"}
            layer["participants"] = self.participants([str(ref)], "shift", ident)
            layers.append(layer)
        return layers

    def chain(self, record: dict[str, Any], policies: list[dict[str, Any]]) -> None:
        ident = _id(record) or "(no id)"
        steps: list[dict[str, Any]] = []
        repeat = 0
        for policy in sorted(policies, key=lambda p: p.get("position") or 0):
            kind = policy.get("type")
            where = f"{ident} step {_id(policy)}"
            if kind == "wait":
                seconds = policy.get("duration") if isinstance(policy.get("duration"), int) else 0
                if steps and seconds >= 60:
                    steps[-1]["delay"] = f"{seconds // 60} minutes"
                continue
            if kind == "repeat_escalation":
                repeat = 1
                continue
            targets: list[dict[str, Any]] = []
            if kind in ("notify_persons", "notify_person_next_each_time"):
                if kind == "notify_person_next_each_time":
                    self.warn("escalation_step", where, "round robin becomes everyone at once")
                refs = policy.get("persons_to_notify") or policy.get(
                    "persons_to_notify_next_each_time"
                )
                for handle in self.participants(
                    [str(r) for r in refs or []], "escalation_step", where
                ):
                    targets.append({"type": "user", "name": handle})
            elif kind == "notify_on_call_from_schedule":
                ref = str(policy.get("notify_on_call_from_schedule") or "")
                name = self.handles.get(f"schedule:{ref}")
                if name is None:
                    self.warn("escalation_step", where, f"schedule {ref!r} was not imported")
                targets.append({"type": "schedule", "name": name or slug(ref, upper=True)})
            else:
                self.unmapped("escalation_step", where, f"step type {kind!r} has no equivalent")
                continue
            if targets:
                steps.append({"delay": "5 minutes", "targets": targets})
        data: dict[str, Any] = {
            "name": slug(_text(record.get("name")) or ident),
            "title": _text(record.get("name")),
            "steps": steps,
        }
        if repeat:
            data["repeat"] = repeat
        self.add_policy(ident, data)

    def alert_group(self, record: dict[str, Any]) -> None:
        ident = _id(record)
        if not ident:
            self.unmapped("alert_group", "(no id)", "an alert group without an id")
            return
        created = self.time(record, "created_at", ident)
        if created is None:
            self.unmapped("alert_group", ident, "no created_at")
            return
        words = []
        for label in record.get("labels") or []:
            if isinstance(label, dict):
                key, value = label.get("key"), label.get("value")
                key = key.get("name") if isinstance(key, dict) else key
                value = value.get("name") if isinstance(value, dict) else value
                if key == "severity" and isinstance(value, str):
                    words.append(value)
        resolved = self.time(record, "resolved_at", ident)
        if record.get("state") == "resolved" and resolved is None:
            self.warn("alert_group", ident, "resolved without resolved_at: left open")
        self.incident(
            ident,
            title=(_text(record.get("title")) or f"Grafana OnCall alert group {ident}")[:255],
            severity=self.severity(words, ident),
            detected_at=_iso(created),
            declared_at=_iso(created),
            acknowledged_at=_iso(self.time(record, "acknowledged_at", ident)),
            resolved_at=_iso(resolved),
        )


IMPORTERS: dict[Vendor, Callable[[WarroomConfig], Mapper]] = {
    Vendor.PAGERDUTY: PagerDuty,
    Vendor.OPSGENIE: Opsgenie,
    Vendor.GRAFANA_ONCALL: GrafanaOnCall,
}


def plan(vendor: Vendor, config: WarroomConfig, documents: list[Any]) -> Plan:
    """Map the vendor's API documents; nothing is written."""
    result = IMPORTERS[vendor](config).run(documents)
    if len(result.incidents) > MAX_RECORDS:
        raise ValueError(f"at most {MAX_RECORDS} incidents per import")
    return result
