"""Engine benchmarks on PostgreSQL.

- `timer_lateness`: 100,000 pending timers (most far in the future, a few thousand due in
  the measured window); one engine loop with wake-ups and polling runs them; lateness is
  the time from a timer's due instant to its handler running.

Printed as `bench engine_timer_lateness_100k_p50 <ms> ms` (and p99, max, count).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.common import emit, note
from warroom.clock import SystemClock
from warroom.configuration import load_config
from warroom.context import AppContext
from warroom.db import Database, normalise_url
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.runner import Engine, Job
from warroom.engine.timer_job import TimerRunner
from warroom.migrations import upgrade
from warroom.settings import Settings

PG_URL = os.environ.get(
    "WARROOM_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
_LATENESS: list[float] = []
_LOCK = threading.Lock()


@handles("bench_noop")
def _record(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    late = (datetime.now(UTC) - timer.due_at).total_seconds()
    with _LOCK:
        _LATENESS.append(late)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timer_lateness(
    *, pending: int = 100_000, due_in_window: int = 3_000, window: float = 20.0
) -> None:
    admin_url = make_url(normalise_url(PG_URL))
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        upgrade(db.engine)
        now = datetime.now(UTC)
        start = now + timedelta(seconds=3)
        rows: list[dict[str, Any]] = []
        for i in range(pending):
            if i < due_in_window:
                due = start + timedelta(seconds=window * i / due_in_window)
            else:
                due = now + timedelta(hours=1, seconds=i)  # the backlog: later today
            rows.append(
                {
                    "kind": "bench_noop",
                    "key": f"bench:{i}",
                    "due_at": due,
                    "payload": {},
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
            )
        with db.engine.begin() as conn:
            for chunk in range(0, len(rows), 10_000):
                conn.execute(insert(Timer), rows[chunk : chunk + 10_000])
            conn.execute(text("ANALYZE timers"))
        note(f"engine: {pending:,} pending timers, {due_in_window:,} due within {window:.0f} s")
        ctx = AppContext(
            settings=Settings(database_url=url, engine=False),
            db=db,
            config=load_config(None),
            clock=SystemClock(),
        )
        engine = Engine(ctx, [Job("timers", TimerRunner())], poll_seconds=1.0)
        engine.start()
        deadline = time.monotonic() + window + 30
        while time.monotonic() < deadline:
            with _LOCK:
                if len(_LATENESS) >= due_in_window:
                    break
            time.sleep(0.2)
        engine.stop()
        with _LOCK:
            values = [v * 1000 for v in _LATENESS]
        if not values:
            emit("engine_timer_lateness_100k_p99", float("nan"), "ms")
            return
        emit("engine_timer_lateness_100k_count", len(values), "timers")
        emit("engine_timer_lateness_100k_p50", round(statistics.median(values), 1), "ms")
        emit("engine_timer_lateness_100k_p99", round(_percentile(values, 0.99), 1), "ms")
        emit("engine_timer_lateness_100k_max", round(max(values), 1), "ms")
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    timer_lateness()
