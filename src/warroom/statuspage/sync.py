"""Mirror the status page to Atlassian Statuspage through its REST API (optional).

For teams that keep their existing page: every public update of a public incident, and
every component status set by hand, becomes an engine timer (written in the transaction
of the change) whose handler calls Statuspage: create the incident the first time
(`POST /pages/{page}/incidents`), update it afterwards (`PATCH …/incidents/{id}`), and
`PATCH …/components/{id}`. A 5xx or a network failure leaves the timer to be retried
after its lease; a 4xx is logged and dropped (retrying cannot help). Components are
mirrored only when `status_page.statuspage_io.components` maps them to Statuspage ids.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.notifications.ports import redact
from warroom.statuspage.models import PublicIncident, PublicIncidentUpdate

log = logging.getLogger("warroom.statuspage")

SYNC_UPDATE, SYNC_COMPONENT = "statuspage_io_update", "statuspage_io_component"
TIMEOUT = 10.0


class TemporaryProblem(Exception):
    """Statuspage could not take it now; the timer runs again after its lease."""


def _enabled(session: Session) -> WarroomConfig | None:
    config: WarroomConfig | None = session.info.get("config")
    if config is None or config.status_page.statuspage_io is None:
        return None
    return config


def plan_update(session: Session, *, update: PublicIncidentUpdate, now: datetime) -> None:
    """Queue the mirroring of a public update (when a Statuspage page is configured)."""
    if _enabled(session) is None:
        return
    timers.schedule(
        session, kind=SYNC_UPDATE, key=f"spio:update:{update.id}", due_at=now, now=now,
        payload={"update": update.id},
    )  # fmt: skip


def plan_component(session: Session, *, name: str, status: str, change: int, now: datetime) -> None:
    """Queue the mirroring of a component status set by hand."""
    config = _enabled(session)
    if config is None or config.status_page.statuspage_io is None:
        return
    if name not in config.status_page.statuspage_io.components:
        return
    timers.schedule(
        session, kind=SYNC_COMPONENT, key=f"spio:component:{change}", due_at=now, now=now,
        payload={"component": name, "status": status},
    )  # fmt: skip


def _call(ctx: AppContext, method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """One Statuspage API call; None when it was refused for good (4xx)."""
    key = ctx.settings.statuspage_api_key
    if key is None:
        log.warning("status page sync: WARROOM_STATUSPAGE_API_KEY is not set; not mirrored")
        return None
    secret = key.get_secret_value()
    url = ctx.settings.statuspage_base_url.rstrip("/") + path
    try:
        response = httpx.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"OAuth {secret}", "User-Agent": "warroom"},
            timeout=TIMEOUT,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise TemporaryProblem(redact(f"{type(exc).__name__}: {exc}", secret)) from None
    if response.status_code >= 500 or response.status_code in (408, 420, 429):
        raise TemporaryProblem(f"Statuspage answered {response.status_code}")
    if response.is_error:
        log.error(
            "status page sync: Statuspage refused %s %s: %s %s", method, path,
            response.status_code, redact(response.text[:200], secret),
        )  # fmt: skip
        return None
    data = response.json() if response.content else {}
    return data if isinstance(data, dict) else {}


@handles(SYNC_UPDATE)
def _sync_update(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """Create or update the mirrored incident with this public update."""
    mirror = ctx.config.status_page.statuspage_io
    update = session.get(PublicIncidentUpdate, int(timer.payload.get("update", 0)))
    if mirror is None or update is None:
        return
    public = session.get(PublicIncident, update.public_incident_id)
    assert public is not None
    remote_components = {
        mirror.components[name]: change["new_status"]
        for name, change in (update.components or {}).items()
        if name in mirror.components and isinstance(change, dict) and "new_status" in change
    }
    incident: dict[str, Any] = {"status": update.status, "body": update.body}
    if remote_components:
        incident["components"] = remote_components
        incident["component_ids"] = sorted(remote_components)
    base = f"/pages/{mirror.page_id}/incidents"
    if public.remote_id is None:
        created = _call(ctx, "POST", base, {"incident": {"name": public.name, **incident}})
        if created is not None and isinstance(created.get("id"), str):
            public.remote_id = created["id"]
    else:
        _call(ctx, "PATCH", f"{base}/{public.remote_id}", {"incident": incident})


@handles(SYNC_COMPONENT)
def _sync_component(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """Set the mirrored component's status."""
    mirror = ctx.config.status_page.statuspage_io
    name = str(timer.payload.get("component", ""))
    if mirror is None or name not in mirror.components:
        return
    _call(
        ctx,
        "PATCH",
        f"/pages/{mirror.page_id}/components/{mirror.components[name]}",
        {"component": {"status": str(timer.payload.get("status"))}},
    )
