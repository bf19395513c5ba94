"""Engine benchmarks: how many timers an engine runs per second, and how late.

- `timer_throughput` (PostgreSQL and SQLite): 20,000 update reminders on 200 open SEV1
  incidents, all due at once, run by real `warroom engine` processes with the example
  configuration (each reminder writes a timeline note, its once-marker and the next
  reminder: the real handler). One engine on each database, then two engines on
  PostgreSQL. Throughput is the number of reminders divided by the time from the instant
  they became due to the instant the last one was seen committed.
- `timer_lateness` (PostgreSQL): 100,000 pending timers, 10,000 of them due over 10 s
  (1,000 per second); one engine loop in this process, woken at the commit that made them
  due (as a writer in its process wakes it) and polling as in production. Lateness runs
  from a timer's due instant to the commit of its handler's transaction.

In both, the timers are written during set-up with due times far in the future and made
due by one UPDATE after set-up (and after the engines have started and gone idle), so
that a slow set-up is never counted as lateness. Set-up times go to stderr (`setup:`),
and each measured part is watched for other processes' load (`…_machine_busy`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.orm import Session

from bench.common import (
    ROOT,
    BusyWatch,
    emit,
    note,
    pg_url,
    scratch_db,
    setup_timer,
    start,
    stop,
)
from warroom.clock import SystemClock
from warroom.configuration import load_config
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.handlers import handles
from warroom.engine.models import EngineBeat, Timer
from warroom.engine.runner import Engine, Job
from warroom.engine.timer_job import TimerRunner
from warroom.engine.wakeup import notify
from warroom.escalation.bookkeeping import once
from warroom.incidents.models import Incident
from warroom.migrations import upgrade
from warroom.settings import Settings
from warroom.sla.service import UPDATE_DUE

FAR = timedelta(days=2)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def _database(kind: str) -> Iterator[tuple[str, list[str]]]:
    """A fresh, migrated database: (URL, names of its PostgreSQL databases)."""
    if kind == "pg":
        with scratch_db("warroom_bench_engine") as name:
            url = pg_url(name, "postgresql+psycopg")
            db = Database(url)
            upgrade(db.engine)
            db.dispose()
            yield url, [name]
    else:
        folder = Path(tempfile.mkdtemp(prefix="warroom-bench-engine-"))
        try:
            url = f"sqlite:///{folder / 'warroom.db'}"
            db = Database(url)
            upgrade(db.engine)
            db.dispose()
            yield url, []
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# --- throughput: real engine processes, real reminder handler ----------------------------

REMINDER_KEYS = "upd:%:0"


def _add_reminders(db: Database, count: int, incidents: int, now: datetime) -> None:
    """`incidents` open SEV1 incidents with `count` first reminders between them, due in
    two days (nobody holds a communicator role: each writes a note and plans the next)."""
    with db.unit_of_work() as uow:
        made = [
            Incident(
                title=f"bench {n}",
                severity="SEV1",
                status="investigating",
                declared_at=now,
                updated_at=now,
            )
            for n in range(incidents)
        ]
        uow.session.add_all(made)
        uow.session.flush()
        ids = [i.id for i in made]
        uow.commit()
    rows: list[dict[str, Any]] = []
    for n in range(count):
        incident, gen = ids[n % incidents], n // incidents
        rows.append(
            {
                "kind": UPDATE_DUE,
                "key": f"upd:{incident}:{gen}:0",
                "due_at": now + FAR,
                "payload": {"gen": gen, "seq": 0, "since": now.isoformat()},
                "status": "pending",
                "incident_id": incident,
                "attempts": 0,
                "created_at": now,
            }
        )
    with db.engine.begin() as conn:
        for chunk in range(0, len(rows), 5_000):
            conn.execute(insert(Timer), rows[chunk : chunk + 5_000])
        conn.execute(text("ANALYZE"))


def _done(db: Database) -> int:
    """Reminders done so far. On SQLite a plain read outside warroom's `Database` (whose
    transactions begin with `BEGIN IMMEDIATE`, the write lock): polling must neither wait
    for the engines' lock nor take it from them."""
    if db.dialect == "sqlite":
        path = db.engine.url.database
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        ) as conn:
            row = conn.execute(
                "SELECT count(*) FROM timers WHERE kind = ? AND key LIKE ? AND status = 'done'",
                (UPDATE_DUE, REMINDER_KEYS),
            ).fetchone()
            return int(row[0])
    with db.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(Timer)
                .where(
                    Timer.kind == UPDATE_DUE,
                    Timer.key.like(REMINDER_KEYS),
                    Timer.status == "done",
                )
            )
            or 0
        )


def _engine_env(url: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": url,
        "WARROOM_CONFIG": str(ROOT / "examples"),
    }


def timer_throughput(
    kind: str, engines: int, logdir: Path, *, count: int = 20_000, incidents: int = 200
) -> float:
    """Print `engine_timer_throughput_<kind>[_<n>engines]` (timers/s) and return it."""
    name = f"engine_timer_throughput_{kind}" + (f"_{engines}engines" if engines > 1 else "")
    with _database(kind) as (url, databases):
        # The benchmark's own writes (set-up, the UPDATE that makes the timers due) wait
        # as long as it takes, not WARROOM_DB_TIMEOUT: on SQLite they queue behind the
        # engines' write transactions.
        db = Database(url, timeout=60)
        children = []
        try:
            with setup_timer(name):
                _add_reminders(db, count, max(1, min(incidents, count)), datetime.now(UTC))
                for n in range(engines):
                    children.append(
                        start(
                            f"engine-{n}",
                            [sys.executable, "-m", "warroom.cli", "engine", "--poll", "0.2"],
                            env=_engine_env(url),
                            log=logdir / f"{name}-engine-{n}.log",
                        )
                    )
                deadline = time.monotonic() + 60
                while True:  # every engine has made its first pass (its beat is written)
                    with db.engine.connect() as conn:
                        beats = conn.scalar(select(func.count()).select_from(EngineBeat)) or 0
                    if beats >= engines:
                        break
                    dead = [c for c in children if not c.alive()]
                    if dead or time.monotonic() > deadline:
                        raise RuntimeError(f"engine did not start:\n{children[0].tail()}")
                    time.sleep(0.2)
            watch = BusyWatch(name, pgids=[c.pid for c in children], databases=databases)
            watch.start()  # also lets the engines settle into idle polling
            anchor = datetime.now(UTC)
            with db.engine.begin() as conn:
                conn.execute(
                    update(Timer)
                    .where(Timer.kind == UPDATE_DUE, Timer.key.like(REMINDER_KEYS))
                    .values(due_at=anchor)
                )
                if kind == "pg":  # the engines are other processes: they LISTEN
                    conn.execute(text("NOTIFY warroom_engine"))
            began = time.monotonic() - (datetime.now(UTC) - anchor).total_seconds()
            limit = began + max(60.0, count / 50)
            done = 0
            while time.monotonic() < limit:
                done = _done(db)
                if done >= count:
                    break
                if not all(c.alive() for c in children):
                    raise RuntimeError(f"an engine died:\n{children[0].tail()}")
                time.sleep(0.1)
            elapsed = time.monotonic() - began
            watch.result()
        finally:
            for child in children:
                stop(child)
            db.dispose()
    rate = done / elapsed if elapsed > 0 else float("nan")
    note(
        f"engine: {done:,} of {count:,} reminders due at once run by {engines} engine(s) on "
        f"{kind} in {elapsed:.1f} s"
        + ("" if done >= count else f" (stopped at the time limit; {count - done:,} left)")
    )
    emit(name, round(rate), "timers/s")
    return rate


# --- lateness: one engine loop in this process ------------------------------------------

_DUE: list[datetime] = []
_LATENESS: list[float] = []
_LOCK = threading.Lock()
_INFO = "bench_due"


@handles("bench_late")
def _late(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """A write like a real handler's (a once-marker); lateness is taken at commit."""
    once(session, f"bench:{timer.key}", now=now)
    session.info.setdefault(_INFO, []).append(timer.due_at)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    due = session.info.pop(_INFO, None)
    if due:
        at = datetime.now(UTC)
        with _LOCK:
            _LATENESS.extend((at - d).total_seconds() for d in due)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_INFO, None)


def timer_lateness(*, pending: int = 100_000, due: int = 10_000, window: float = 10.0) -> None:
    """Print `engine_timer_lateness_100k_{count,p50,p99,max}`."""
    name = "engine_timer_lateness_100k"
    with _LOCK:
        _LATENESS.clear()
    with _database("pg") as (url, databases):
        db = Database(url)
        engine = None
        try:
            with setup_timer(name):
                now = datetime.now(UTC)
                rows: list[dict[str, Any]] = [
                    {
                        "kind": "bench_late" if i < due else "bench_backlog",
                        "key": f"late:{i}" if i < due else f"backlog:{i}",
                        # The backlog: due from tomorrow on, never during the run.
                        "due_at": now + FAR + timedelta(seconds=i),
                        "payload": {},
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                    }
                    for i in range(pending)
                ]
                with db.engine.begin() as conn:
                    for chunk in range(0, len(rows), 10_000):
                        conn.execute(insert(Timer), rows[chunk : chunk + 10_000])
                    conn.execute(text("ANALYZE timers"))
                ctx = AppContext(
                    settings=Settings(database_url=url, engine=False),
                    db=db,
                    config=load_config(None),
                    clock=SystemClock(),
                )
                engine = Engine(ctx, [Job("timers", TimerRunner())], poll_seconds=1.0)
                engine.start()
            note(f"engine: {pending:,} pending timers, {due:,} due over {window:g} s")
            watch = BusyWatch(name, databases=databases).start()
            # Due from half a second after now on, `due / window` per second; the engine is
            # woken as any writer of this process wakes it (at the commit).
            with db.unit_of_work() as uow:
                uow.session.execute(
                    text(
                        "UPDATE timers SET due_at = CAST(:start AS timestamptz) + make_interval("
                        "secs => CAST(split_part(key, ':', 2) AS integer) * CAST(:step AS float8))"
                        " WHERE kind = 'bench_late'"
                    ),
                    {"start": datetime.now(UTC) + timedelta(seconds=0.5), "step": window / due},
                )
                notify(uow.session)
                uow.commit()
            deadline = time.monotonic() + window + 30
            while time.monotonic() < deadline:
                with _LOCK:
                    if len(_LATENESS) >= due:
                        break
                time.sleep(0.1)
            watch.result()
        finally:
            if engine is not None:
                engine.stop()
            db.dispose()
    with _LOCK:
        values = [v * 1000 for v in _LATENESS]
    if not values:
        emit(f"{name}_p99", float("nan"), "ms")
        return
    emit(f"{name}_count", len(values), "timers")
    emit(f"{name}_p50", round(statistics.median(values), 1), "ms")
    emit(f"{name}_p99", round(_percentile(values, 0.99), 1), "ms")
    emit(f"{name}_max", round(max(values), 1), "ms")


def run(logdir: Path, scale: float = 1.0) -> None:
    """Every engine figure; `scale` shrinks the counts (0.1: a tenth) for a quick check."""
    count = max(100, int(20_000 * scale))
    for kind, engines in (("pg", 1), ("sqlite", 1), ("pg", 2)):
        timer_throughput(kind, engines, logdir, count=count)
    timer_lateness(pending=max(1_000, int(100_000 * scale)), due=max(100, int(10_000 * scale)))


if __name__ == "__main__":
    run(Path(tempfile.mkdtemp(prefix="warroom-bench-engine-logs-")))
