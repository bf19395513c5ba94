"""Opsgenie REST API: users, schedules, escalations, alerts and incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from warroom.reports.vendors.common import (
    WEEKDAYS,
    Mapper,
    Plan,
    Vendor,
    _id,
    _int,
    _iso,
    _obj,
    _text,
    _zone,
    parse_time,
    records,
    slug,
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
        length = _int(raw.get("length"), 1)
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
            delay = _obj(rule.get("delay"))
            amount = _int(delay.get("timeAmount"), 0)
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
        repeat = _obj(record.get("repeat"))
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
        report = _obj(record.get("report"))

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
