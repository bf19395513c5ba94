"""The engine's status page job: renders when something public changed, coalesces a
burst into one render, and renders again when a maintenance boundary or midnight comes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from warroom.clock import FakeClock
from warroom.config.incidents import ComponentStatus
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings
from warroom.statuspage import job as job_module
from warroom.statuspage import service
from warroom.statuspage.job import StatusPagePublisher


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: Path) -> AppContext:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, status_dir=tmp_path / "status"
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


def _set(ctx: AppContext, name: str, status: ComponentStatus) -> None:
    with ctx.db.unit_of_work() as uow:
        component = service.get_by_name_or_raise(uow.session, name=name)
        service.update_component(
            uow.session, component=component, status=status, now=ctx.clock.now()
        )
        uow.commit()


def test_renders_on_change_once_per_burst_and_at_boundaries(
    ctx: AppContext, clock: FakeClock
) -> None:
    publisher = StatusPagePublisher()
    renders = mock.Mock(wraps=job_module.publish)
    with mock.patch.object(job_module, "publish", renders):
        publisher(ctx)  # first pass: nothing on disk yet
        assert renders.call_count == 1
        root = ctx.settings.status_dir
        assert root is not None
        index = root / "index.html"
        assert "All Systems Operational" in index.read_text()
        publisher(ctx)
        assert renders.call_count == 1  # nothing changed

        for status in (
            ComponentStatus.DEGRADED_PERFORMANCE,
            ComponentStatus.PARTIAL_OUTAGE,
            ComponentStatus.MAJOR_OUTAGE,
        ):
            _set(ctx, "API", status)
        publisher(ctx)
        assert renders.call_count == 2  # three changes, one render
        assert "Major System Outage" in index.read_text()

        # A maintenance window of a service behind a component: rendered when it starts.
        start = clock.now() + timedelta(minutes=30)
        window(ctx, "search", start, start + timedelta(hours=1))
        publisher(ctx)
        assert renders.call_count == 3  # a new window is a change
        assert publisher.last is not None and publisher.last.next_render == start
        clock.advance(minutes=29)
        publisher(ctx)
        assert renders.call_count == 3
        clock.advance(minutes=1)
        publisher(ctx)
        assert renders.call_count == 4
        assert "Service Under Maintenance" not in index.read_text()  # API is still down
        components = (root / "api/v2/components.json").read_text()
        assert '"name":"Search","status":"under_maintenance"' in components

        # The files vanish (a cleanup, a new disk): rendered again at once.
        index.unlink()
        (root / "VERSION").unlink()
        publisher(ctx)
        assert renders.call_count == 5 and index.exists()


def window(ctx: AppContext, service_name: str, start: datetime, end: datetime) -> None:
    from warroom.auth.logic import SYSTEM
    from warroom.maintenance import service as windows

    with ctx.db.unit_of_work() as uow:
        windows.create(
            uow.session, config=ctx.config, service=service_name, starts_at=start,
            ends_at=end, reason="Reindex", actor=SYSTEM, now=ctx.clock.now(),
        )  # fmt: skip
        uow.commit()
