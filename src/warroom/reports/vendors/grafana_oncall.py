"""Grafana OnCall public API: users, schedules and shifts, escalation chains and
policies, alert groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from warroom.reports.vendors.common import (
    _ICAL_DAYS,
    WEEKDAYS,
    Mapper,
    Plan,
    Vendor,
    _clock_plus,
    _hh_mm,
    _id,
    _int,
    _iso,
    _text,
    _zone,
    records,
    slug,
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
        interval = _int(shift.get("interval"), 1)
        name = _text(shift.get("name")) or f"shift-{ident}"
        base = self.rotation(name, unit * interval, start, zone)
        if base is None:
            return []
        duration = _int(shift.get("duration"), 0)
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
                seconds = _int(policy.get("duration"), 0)
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
