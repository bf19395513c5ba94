"""App factories for experiments (`python -m bench --factory bench.experiments:NAME`).

They build the same warroom app with one thing changed, to measure a hypothesis; none of
them is used by a default run. Settings come from BENCH_* environment variables passed
with `--env NAME=VALUE`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastapi import FastAPI


def _tuned(app: FastAPI) -> FastAPI:
    """Apply the interpreter settings named in the environment:

    - BENCH_SWITCH_INTERVAL=seconds: the GIL switch interval (Python's default: 0.005).
    - BENCH_GC_FREEZE=1: after start-up, collect once and `gc.freeze()`, so that the
      objects made at start-up (modules, SQLAlchemy and pydantic structures) are never
      scanned again by the collector; full collections then stop pausing every request.
    """
    import gc
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    if "BENCH_SWITCH_INTERVAL" in os.environ:
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app_: Any) -> AsyncIterator[Any]:
            async with inner(app_) as state:
                gc.collect()
                gc.freeze()
                yield state

        app.router.lifespan_context = lifespan
    return app


def stock() -> FastAPI:
    """The stock app, with the BENCH_* interpreter settings of `_tuned`."""
    from warroom.app import create_app

    return _tuned(create_app())


# --- set-based batch apply ----------------------------------------------------------------
#
# A prototype of the change proposed in docs/benchmarks.md: the batch writer applies a
# batch with a handful of statements instead of two or three per event. It reproduces
# `warroom.alerts.service.apply_event` applied to the events one after the other:
#
# - a key whose events in the batch are all triggers without an `instance` (PagerDuty) is
#   one UPDATE (occurrences + n, the last event's fields) or one INSERT (occurrences n,
#   started_at of the first event, fields of the last);
# - a key with a single trigger carrying an `instance` (Alertmanager, one alert per
#   fingerprint per delivery) is a DUPLICATE (last_seen only), an UPDATE, a DROPPED (a late
#   copy of an ended firing, looked up for the whole batch at once) or an INSERT;
# - anything else (acknowledge, resolve, several Alertmanager copies of one key) goes
#   through apply_event in order, as today; keys never mix between the two paths.
#
# `pytest -p bench.experiments_plugin tests/integration/test_alerts_ingest.py` runs the
# ingest tests with it.


def apply_batch(session: Any, pairs: list[tuple[Any, Any]], now: Any) -> list[Any]:
    from sqlalchemy import String, any_, bindparam, select, update
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.dialects.postgresql import ARRAY

    from warroom.alerts.logic import Action, AlertStatus
    from warroom.alerts.service import _ALERTS, Applied, Outcome, _clean, apply_event

    results: list[Any] = [None] * len(pairs)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, (source, event) in enumerate(pairs):
        groups.setdefault((source.integration_id, event.dedup_key), []).append(i)

    def simple(indexes: list[int]) -> bool:
        events = [pairs[i][1] for i in indexes]
        if any(e.action is not Action.TRIGGER for e in events):
            return False
        return len(events) == 1 or all(e.instance is None for e in events)

    fast = {k: v for k, v in groups.items() if simple(v)}
    for i in sorted(i for k, v in groups.items() if k not in fast for i in v):
        source, event = pairs[i]
        results[i] = apply_event(session, source=source, event=event, now=now)
    if not fast:
        return results

    conn = session.connection()
    c = _ALERTS.c
    by_integration: dict[int, list[str]] = {}
    for integration_id, key in fast:
        by_integration.setdefault(integration_id, []).append(key)

    def keys_match(keys: list[str]) -> Any:
        # PostgreSQL: one array parameter, so the statement text is the same for every
        # batch and psycopg prepares it once; an IN list would be new SQL (and a new plan
        # over an OR of index scans) for each batch size.
        if conn.dialect.name == "postgresql":
            return c.dedup_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
        return c.dedup_key.in_(keys)

    open_rows: dict[tuple[int, str], Any] = {}
    ended: set[tuple[int, str, str | None]] = set()
    for integration_id, keys in by_integration.items():
        for r in conn.execute(
            select(c.id, c.dedup_key, c.instance).where(
                c.resolved_at.is_(None), c.integration_id == integration_id, keys_match(keys)
            )
        ):
            open_rows[(integration_id, r.dedup_key)] = r
        # Late copies of ended firings, for the new keys that carry an instance.
        probe = [
            k
            for k in keys
            if (integration_id, k) not in open_rows
            and pairs[fast[(integration_id, k)][0]][1].instance is not None
        ]
        if probe:
            for r in conn.execute(
                select(c.dedup_key, c.instance).where(
                    c.resolved_at.is_not(None),
                    c.integration_id == integration_id,
                    keys_match(probe),
                )
            ):
                ended.add((integration_id, r.dedup_key, r.instance))

    def fields(event: Any, key: str) -> dict[str, Any]:
        return {
            "summary": _clean(event.summary) or key,
            "source": _clean(event.source),
            "severity": event.severity.value,
            "component": _clean(event.component),
            "group_name": _clean(event.group),
            "class_name": _clean(event.class_),
            "labels": event.labels,
            "details": event.details,
            "payload": event.payload,
            "group_key": event.group_key,
        }

    updates: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for (integration_id, key), indexes in fast.items():
        first, last = pairs[indexes[0]][1], pairs[indexes[-1]][1]
        row = open_rows.get((integration_id, key))
        if row is not None:
            if last.instance is not None and row.instance == last.instance:
                touches.append({"b_id": row.id})
                results[indexes[0]] = Applied(key, Outcome.DUPLICATE, row.id)
                continue
            updates.append(
                {"b_id": row.id, "b_n": len(indexes), "b_instance": last.instance}
                | {f"b_{k}": v for k, v in fields(last, key).items()}
            )
            for i in indexes:
                results[i] = Applied(key, Outcome.UPDATED, row.id)
            continue
        if first.instance is not None and (integration_id, key, first.instance) in ended:
            results[indexes[0]] = Applied(key, Outcome.DROPPED, None)
            continue
        source = pairs[indexes[0]][0]
        inserts.append(
            {
                "integration_id": integration_id,
                "dedup_key": key,
                "status": AlertStatus.TRIGGERED.value,
                "service": source.service,
                "occurrences": len(indexes),
                "started_at": first.timestamp,
                "first_seen": now,
                "last_seen": now,
                "suppressed": False,
                "instance": last.instance,
                **fields(last, key),
            }
        )
    if touches:
        conn.execute(
            update(_ALERTS).where(c.id == bindparam("b_id")).values(last_seen=now), touches
        )
    if updates:
        names = ["instance", *fields(pairs[0][1], "").keys()]
        conn.execute(
            update(_ALERTS)
            .where(c.id == bindparam("b_id"))
            .values(
                occurrences=c.occurrences + bindparam("b_n"),
                last_seen=now,
                **{n: bindparam(f"b_{n}", type_=c[n].type) for n in names},
            ),
            updates,
        )
    if inserts:
        dialect = conn.dialect.name
        table_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        created = {
            (r.integration_id, r.dedup_key): r.id
            # One cached statement, executed for many rows (SQLAlchemy batches them into
            # multi-row INSERTs itself); a .values(list) would be compiled afresh each time.
            for r in conn.execute(
                table_insert(_ALERTS)
                .on_conflict_do_nothing(
                    index_elements=["integration_id", "dedup_key"],
                    index_where=c.resolved_at.is_(None),
                )
                .returning(c.id, c.integration_id, c.dedup_key),
                inserts,
            )
        }
        for row in inserts:
            k = (row["integration_id"], row["dedup_key"])
            indexes = fast[k]
            alert_id = created.get(k)
            if alert_id is None:  # another writer opened the key meanwhile: the slow way
                for i in indexes:
                    source, event = pairs[i]
                    results[i] = apply_event(session, source=source, event=event, now=now)
                continue
            results[indexes[0]] = Applied(k[1], Outcome.CREATED, alert_id)
            for i in indexes[1:]:
                results[i] = Applied(k[1], Outcome.UPDATED, alert_id)
    return results


def install_batched_writer() -> None:
    """Make BatchWriter use apply_batch (process-wide)."""
    from warroom.alerts import ingest

    def _write_batch(self: Any, batch: Any) -> list[list[Any]]:
        now = self._clock.now()
        pairs = [item for request in batch for item in request.items]
        with self._db.unit_of_work() as uow:
            flat = apply_batch(uow.session, pairs, now)
            uow.commit()
        if self._on_commit is not None:
            self._on_commit()
        out, at = [], 0
        for request in batch:
            out.append(flat[at : at + len(request.items)])
            at += len(request.items)
        return out

    ingest.BatchWriter._write_batch = _write_batch  # type: ignore[method-assign]


def batched() -> FastAPI:
    """The app with the set-based batch writer prototype (and the settings of `_tuned`)."""
    from warroom.app import create_app

    install_batched_writer()
    return _tuned(create_app())


def differential_check(url_a: str, url_b: str, batches: int = 300, seed: int = 1) -> int:
    """Apply the same random batches with apply_event (one by one) on database A and with
    apply_batch on database B (both migrated and empty); compare every result and the
    final rows. Returns the number of events checked; raises AssertionError on a mismatch.
    """
    import random
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
    from warroom.alerts.service import _ALERTS, Source, apply_event
    from warroom.db import Database
    from warroom.integrations.models import Integration

    rnd = random.Random(seed)
    dbs = [Database(url_a), Database(url_b)]
    t0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    for db in dbs:
        with db.unit_of_work() as uow:
            for n in (1, 2):
                uow.session.add(
                    Integration(
                        id=n, name=f"i{n}", type="pagerduty", service="payment-service",
                        key=f"{n:032d}", settings={}, created_at=t0,
                    )
                )  # fmt: skip
            uow.commit()
    sources = [Source(1, "payment-service"), Source(2, "payment-service")]
    id_map: dict[int, int] = {}
    checked = 0
    for b in range(batches):
        now = t0 + timedelta(seconds=b)
        pairs = []
        for _ in range(rnd.randint(1, 12)):
            action = rnd.choice([Action.TRIGGER] * 4 + [Action.ACKNOWLEDGE, Action.RESOLVE])
            event = AlertEvent(
                action=action,
                dedup_key=f"k{rnd.randint(1, 6)}",
                summary=rnd.choice(["", "disk full", "cpu high"]),
                source=rnd.choice([None, "host-1"]),
                severity=rnd.choice(list(AlertSeverity)),
                timestamp=rnd.choice([None, t0 - timedelta(minutes=rnd.randint(1, 9))]),
                labels={"n": rnd.randint(1, 3)},
                details={"d": rnd.randint(1, 3)},
                payload={"p": rnd.randint(1, 3)},
                instance=rnd.choice([None, None, "s1", "s2"]),
            )
            pairs.append((rnd.choice(sources), event))
        with dbs[0].unit_of_work() as uow:
            want = [apply_event(uow.session, source=s, event=e, now=now) for s, e in pairs]
            uow.commit()
        with dbs[1].unit_of_work() as uow:
            got = apply_batch(uow.session, pairs, now)
            uow.commit()
        for w, g in zip(want, got, strict=True):
            assert (w.dedup_key, w.outcome) == (g.dedup_key, g.outcome), (b, w, g)
            assert (w.alert_id is None) == (g.alert_id is None), (b, w, g)
            if w.alert_id is not None:
                assert id_map.setdefault(w.alert_id, g.alert_id) == g.alert_id, (b, w, g)
            checked += 1
    columns = [c for c in _ALERTS.c if c.name != "id"]
    rows = []
    for db in dbs:
        with db.engine.connect() as conn:
            rows.append({r[0]: tuple(r[1:]) for r in conn.execute(select(_ALERTS.c.id, *columns))})
        db.dispose()
    assert len(rows[0]) == len(rows[1]), (len(rows[0]), len(rows[1]))
    for a_id, values in rows[0].items():
        assert rows[1][id_map[a_id]] == values, (a_id, values, rows[1][id_map[a_id]])
    return checked


def _check_main() -> None:
    """python -m bench.experiments: the differential check on SQLite and PostgreSQL."""
    import tempfile
    from pathlib import Path

    from bench.common import pg_available, pg_url, scratch_db
    from warroom.db import Database
    from warroom.migrations import upgrade

    def migrated(url: str) -> str:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        return url

    with tempfile.TemporaryDirectory() as tmp:
        a, b = (migrated(f"sqlite:///{Path(tmp) / n}.db") for n in ("a", "b"))
        for seed in range(1, 4):
            print("sqlite seed", seed, differential_check(a, b, seed=seed), "events agree")
            a, b = (migrated(f"sqlite:///{Path(tmp) / n}{seed}.db") for n in ("a", "b"))
    if pg_available() is None:
        for seed in range(1, 4):
            with scratch_db("warroom_bench_chk") as x, scratch_db("warroom_bench_chk") as y:
                n = differential_check(migrated(pg_url(x)), migrated(pg_url(y)), seed=seed)
                print("postgresql seed", seed, n, "events agree")


if __name__ == "__main__":
    _check_main()
