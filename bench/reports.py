"""The metrics report over 100,000 imported incidents, on SQLite and PostgreSQL.

Set-up (not measured): a scratch database, migrated, and 100,000 incidents imported in
chunks through the import service (random but realistic timestamps over two years, with
some missing). Measured: `reports.metrics.metrics` as a viewer calls it (all incidents,
then grouped by service), ROUNDS times each; beside it the bare aggregate SQL (the same
statements, executed without building the answer) so the overhead is visible. Last, the
RSS of an idle `warroom serve` on the SQLite file.

Prints `bench metrics_100k_<db>_p50|p99` (ms; `<db>` is sqlite or pg), the same
`…_by_service_p50|p99`, `…_bare_sql_p50`, `bench metrics_100k_<db>_machine_busy` (1 when
other processes used the machine meanwhile: the figures then overstate) and the load
average on stderr; set-up time on stderr as `setup: …`.

    python -m bench reports        (or python -m bench.reports)

WARROOM_BENCH_REPORTS_DB=sqlite (or pg) runs one database only.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BusyWatch,
    emit,
    free_port,
    note,
    pg_available,
    pg_url,
    scratch_db,
    setup_timer,
)
from warroom.auth.logic import Principal, Role
from warroom.configuration import load_config
from warroom.db import Database
from warroom.migrations import upgrade
from warroom.reports import importer
from warroom.reports import metrics as metrics_service
from warroom.reports.logic import GroupBy

# A smaller count (WARROOM_BENCH_REPORTS_INCIDENTS) is for trying the bench out only.
INCIDENTS = int(os.environ.get("WARROOM_BENCH_REPORTS_INCIDENTS", "100000"))
CHUNK = min(10_000, INCIDENTS)
ROUNDS = 15
SETUP_LIMIT = 600.0  # seconds: give up on a database whose set-up takes longer
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SEVERITIES = (("SEV1", 5), ("SEV2", 20), ("SEV3", 45), ("SEV4", 30))


def _records(
    rng: random.Random, start: int, count: int, services: list[str]
) -> list[dict[str, Any]]:
    names = [n for n, _ in SEVERITIES]
    weights = [w for _, w in SEVERITIES]
    out = []
    for n in range(start, start + count):
        began = NOW - timedelta(days=730) + timedelta(seconds=rng.randrange(700 * 86400))
        detected = began + timedelta(seconds=rng.randrange(30, 1800))
        declared = detected + timedelta(seconds=rng.randrange(0, 600))
        record: dict[str, Any] = {
            "external_id": f"bench-{n}",
            "title": f"Synthetic incident {n}",
            "severity": rng.choices(names, weights)[0],
            "services": rng.sample(services, rng.choice((1, 1, 1, 2))),
            "declared_at": declared.isoformat(),
        }
        if rng.random() < 0.8:
            record["started_at"] = began.isoformat()
        if rng.random() < 0.9:
            record["detected_at"] = detected.isoformat()
        at = declared
        for name, chance, spread in (
            ("acknowledged_at", 0.92, 900),
            ("mitigated_at", 0.85, 7200),
            ("resolved_at", 0.95, 14400),
        ):
            at += timedelta(seconds=rng.randrange(10, spread))
            if rng.random() < chance:
                record[name] = at.isoformat()
        out.append(record)
    return out


def _fill(db: Database) -> float:
    config = load_config(EXAMPLES)
    services = [s.name for s in config.services] or ["app"]
    rng = random.Random(15)
    admin = Principal(name="bench", role=Role.ADMIN)
    began = time.monotonic()
    for start in range(0, INCIDENTS, CHUNK):
        records = _records(rng, start, CHUNK, services)
        with db.unit_of_work() as uow:
            importer.import_incidents(
                uow.session, config=config, records=records, actor=admin, now=NOW
            )
            uow.commit()
        if time.monotonic() - began > SETUP_LIMIT:
            raise TimeoutError(f"set-up took over {SETUP_LIMIT:.0f} s")
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - began


def _timed(call: Callable[[], object]) -> list[float]:
    call()  # warm the caches and the statement cache
    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Capture:
    """Record the SELECTs that `metrics` sends, to replay them bare."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, params))


def _measure(db: Database, label: str) -> None:
    from sqlalchemy import event

    config = load_config(EXAMPLES)
    viewer = Principal(name="bench-viewer", role=Role.VIEWER)

    def run(group_by: GroupBy | None) -> Callable[[], object]:
        def call() -> object:
            with db.unit_of_work() as uow:
                query = metrics_service.Query(group_by=group_by, now=NOW)
                answer = metrics_service.metrics(
                    uow.session, config=config, viewer=viewer, query=query
                )
                assert answer["count"] == INCIDENTS, answer["count"]
                return answer

        return call

    databases = [db.engine.url.database or ""] if label == "pg" else []
    watch = BusyWatch(f"metrics_100k_{label}", databases=databases).start()
    note(f"reports: load average before measuring {os.getloadavg()[0]:.2f}")
    for suffix, group_by in (("", None), ("_by_service", GroupBy.SERVICE)):
        times = _timed(run(group_by))
        emit(f"metrics_100k_{label}{suffix}_p50", _p(times, 0.5), "ms")
        emit(f"metrics_100k_{label}{suffix}_p99", _p(times, 0.99), "ms")

    capture = _Capture()
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run(None)()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    raw = db.engine.raw_connection()
    try:

        def bare() -> None:
            cursor = raw.cursor()
            for statement, params in capture.statements:
                cursor.execute(statement, params)
                cursor.fetchall()
            cursor.close()

        times = _timed(bare)
    finally:
        raw.close()
    emit(f"metrics_100k_{label}_bare_sql_p50", _p(times, 0.5), "ms")
    note(f"reports: load average after measuring {os.getloadavg()[0]:.2f}")
    watch.result()


def _idle_rss(database_url: str) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        WARROOM_DATABASE_URL=database_url,
        WARROOM_CONFIG=str(EXAMPLES),
        WARROOM_HOST="127.0.0.1",
        WARROOM_PORT=str(port),
        WARROOM_BOOTSTRAP_TOKEN="bench-" + "x" * 40,
    )
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "warroom.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            import httpx

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                log.seek(0)
                raise RuntimeError("warroom serve did not start: " + log.read()[-2000:].decode())
            time.sleep(3)  # idle
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss_kb = int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            emit("idle_rss_mb", rss_kb / 1024, "MB")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _one(label: str, url: str, after: Callable[[str], None] | None = None) -> None:
    db = Database(url)
    try:
        with setup_timer(f"metrics_100k_{label} ({INCIDENTS} incidents imported)"):
            upgrade(db.engine)
            _fill(db)
        _measure(db, label)
    finally:
        db.dispose()
    if after is not None:
        after(url)


def run_idle_rss(_: object = None) -> None:
    """`bench idle_rss_mb` alone, on an empty SQLite database: the idle RSS does not follow
    the data (166 MB over 100,000 incidents, 173 MB empty, before the lazy imports), so
    this skips the minute of set-up `reports` spends filling the database."""
    with tempfile.TemporaryDirectory(prefix="warroom-bench-rss-") as folder:
        url = f"sqlite:///{folder}/idle.db"
        db = Database(url)
        try:
            upgrade(db.engine)
        finally:
            db.dispose()
        _idle_rss(url)


def run_benchmark(_: object = None) -> None:
    """Run the metrics benchmark on SQLite, then on PostgreSQL if it answers."""
    databases = os.environ.get("WARROOM_BENCH_REPORTS_DB", "sqlite,pg").split(",")
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory(prefix="warroom-bench-reports-") as folder:
            _one("sqlite", f"sqlite:///{folder}/reports.db", _idle_rss)
    if "pg" in databases:
        why = pg_available()
        if why is not None:
            note(f"reports: PostgreSQL skipped ({why})")
        else:
            with scratch_db("warroom_bench_reports") as name:
                _one("pg", pg_url(name, "postgresql+psycopg"))


if __name__ == "__main__":
    run_benchmark()
