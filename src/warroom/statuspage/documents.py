"""The public documents in Atlassian Statuspage's v2 shapes, field for field.

`build(...)` turns what the database holds into plain dictionaries; the publisher writes
them as `summary.json`, `status.json`, … and the HTML and feeds read the same data. Pure:
no database, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from warroom.config.incidents import ComponentStatus
from warroom.statuspage.logic import (
    COMPONENT_RANK,
    DayRollup,
    Impact,
    Indicator,
    MaintenanceStatus,
    page_indicator,
    stable_id,
)


def ts(value: datetime | None) -> str | None:
    """Statuspage's timestamps: ISO 8601 in UTC with milliseconds."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ComponentFacts:
    id: int
    name: str
    description: str
    group: str | None
    position: int
    status: ComponentStatus
    created_at: datetime
    updated_at: datetime
    uptime: Sequence[DayRollup] = ()
    uptime_percent: float = 100.0


@dataclass(frozen=True)
class UpdateFacts:
    id: int
    status: str
    body: str
    created_at: datetime
    # name → {old_status, new_status}
    components: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    name: str
    status: str
    impact: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    components: Sequence[str]
    updates: Sequence[UpdateFacts]  # newest first

    @property
    def code(self) -> str:
        return stable_id("incident", self.id)

    @property
    def monitoring_at(self) -> datetime | None:
        times = [u.created_at for u in self.updates if u.status == "monitoring"]
        return min(times) if times else None


@dataclass(frozen=True)
class MaintenanceFacts:
    id: int
    name: str
    body: str
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    created_at: datetime
    updated_at: datetime
    components: Sequence[str]
    # Scheduled maintenances and plain maintenance windows have separate id spaces.
    code_kind: str = "maintenance"

    @property
    def code(self) -> str:
        return stable_id(self.code_kind, self.id)


@dataclass(frozen=True)
class PageFacts:
    name: str
    url: str
    time_zone: str
    updated_at: datetime
    today: date
    components: Sequence[ComponentFacts]
    incidents: Sequence[IncidentFacts]  # newest first, capped
    maintenances: Sequence[MaintenanceFacts]

    @property
    def page_id(self) -> str:
        return stable_id("page", self.name)

    @property
    def unresolved(self) -> list[IncidentFacts]:
        return [i for i in self.incidents if i.resolved_at is None]

    @property
    def maintenance_active(self) -> list[MaintenanceFacts]:
        return [
            m
            for m in self.maintenances
            if m.status in (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)
        ]

    @property
    def maintenance_upcoming(self) -> list[MaintenanceFacts]:
        return [m for m in self.maintenances if m.status is MaintenanceStatus.SCHEDULED]

    @property
    def indicator(self) -> Indicator:
        return page_indicator(
            (c.status for c in self.components),
            (Impact(i.impact) for i in self.unresolved),
            maintenance_in_progress=bool(self.maintenance_active),
        )

    def groups(self) -> list[tuple[str | None, list[ComponentFacts]]]:
        """Components in page order, grouped (a group sits where its first member is)."""
        order: list[str | None] = []
        members: dict[str | None, list[ComponentFacts]] = {}
        for component in self.components:
            key = component.group
            if key is None:
                order.append(None)
                members.setdefault(None, []).append(component)
                continue
            if key not in members:
                order.append(key)
            members.setdefault(key, []).append(component)
        out: list[tuple[str | None, list[ComponentFacts]]] = []
        loose = iter(members.get(None, []))
        for key in order:
            out.append((None, [next(loose)]) if key is None else (key, members[key]))
        return out


def worst(statuses: Sequence[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda s: COMPONENT_RANK[s], default=ComponentStatus.OPERATIONAL)


# --- the documents ------------------------------------------------------------------------


def page_doc(page: PageFacts) -> dict[str, Any]:
    return {
        "id": page.page_id,
        "name": page.name,
        "url": page.url,
        "time_zone": page.time_zone,
        "updated_at": ts(page.updated_at),
    }


def _component_doc(page: PageFacts, c: ComponentFacts, group_id: str | None) -> dict[str, Any]:
    return {
        "id": stable_id("component", c.id),
        "name": c.name,
        "status": c.status.value,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "position": c.position,
        "description": c.description or None,
        "showcase": True,
        "start_date": c.created_at.date().isoformat(),
        "group_id": group_id,
        "page_id": page.page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def components_list(page: PageFacts) -> list[dict[str, Any]]:
    """Statuspage lists groups as components with `group: true` and their members' ids."""
    out: list[dict[str, Any]] = []
    position = 0
    for group, members in page.groups():
        if group is None:
            position += 1
            out.append(_component_doc(page, members[0], None) | {"position": position})
            continue
        group_id = stable_id("group", group)
        position += 1
        docs = []
        for member in members:
            position += 1
            docs.append(_component_doc(page, member, group_id) | {"position": position})
        out.append(
            {
                "id": group_id,
                "name": group,
                "status": worst([m.status for m in members]).value,
                "created_at": ts(min(m.created_at for m in members)),
                "updated_at": ts(max(m.updated_at for m in members)),
                "position": position - len(members),
                "description": None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": page.page_id,
                "group": True,
                "only_show_if_degraded": False,
                "components": [d["id"] for d in docs],
            }
        )
        out.extend(docs)
    return out


def _affected(page: PageFacts, update: UpdateFacts) -> list[dict[str, Any]] | None:
    if not update.components:
        return None
    ids = {c.name: stable_id("component", c.id) for c in page.components}
    return [
        {
            "code": ids.get(name, stable_id("component", name)),
            "name": name,
            "old_status": change.get("old_status"),
            "new_status": change.get("new_status"),
        }
        for name, change in update.components.items()
    ]


def incident_doc(page: PageFacts, incident: IncidentFacts) -> dict[str, Any]:
    by_name = {c.name: c for c in page.components}
    return {
        "id": incident.code,
        "name": incident.name,
        "status": incident.status,
        "created_at": ts(incident.created_at),
        "updated_at": ts(incident.updated_at),
        "monitoring_at": ts(incident.monitoring_at),
        "resolved_at": ts(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": f"{page.url}/incidents/{incident.code}",
        "started_at": ts(incident.created_at),
        "page_id": page.page_id,
        "incident_updates": [
            {
                "id": stable_id("update", u.id),
                "status": u.status,
                "body": u.body,
                "incident_id": incident.code,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.created_at),
                "display_at": ts(u.created_at),
                "affected_components": _affected(page, u),
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in incident.updates
        ],
        "components": [
            _component_doc(page, by_name[name], None)
            for name in incident.components
            if name in by_name
        ],
    }


def maintenance_doc(page: PageFacts, m: MaintenanceFacts) -> dict[str, Any]:
    by_name = {c.name: c for c in page.components}
    return {
        "id": m.code,
        "name": m.name,
        "status": m.status.value,
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
        "monitoring_at": None,
        "resolved_at": ts(m.scheduled_until) if m.status is MaintenanceStatus.COMPLETED else None,
        "impact": "maintenance",
        "shortlink": f"{page.url}/incidents/{m.code}",
        "started_at": ts(m.scheduled_for),
        "page_id": page.page_id,
        "incident_updates": [
            {
                "id": stable_id("maintenance-update", m.id),
                "status": m.status.value,
                "body": m.body,
                "incident_id": m.code,
                "created_at": ts(m.updated_at),
                "updated_at": ts(m.updated_at),
                "display_at": ts(m.updated_at),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        ],
        "components": [
            _component_doc(page, by_name[name], None) for name in m.components if name in by_name
        ],
        "scheduled_for": ts(m.scheduled_for),
        "scheduled_until": ts(m.scheduled_until),
    }


def status_doc(page: PageFacts) -> dict[str, Any]:
    indicator = page.indicator
    return {"indicator": indicator.indicator.value, "description": indicator.description}


def all_documents(page: PageFacts) -> dict[str, dict[str, Any]]:
    """Every JSON document, by its path under `api/v2/`."""
    head = page_doc(page)
    components = components_list(page)
    unresolved = [incident_doc(page, i) for i in page.unresolved]
    upcoming_and_active = [
        maintenance_doc(page, m) for m in [*page.maintenance_active, *page.maintenance_upcoming]
    ]
    return {
        "summary.json": {
            "page": head,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": upcoming_and_active,
            "status": status_doc(page),
        },
        "status.json": {"page": head, "status": status_doc(page)},
        "components.json": {"page": head, "components": components},
        "incidents.json": {
            "page": head,
            "incidents": [incident_doc(page, i) for i in page.incidents[:50]],
        },
        "incidents/unresolved.json": {"page": head, "incidents": unresolved},
        "scheduled-maintenances.json": {
            "page": head,
            "scheduled_maintenances": [maintenance_doc(page, m) for m in page.maintenances[:50]],
        },
        "scheduled-maintenances/upcoming.json": {
            "page": head,
            "scheduled_maintenances": [maintenance_doc(page, m) for m in page.maintenance_upcoming],
        },
        "scheduled-maintenances/active.json": {
            "page": head,
            "scheduled_maintenances": [maintenance_doc(page, m) for m in page.maintenance_active],
        },
    }
