"""What the batch writer costs per PagerDuty event, in counts that do not move with the
machine's load: round trips and statements per batch, and this process's CPU per event.

`python -m bench ingest_profile` (both databases): PD v2 trigger events like the ingest
benchmark's (a pool of 1,000 dedup keys, 1 % new keys), parsed once, then written in
batches of `batch` events as the batch writer would: on PostgreSQL through its
asynchronous path (`PgBatchApplier`, the slow path in a thread when it declines), on
SQLite through `apply_batch` in a unit of work. Printed:

- `ingest_writer_round_trips_per_batch_<db>` (PostgreSQL): the writer's waits for the
  server per batch (each statement, BEGIN, COMMIT, pipeline sync waits once);
- `ingest_writer_statements_per_batch_<db>` (SQLite): statements sent per batch (a
  SQLAlchemy listener; `executemany` counts once), commit included;
- `ingest_writer_db_cpu_per_event_pg`: the writer's PostgreSQL backend's CPU time per
  event (µs; /proc of the backend, so PostgreSQL must run on this machine);
- `ingest_writer_cpu_per_event_<db>`: this process's CPU time per event (µs), the
  database server's not included;
- `ingest_writer_calls_per_event_<db>`: Python function calls per event (cProfile).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event

from bench.common import emit, note, setup_timer
from bench.engine import _database
from bench.load import pd_trigger
from warroom.alerts.ingest import BatchWriter, _Request
from warroom.alerts.logic import AlertEvent, parse_pd_event
from warroom.alerts.pg_ingest import PgBatchApplier
from warroom.alerts.service import Source, apply_batch
from warroom.clock import FakeClock
from warroom.db import Database
from warroom.integrations.models import Integration


def _events(count: int, seed: int = 7) -> list[AlertEvent]:
    rnd = random.Random(seed)
    events = []
    for n in range(count):
        key = f"pd-u-{n}" if rnd.random() < 0.01 else f"pd-p-{rnd.randint(1, 1000)}"
        body = pd_trigger("0" * 32, key)
        events.append(parse_pd_event(body)[1])
    return events


_waits = [0]


def _counting_waits() -> None:
    """Count every wait of an asynchronous psycopg connection for the server: one per round
    trip (a statement, BEGIN, COMMIT, a pipeline's sync)."""
    original = psycopg.AsyncConnection.wait
    if getattr(original, "counted", False):
        return

    async def wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        _waits[0] += 1
        return await original(self, *args, **kwargs)

    wait.counted = True  # type: ignore[attr-defined]
    psycopg.AsyncConnection.wait = wait  # type: ignore[method-assign]


def _writes() -> int:
    return _waits[0]


db_cpus = [0.0]


def _backend_cpu(pid: int) -> float:
    """CPU seconds of a PostgreSQL backend on this machine (its /proc entry)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(kind: str, *, batches: int, batch: int) -> None:
    with _database(kind) as (url, _names):
        db = Database(url)
        with setup_timer(f"ingest_profile_{kind}"):
            with db.unit_of_work() as uow:
                uow.session.add(
                    Integration(
                        name="bench-pd",
                        type="pagerduty",
                        service="bench",
                        key="0" * 32,
                        settings={},
                        created_at=datetime.now(UTC),
                    )
                )
                uow.commit()
            with db.unit_of_work() as uow:
                integration_id = uow.session.query(Integration.id).scalar()
            source = Source(integration_id, "bench")
            events = _events((batches + 20) * batch)
            chunks = [
                [(source, e) for e in events[i : i + batch]] for i in range(0, len(events), batch)
            ]
        clock = FakeClock(datetime.now(UTC))
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(db.engine, "before_cursor_execute", count)
        event.listen(db.engine, "commit", count)
        try:
            if kind == "pg":
                result = asyncio.run(_drive_pg(db, url, chunks, clock, statements, warm=20))
            else:
                result = _drive_sqlite(db, chunks, clock, statements, warm=20)
        finally:
            db.dispose()
    cpu, writes, sent, calls, slow, profiled = result
    events_done = batches * batch
    note(f"ingest profile ({kind}): {batches} batches of {batch}, {slow} took the slow path")
    if kind == "pg":
        emit(f"ingest_writer_round_trips_per_batch_{kind}", round(writes / batches, 2), "trips")
        db_us = round(db_cpus[0] * 1e6 / events_done, 1)
        emit(f"ingest_writer_db_cpu_per_event_{kind}", db_us, "us")
    else:
        emit(
            f"ingest_writer_statements_per_batch_{kind}",
            round(sent / batches, 2),
            "stmts",
        )
    emit(f"ingest_writer_cpu_per_event_{kind}", round(cpu * 1e6 / events_done, 1), "us")
    emit(f"ingest_writer_calls_per_event_{kind}", round(calls / events_done, 1), "calls")
    if os.environ.get("WARROOM_BENCH_PROFILE"):
        out = io.StringIO()
        order = os.environ.get("WARROOM_BENCH_PROFILE_SORT", "tottime")
        pstats.Stats(profiled, stream=out).sort_stats(order).print_stats(30)
        note(out.getvalue())


Chunks = Sequence[Sequence[tuple[Source, AlertEvent]]]


Driven = tuple[float, int, int, int, int, cProfile.Profile]


async def _drive_pg(
    db: Database, url: str, chunks: Chunks, clock: FakeClock, statements: list[int], *, warm: int
) -> Driven:
    _counting_waits()
    applier = PgBatchApplier(url)
    writer = BatchWriter(db, clock)  # its slow path, as the batch writer takes it
    slow = 0

    async def one(pairs: Sequence[tuple[Source, AlertEvent]]) -> None:
        nonlocal slow
        if await applier.apply(pairs, clock.now()) is None:
            slow += 1
            request = _Request(pairs, asyncio.get_running_loop().create_future())
            await asyncio.to_thread(writer._write_batch, [request])

    try:
        for pairs in chunks[:warm]:
            await one(pairs)
        slow, statements[0] = 0, 0
        assert applier._conn is not None
        backend = applier._conn.info.backend_pid
        writes, cpu, db_cpu = _writes(), time.process_time(), _backend_cpu(backend)
        for pairs in chunks[warm:]:
            await one(pairs)
        cpu, writes = time.process_time() - cpu, _writes() - writes
        db_cpus[0] = _backend_cpu(backend) - db_cpu
        sent = statements[0]
        profiled = cProfile.Profile()
        profiled.enable()
        for pairs in chunks[warm:]:
            await one(pairs)
        profiled.disable()
    finally:
        await applier.close()
    return cpu, writes, sent, _calls(profiled), slow, profiled


def _drive_sqlite(
    db: Database, chunks: Chunks, clock: FakeClock, statements: list[int], *, warm: int
) -> Driven:
    def one(pairs: Sequence[tuple[Source, AlertEvent]]) -> None:
        with db.unit_of_work() as uow:
            apply_batch(uow.session, pairs, clock.now())
            uow.commit()

    for pairs in chunks[:warm]:
        one(pairs)
    statements[0], cpu = 0, time.process_time()
    for pairs in chunks[warm:]:
        one(pairs)
    cpu, sent = time.process_time() - cpu, statements[0]
    profiled = cProfile.Profile()
    profiled.enable()
    for pairs in chunks[warm:]:
        one(pairs)
    profiled.disable()
    return cpu, 0, sent, _calls(profiled), 0, profiled


def _calls(profiled: cProfile.Profile) -> int:
    return int(pstats.Stats(profiled).total_calls)  # type: ignore[attr-defined]


def run(scale: float = 1.0) -> None:
    batches = max(100, int(500 * scale))
    for kind in ("pg", "sqlite"):
        profile(kind, batches=batches, batch=10)
