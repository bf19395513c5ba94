"""The batch writer's asynchronous PostgreSQL path (`alerts.pg_ingest`).

It must agree with `apply_event` event for event (the same comparison as
test_apply_batch.py), give way to the slow path whenever it cannot apply a batch itself
without writing anything, and survive losing its connection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select

from tests.conftest import _truncate
from tests.integration.batch_twins import (
    BATCHED,
    ONE_BY_ONE,
    T0,
    add_integrations,
    check_results,
    check_rows,
    random_event,
)
from warroom.alerts import pg_ingest
from warroom.alerts.ingest import BatchWriter
from warroom.alerts.logic import Action, AlertEvent
from warroom.alerts.models import Alert
from warroom.alerts.pg_ingest import PgBatchApplier
from warroom.alerts.service import (
    FIELDS,
    Applied,
    Outcome,
    Source,
    apply_batch,
    apply_event,
)
from warroom.clock import FakeClock
from warroom.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_database: str) -> Iterator[Database]:
    database = Database(pg_database)
    _truncate(database)
    add_integrations(database)
    yield database
    database.dispose()


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize(("seed", "acks"), [(1, True), (2, False), (3, False)])
def test_async_path_matches_one_by_one(pg: Database, seed: int, acks: bool) -> None:
    rnd = random.Random(seed)
    ids: dict[int, int] = {}
    applier = PgBatchApplier(_url(pg))
    taken = 0
    loop = asyncio.new_event_loop()
    try:
        for b in range(150):
            now = T0 + timedelta(seconds=b)
            picks = [
                (rnd.randrange(2), random_event(rnd, triggers=12, acks=acks))
                for _ in range(rnd.randint(1, 10))
            ]
            with pg.unit_of_work() as uow:
                want = [
                    apply_event(uow.session, source=ONE_BY_ONE[i], event=e, now=now)
                    for i, e in picks
                ]
                uow.commit()
            pairs = [(BATCHED[i], e) for i, e in picks]
            got = loop.run_until_complete(applier.apply(pairs, now))
            if got is None:  # the slow path, as the batch writer would take it
                with pg.unit_of_work() as uow:
                    got = apply_batch(uow.session, pairs, now)
                    uow.commit()
            else:
                taken += 1
            check_results(want, got, ids, b)
    finally:
        loop.run_until_complete(applier.close())
        loop.close()
    assert taken >= 20, f"only {taken} of 150 batches took the asynchronous path"
    check_rows(pg, ids)


def test_statements_set_every_event_field() -> None:
    # The SQL is written out by hand; a field added to FIELDS must be added there too.
    for name in FIELDS:
        assert f"{name} = u.{name}" in pg_ingest._UPDATE, name
        assert f"u.{name}" in pg_ingest._INSERT, name


def _trigger(key: str) -> AlertEvent:
    return AlertEvent(action=Action.TRIGGER, dedup_key=key, summary=key)


def _count(db: Database, key: str) -> int:
    with db.unit_of_work() as uow:
        return uow.session.scalar(
            select(func.coalesce(func.sum(Alert.occurrences), 0)).where(Alert.dedup_key == key)
        )


def test_key_opened_by_another_writer_meanwhile_goes_the_slow_way(pg: Database) -> None:
    """Another writer inserts the key after our read: our insert does nothing, the batch
    rolls back whole and returns None, so nothing is half-written."""
    source = Source(3, "payment-service")
    url = pg_ingest.conninfo(_url(pg))

    async def scenario() -> object:
        applier = PgBatchApplier(_url(pg))
        other = await psycopg.AsyncConnection.connect(url)
        try:
            # The other writer has inserted "race" but not committed: our read cannot see
            # it, and our insert waits for it.
            await other.execute(
                "INSERT INTO alerts (integration_id, dedup_key, status, service, summary,"
                " severity, labels, details, payload, occurrences, first_seen, last_seen,"
                " suppressed) VALUES (3, 'race', 'triggered', 'payment-service', 'race',"
                " 'error', '{}', '{}', '{}', 1, now(), now(), false)"
            )
            task = asyncio.ensure_future(
                applier.apply([(source, _trigger("calm")), (source, _trigger("race"))], T0)
            )
            await asyncio.sleep(0.3)
            assert not task.done()  # waiting on the other writer's row
            await other.commit()
            return await asyncio.wait_for(task, 10)
        finally:
            await other.close()
            await applier.close()

    assert asyncio.run(scenario()) is None
    assert _count(pg, "calm") == 0  # rolled back with the rest of the batch
    assert _count(pg, "race") == 1


def test_writer_survives_losing_its_connection(pg: Database) -> None:
    """The server drops the writer's connection: that batch is committed the slow way, and
    the next one reconnects."""
    source = Source(3, "payment-service")

    async def scenario() -> list[Outcome]:
        writer = BatchWriter(pg, FakeClock(T0))
        assert writer._async is not None
        outcomes = [(await writer.submit([(source, _trigger("a"))]))[0].outcome]
        conn = writer._async._conn
        assert conn is not None
        with pg.engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({conn.info.backend_pid})")
        outcomes.append((await writer.submit([(source, _trigger("a"))]))[0].outcome)
        outcomes.append((await writer.submit([(source, _trigger("a"))]))[0].outcome)
        assert writer._async._conn is not None and writer._async._conn is not conn
        await writer.close()
        return outcomes

    assert asyncio.run(scenario()) == [Outcome.CREATED, Outcome.UPDATED, Outcome.UPDATED]
    assert _count(pg, "a") == 3


def test_integers_beyond_64_bits_are_stored_as_sent(pg: Database) -> None:
    # JSON allows them; the fast encoder does not, so the rows fall back to the json module.
    source = Source(3, "payment-service")
    event = AlertEvent(
        action=Action.TRIGGER, dedup_key="big", summary="big", details={"n": 2**70, "m": 1.5}
    )

    async def scenario() -> object:
        applier = PgBatchApplier(_url(pg))
        try:
            return await applier.apply([(source, event)], T0)
        finally:
            await applier.close()

    applied = asyncio.run(scenario())
    assert applied is not None
    with pg.unit_of_work() as uow:
        alert = uow.session.scalars(select(Alert).where(Alert.dedup_key == "big")).one()
        assert alert.details == {"n": 2**70, "m": 1.5}
        assert alert.started_at is None and alert.first_seen == T0


def _resolving(db: Database, key: str) -> psycopg.Connection[object]:
    """Another writer's transaction that has resolved `key` and not yet committed."""
    other = psycopg.connect(pg_ingest.conninfo(_url(db)))
    other.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = now() WHERE dedup_key = %s", (key,)
    )
    return other


def _while_resolving(
    db: Database, key: str, write: Callable[[PgBatchApplier], Awaitable[list[Applied] | None]]
) -> list[Applied] | None:
    """Start `write` while another transaction holds `key` resolved and uncommitted; check
    that it waits for that transaction, commit it, and return what `write` gave."""

    async def scenario() -> list[Applied] | None:
        applier = PgBatchApplier(_url(db))
        other = _resolving(db, key)
        try:
            task = asyncio.ensure_future(write(applier))
            await asyncio.sleep(0.3)
            assert not task.done()  # waiting for the resolve
            other.commit()
            return await asyncio.wait_for(task, 10)
        finally:
            other.close()
            await applier.close()

    return asyncio.run(scenario())


@pytest.mark.parametrize("path", ["async", "apply_event"])
def test_a_trigger_racing_a_resolve_opens_a_new_alert(pg: Database, path: str) -> None:
    """The resolve commits while the trigger waits: the trigger must not count itself on the
    resolved alert (it would, had it read the alert as open without locking it)."""
    source = Source(3, "payment-service")
    with pg.unit_of_work() as uow:
        first = apply_event(uow.session, source=source, event=_trigger("flap"), now=T0)
        uow.commit()

    def sync_trigger() -> list[Applied]:
        with pg.unit_of_work() as uow:
            applied = apply_event(uow.session, source=source, event=_trigger("flap"), now=T0)
            uow.commit()
            return [applied]

    async def trigger(applier: PgBatchApplier) -> list[Applied] | None:
        if path == "async":
            return await applier.apply([(source, _trigger("flap"))], T0)
        return await asyncio.to_thread(sync_trigger)

    applied = _while_resolving(pg, "flap", trigger)
    assert applied is not None
    assert applied[0].outcome is Outcome.CREATED
    assert applied[0].alert_id != first.alert_id
    with pg.unit_of_work() as uow:
        rows = uow.session.scalars(select(Alert).where(Alert.dedup_key == "flap")).all()
        assert sorted((a.occurrences, a.resolved_at is None) for a in rows) == [
            (1, False),
            (1, True),
        ]


def test_a_firing_racing_its_resolve_goes_the_slow_way(pg: Database) -> None:
    """An Alertmanager-style firing delivered again while its resolve commits: only a read
    after the resolve can tell that this firing has ended, so the one statement writes
    nothing and declines; the slow path then drops the late copy, as one by one would."""
    source = Source(3, "payment-service")
    firing = AlertEvent(action=Action.TRIGGER, dedup_key="fp", summary="fp", instance="s1")
    with pg.unit_of_work() as uow:
        first = apply_event(uow.session, source=source, event=firing, now=T0)
        calm = apply_event(uow.session, source=source, event=_trigger("calm"), now=T0)
        uow.commit()

    async def both(applier: PgBatchApplier) -> list[Applied] | None:
        return await applier.apply([(source, _trigger("calm")), (source, firing)], T0)

    assert _while_resolving(pg, "fp", both) is None
    assert _count(pg, "calm") == 1  # nothing written, not even the other key's repeat
    with pg.unit_of_work() as uow:
        got = apply_batch(uow.session, [(source, _trigger("calm")), (source, firing)], T0)
        uow.commit()
    assert [a.outcome for a in got] == [Outcome.UPDATED, Outcome.DROPPED]
    assert got[0].alert_id == calm.alert_id and first.alert_id is not None
    assert _count(pg, "calm") == 2 and _count(pg, "fp") == 1


def test_the_batch_statement_is_planned_again_every_few_minutes(pg: Database) -> None:
    """A generic plan made from a young table's statistics must not last as long as the
    connection: after REPLAN_EVERY the writer drops its prepared statements, and the next
    batches prepare the statement again."""
    source = Source(3, "payment-service")

    async def prepared(applier: PgBatchApplier) -> int:
        assert applier._conn is not None
        cur = await applier._conn.execute("SELECT count(*) FROM pg_prepared_statements")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def scenario() -> list[int]:
        applier = PgBatchApplier(_url(pg))
        counts = []
        try:
            for n in range(8):  # psycopg prepares a statement on its fifth run
                await applier.apply([(source, _trigger(f"k{n}"))], T0 + timedelta(seconds=n))
            counts.append(await prepared(applier))
            later = T0 + pg_ingest.REPLAN_EVERY + timedelta(seconds=10)
            await applier.apply([(source, _trigger("later"))], later)
            counts.append(await prepared(applier))
            for n in range(8):
                await applier.apply([(source, _trigger(f"m{n}"))], later + timedelta(seconds=n))
            counts.append(await prepared(applier))
        finally:
            await applier.close()
        return counts

    prepared_before, right_after, again = asyncio.run(scenario())
    assert prepared_before >= 1
    assert right_after == 0  # dropped: this batch ran unprepared, planned afresh
    assert again >= 1
    assert _count(pg, "later") == 1
