"""Where an engine's time goes: statements per timer, the longest write transaction, and
a profile, for the real reminder handler run in this process.

`python -m bench timer_profile` (both databases): the throughput benchmark's reminders
(`count` of them on 200 SEV1 incidents), made due at once and run by a `TimerRunner` in
this process until none is left. Every statement the engine sends is counted (a
SQLAlchemy `before_cursor_execute` listener; `executemany` counts once), and so is the
time each write transaction held the database from `BEGIN` to `COMMIT`. Printed:

- `engine_timer_statements_per_timer_<db>`: statements sent per timer run;
- `engine_timer_longest_transaction_<db>`: the longest write transaction (ms); on SQLite
  the longest any other writer has to wait behind the engine;
- `engine_timer_inprocess_<db>`: timers per second in this process (noisy; the counts are
  what to compare);
- `engine_timer_cpu_per_timer_<db>`: this process's CPU time per timer (ms), the
  database server's not included;
- `engine_timer_server_cpu_per_timer_pg`: PostgreSQL's own CPU per timer (ms), its
  backends' user and system time from /proc (the server runs on this machine).

With `WARROOM_BENCH_PROFILE=1` the top of a cProfile of the run goes to stderr.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text, update

import warroom.security.audit  # noqa: F401  (as in `warroom engine`: timeline notes are audited)
from bench.common import ROOT, emit, note, setup_timer
from bench.engine import REMINDER_KEYS, _add_reminders, _database, _done
from warroom.clock import SystemClock
from warroom.configuration import load_config
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.models import Timer
from warroom.engine.timer_job import TimerRunner
from warroom.settings import Settings
from warroom.sla.service import UPDATE_DUE


def timer_profile(kind: str, *, count: int = 5_000) -> None:
    with _database(kind) as (url, _databases):
        db = Database(url)
        try:
            with setup_timer(f"engine_timer_profile_{kind}"):
                _add_reminders(db, count, min(200, count), datetime.now(UTC))
                ctx = AppContext(
                    settings=Settings(database_url=url, engine=False),
                    db=db,
                    config=load_config(ROOT / "examples"),
                    clock=SystemClock(),
                )
                with db.engine.begin() as conn:
                    conn.execute(
                        update(Timer)
                        .where(Timer.kind == UPDATE_DUE, Timer.key.like(REMINDER_KEYS))
                        .values(due_at=datetime.now(UTC))
                    )
            statements: Counter[str] = Counter()
            held: list[float] = []
            opened: dict[int, float] = {}

            def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
                statements[" ".join(statement.split()[:3])[:60]] += 1

            def begun(conn: Any) -> None:
                opened[id(conn)] = time.monotonic()

            def ended(conn: Any) -> None:
                at = opened.pop(id(conn), None)
                if at is not None:
                    held.append(time.monotonic() - at)

            event.listen(db.engine, "before_cursor_execute", before)
            event.listen(db.engine, "begin", begun)
            event.listen(db.engine, "commit", ended)
            event.listen(db.engine, "rollback", ended)
            runner = TimerRunner()
            profile = cProfile.Profile() if os.environ.get("WARROOM_BENCH_PROFILE") else None
            server = _server_cpu(db) if kind == "pg" else {}
            started = time.monotonic()
            cpu = time.process_time()
            if profile is not None:
                profile.enable()
            for _ in range(10 * count):
                if runner(ctx) != 0.0 and _done(db) >= count:
                    break
            if profile is not None:
                profile.disable()
            elapsed = time.monotonic() - started
            cpu = time.process_time() - cpu
            if kind == "pg":
                after = _server_cpu(db)
                server_cpu: float | None = sum(t - server.get(p, 0.0) for p, t in after.items())
            else:
                server_cpu = None
            for name in ("before_cursor_execute", "begin", "commit", "rollback"):
                target = {"before_cursor_execute": before, "begin": begun}.get(name, ended)
                event.remove(db.engine, name, target)
            done = _done(db)
        finally:
            db.dispose()
    total = sum(statements.values())
    note(f"engine profile ({kind}): {done:,} of {count:,} reminders in {elapsed:.1f} s")
    for sql, n in statements.most_common(12):
        note(f"  {n / max(done, 1):6.2f} per timer  {sql}")
    emit(f"engine_timer_statements_per_timer_{kind}", round(total / max(done, 1), 2), "stmts")
    emit(f"engine_timer_longest_transaction_{kind}", round(max(held) * 1000, 1), "ms")
    emit(f"engine_timer_inprocess_{kind}", round(done / elapsed), "timers/s")
    # The engine's own CPU per timer (not the database's): steadier than the rate when
    # the machine is shared; 1,000 / it is the rate one free core would allow.
    emit(f"engine_timer_cpu_per_timer_{kind}", round(cpu * 1000 / max(done, 1), 3), "ms")
    if server_cpu is not None:
        # PostgreSQL's own share: its backends' CPU (user + system) over the run.
        ms = server_cpu * 1000 / max(done, 1)
        emit(f"engine_timer_server_cpu_per_timer_{kind}", round(ms, 3), "ms")
    if profile is not None:
        out = io.StringIO()
        order = os.environ.get("WARROOM_BENCH_PROFILE_SORT", "cumulative")  # or tottime
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(40)
        note(out.getvalue())


def _server_cpu(db: Database) -> dict[int, float]:
    """CPU seconds (user + system) of each PostgreSQL backend serving this database, read
    from /proc (the server runs on this machine); empty where /proc cannot be read. The
    engine's pooled connections stay open, so the backends at the end of the run are the
    ones that did its work (one opened during the run counts from zero)."""
    with db.engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).all()
    tick = os.sysconf("SC_CLK_TCK")
    cpu: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return cpu


def run(scale: float = 1.0) -> None:
    count = max(500, int(5_000 * scale))
    for kind in ("sqlite", "pg"):
        timer_profile(kind, count=count)
