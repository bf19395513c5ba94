"""What routing costs per alert, in counts that do not move with the machine's load.

`python -m bench routing_profile` (both databases): the paging benchmark's storm — warning
alerts of one service, each with a new dedup key, stored as the batch writer stores them —
then routed by `route_alerts` in this process until none is left (batches of up to 500,
as the engine takes them). The configuration is the paging benchmark's: the warnings match
no auto-declare rule, their `alert_routing` action is to notify the service's owning team,
and the service has none. Printed:

- `routing_cpu_per_alert_<db>`: this process's CPU time per routed alert (µs), the
  database server's not included: during a storm the engine spends it in the same process
  (and under the same interpreter lock) as the API receiving the storm;
- `routing_statements_per_batch_<db>`: statements sent per routing batch;
- `routing_db_cpu_per_alert_pg`: PostgreSQL's own CPU per routed alert (µs).

With `WARROOM_BENCH_PROFILE=1` the top of a cProfile (CPU time) of the run goes to stderr.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from bench.common import emit, note, setup_timer
from bench.engine import _database
from bench.engine_profile import _server_cpu
from bench.paging import _config
from warroom.alerts.logic import AlertEvent, AlertSeverity, parse_pd_event
from warroom.alerts.models import Alert
from warroom.alerts.routing import route_alerts
from warroom.alerts.service import Source, apply_batch
from warroom.clock import SystemClock
from warroom.configuration import load_config
from warroom.context import AppContext
from warroom.db import Database
from warroom.integrations.models import Integration
from warroom.settings import Settings


def _storm(count: int) -> list[AlertEvent]:
    # The storm's own event (bench/wrk_storm.lua), parsed as the PD route parses it.
    events = []
    for n in range(count):
        body = {
            "routing_key": "0" * 32,
            "event_action": "trigger",
            "dedup_key": f"storm-{n}",
            "payload": {"summary": f"storm alert {n}", "source": "bench", "severity": "warning"},
        }
        events.append(parse_pd_event(body)[1])
    assert all(e.severity is AlertSeverity.WARNING for e in events)
    return events


def profile(kind: str, *, count: int) -> None:
    with _database(kind) as (url, _names), tempfile.TemporaryDirectory() as folder:
        config_dir = Path(folder)
        _config(config_dir, "http://127.0.0.1:9/unused")
        db = Database(url)
        try:
            with setup_timer(f"routing_profile_{kind}"):
                now = datetime.now(UTC)
                with db.unit_of_work() as uow:
                    integration = Integration(
                        name="bench", type="pagerduty", service="bench-svc-0", key="0" * 32,
                        settings={}, created_at=now,
                    )  # fmt: skip
                    uow.session.add(integration)
                    uow.session.flush()
                    source = Source(integration.id, "bench-svc-0")
                    events = _storm(count)
                    for start in range(0, count, 500):
                        chunk = events[start : start + 500]
                        apply_batch(uow.session, [(source, e) for e in chunk], now)
                    uow.commit()
                ctx = AppContext(
                    settings=Settings(database_url=url, engine=False),
                    db=db,
                    config=load_config(config_dir),
                    clock=SystemClock(),
                )
            statements, batches = [0], 0

            def before(*_: Any) -> None:
                statements[0] += 1

            event.listen(db.engine, "before_cursor_execute", before)
            server = _server_cpu(db) if kind == "pg" else {}
            profiled = None
            if os.environ.get("WARROOM_BENCH_PROFILE"):
                profiled = cProfile.Profile(time.process_time)  # CPU time, not waits
            started, cpu = time.monotonic(), time.process_time()
            if profiled is not None:
                profiled.enable()
            while route_alerts(ctx) is not None or _unrouted(db):
                batches += 1
            batches += 1
            if profiled is not None:
                profiled.disable()
            cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
            server_cpu = None
            if kind == "pg":
                after = _server_cpu(db)
                server_cpu = sum(t - server.get(p, 0.0) for p, t in after.items())
            event.remove(db.engine, "before_cursor_execute", before)
            routed = _routed(db)
        finally:
            db.dispose()
    note(f"routing profile ({kind}): {routed:,} of {count:,} alerts routed in {elapsed:.2f} s")
    emit(f"routing_cpu_per_alert_{kind}", round(cpu * 1e6 / max(routed, 1), 1), "us")
    emit(f"routing_statements_per_batch_{kind}", round(statements[0] / batches, 1), "stmts")
    if server_cpu is not None:
        emit(f"routing_db_cpu_per_alert_{kind}", round(server_cpu * 1e6 / max(routed, 1), 1), "us")
    if profiled is not None:
        out = io.StringIO()
        order = os.environ.get("WARROOM_BENCH_PROFILE_SORT", "cumulative")  # or tottime
        pstats.Stats(profiled, stream=out).sort_stats(order).print_stats(40)
        note(out.getvalue())


def _unrouted(db: Database) -> int:
    with db.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).where(Alert.routed_at.is_(None))) or 0


def _routed(db: Database) -> int:
    with db.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).where(Alert.routed_at.is_not(None))) or 0


def run(scale: float = 1.0) -> None:
    count = max(1_000, int(10_000 * scale))
    for kind in ("pg", "sqlite"):
        profile(kind, count=count)
