"""The publisher: read the public facts once, render the whole public surface to files.

Every public change bumps a version in the database; `publish` renders HTML, JSON and
feeds, precompresses them, and writes each file to a temporary name then renames it into
`WARROOM_STATUS_DIR`, writing the `VERSION` marker last. The public routes (and nginx)
only ever read those files, so the page answers while the database is down.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.config.incidents import ComponentStatus
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.maintenance import service as maintenance
from warroom.maintenance.models import MaintenanceWindow
from warroom.statuspage import maintenance as scheduled
from warroom.statuspage import service
from warroom.statuspage.documents import (
    ComponentFacts,
    IncidentFacts,
    MaintenanceFacts,
    PageFacts,
    UpdateFacts,
    all_documents,
)
from warroom.statuspage.logic import (
    COMPONENT_RANK,
    MaintenanceStatus,
    daily_rollups,
    intervals,
    uptime_percent,
)
from warroom.statuspage.models import StatusComponentChange, StatusMaintenance
from warroom.statuspage.render import render_pages

log = logging.getLogger("warroom.statuspage")

HISTORY_DAYS = 90
MAX_INCIDENTS = 100
VERSION_FILE = "VERSION"


def status_dir(ctx: AppContext) -> Path:
    """Where the snapshot lives: WARROOM_STATUS_DIR, else <data dir>/status."""
    if ctx.settings.status_dir is not None:
        return ctx.settings.status_dir
    assert ctx.settings.data_dir is not None
    return ctx.settings.data_dir / "status"


def page_url(ctx: AppContext) -> str:
    return (ctx.config.status_page.url or f"{ctx.settings.base_url.rstrip('/')}/status").rstrip("/")


# --- facts ----------------------------------------------------------------------------------


def _maintenances(session: Session, config: WarroomConfig, now: datetime) -> list[MaintenanceFacts]:
    """Maintenance windows of the services behind components, as Statuspage maintenances."""
    by_service: dict[str, list[str]] = {}
    for component in config.status_page.components:
        for name in component.services:
            by_service.setdefault(name, []).append(component.name)
    horizon = now - timedelta(days=HISTORY_DAYS)
    out = []
    owned: set[int] = set()
    for row in session.scalars(
        select(StatusMaintenance).where(StatusMaintenance.scheduled_until >= horizon)
    ):
        owned.update(row.window_ids)
        out.append(
            MaintenanceFacts(
                id=row.id,
                name=row.name,
                body=row.body or "Scheduled maintenance.",
                status=scheduled.status_of(row, now),
                scheduled_for=row.scheduled_for,
                scheduled_until=row.scheduled_until,
                created_at=row.created_at,
                updated_at=row.updated_at,
                components=list(row.components),
                code_kind="maintenance-status",
            )
        )
    for window in maintenance.list_windows(session, config=config, now=now) if by_service else []:
        names = by_service.get(window.service)
        if not names or window.ends_at < horizon or (window.id is not None and window.id in owned):
            continue
        end = window.ends_at
        if window.cancelled_at is not None:
            if window.cancelled_at <= window.starts_at:
                continue  # called off before it began: never happened
            end = min(end, window.cancelled_at)
        if now < window.starts_at:
            status = MaintenanceStatus.SCHEDULED
        elif now < end:
            status = MaintenanceStatus.IN_PROGRESS
        else:
            status = MaintenanceStatus.COMPLETED
        ident = window.id if window.id is not None else hash((window.name, window.starts_at))
        out.append(
            MaintenanceFacts(
                id=ident,
                name=window.name or window.reason or f"Scheduled maintenance of {', '.join(names)}",
                body=window.reason or "Scheduled maintenance.",
                status=status,
                scheduled_for=window.starts_at,
                scheduled_until=end,
                created_at=window.created_at or window.starts_at,
                updated_at=min(max(window.starts_at, now), end)
                if status is not MaintenanceStatus.SCHEDULED
                else (window.created_at or window.starts_at),
                components=names,
            )
        )
    out.sort(key=lambda m: m.scheduled_for, reverse=True)
    return out


def gather(session: Session, *, config: WarroomConfig, now: datetime, url: str) -> PageFacts:
    """Read everything the public page shows, in a handful of queries."""
    rows = service.list_components(session)
    horizon = now - timedelta(days=HISTORY_DAYS)
    history: dict[int, list[tuple[datetime, ComponentStatus]]] = {}
    for change in session.scalars(
        select(StatusComponentChange).order_by(StatusComponentChange.at, StatusComponentChange.id)
    ):
        history.setdefault(change.component_id, []).append(
            (change.at, ComponentStatus(change.status))
        )
    maintenances = _maintenances(session, config, now)
    in_maintenance = {n for m in maintenances if m.status is MaintenanceStatus.IN_PROGRESS
                      for n in m.components}  # fmt: skip
    components = []
    for row in rows:
        spans = intervals(history.get(row.id, []), now)
        rollups = daily_rollups(spans, today=now.date(), days=HISTORY_DAYS)
        # Counted from the start of the first day with data, as Statuspage counts from a
        # component's start date: a young component's first minutes do not decide it all.
        first_day = max(spans[0].start, horizon) if spans else now
        since = datetime.combine(first_day.date(), datetime.min.time(), now.tzinfo)
        observed = (now - max(since, horizon)).total_seconds() / 60
        status = ComponentStatus(row.status)
        if (
            row.name in in_maintenance
            and COMPONENT_RANK[status] < COMPONENT_RANK[ComponentStatus.UNDER_MAINTENANCE]
        ):
            status = ComponentStatus.UNDER_MAINTENANCE
        components.append(
            ComponentFacts(
                id=row.id,
                name=row.name,
                description=row.description,
                group=row.group_name,
                position=row.position,
                status=status,
                created_at=row.created_at,
                updated_at=row.updated_at,
                uptime=rollups,
                uptime_percent=uptime_percent(rollups, observed),
            )
        )
    incidents = [
        IncidentFacts(
            id=p.id,
            name=p.name,
            status=p.status,
            impact=p.impact,
            created_at=p.created_at,
            updated_at=p.updated_at,
            resolved_at=p.resolved_at,
            components=sorted(p.components),
            updates=[
                UpdateFacts(
                    id=u.id,
                    status=u.status,
                    body=u.body,
                    created_at=u.created_at,
                    components=dict(u.components),
                )
                for u in p.updates
            ],
        )
        for p in service.list_public(session, limit=MAX_INCIDENTS)
        if p.resolved_at is None or p.resolved_at >= horizon
    ]
    return PageFacts(
        name=config.status_page.name,
        url=url,
        time_zone=config.status_page.time_zone,
        updated_at=now,
        today=now.date(),
        components=components,
        incidents=incidents,
        maintenances=maintenances,
    )


# --- files ----------------------------------------------------------------------------------


def render_all(page: PageFacts) -> dict[str, bytes]:
    """Every public file by its path relative to the status directory."""
    files = {f"api/v2/{name}": _json(doc) for name, doc in all_documents(page).items()}
    files.update(render_pages(page))
    return files


def _json(doc: object) -> bytes:
    """Compact JSON, ASCII only, with `<`, `>` and `&` as escapes: safe even when someone
    embeds it in HTML."""
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def write_snapshot(directory: Path, files: Mapping[str, bytes], *, version: str) -> None:
    """Write every file atomically (temp file, then rename) with a `.gz` beside it, drop
    files of incidents no longer shown, and write the VERSION marker last."""
    directory.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, content)
        _atomic_write(target.with_name(target.name + ".gz"), gzip.compress(content, 9, mtime=0))
    incidents_dir = directory / "incidents"
    if incidents_dir.is_dir():
        keep = {Path(r).name for r in files if r.startswith("incidents/")}
        for stale in incidents_dir.iterdir():
            if stale.name not in keep and stale.name.removesuffix(".gz") not in keep:
                stale.unlink(missing_ok=True)
    _atomic_write(directory / VERSION_FILE, version.encode())


def _atomic_write(target: Path, content: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Published:
    fingerprint: tuple[int, ...]
    # When the page must be rendered again although nothing changed (a maintenance
    # starts or ends, the day turns for the uptime bars).
    next_render: datetime


def fingerprint(session: Session) -> tuple[int, ...]:
    """What, when it moves, means the page must be rendered again (one small query)."""
    row = session.execute(
        select(
            func.count(MaintenanceWindow.id),
            func.coalesce(func.max(MaintenanceWindow.id), 0),
            func.count(MaintenanceWindow.cancelled_at),
        )
    ).one()
    return (service.current_version(session), int(row[0]), int(row[1]), int(row[2]))


def publish(ctx: AppContext) -> Published:
    """Render the public surface from the database and write it to the status directory."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        if service.sync_components(uow.session, config=ctx.config, now=now):
            uow.commit()
        marker = fingerprint(uow.session)
        page = gather(uow.session, config=ctx.config, now=now, url=page_url(ctx))
    files = render_all(page)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name])
    write_snapshot(status_dir(ctx), files, version=f"{digest.hexdigest()[:32]} {now.isoformat()}")
    boundaries = [
        t for m in page.maintenances for t in (m.scheduled_for, m.scheduled_until) if t > now
    ]
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    return Published(fingerprint=marker, next_render=min([tomorrow, *boundaries]))
