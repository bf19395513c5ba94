"""PagerDuty REST API v2: users, schedules, escalation policies, incidents."""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from warroom.reports.vendors.common import (
    WEEKDAYS,
    Mapper,
    Plan,
    Vendor,
    _clock_plus,
    _hh_mm,
    _id,
    _iso,
    _obj,
    _text,
    _zone,
    parse_time,
    records,
    slug,
)

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
        priority = _obj(record.get("priority"))
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
        service = _obj(record.get("service"))
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
