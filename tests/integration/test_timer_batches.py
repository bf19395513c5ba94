"""Timers run many per transaction, a savepoint each, with the guarantees of one by one.

- A handler that fails in a batch rolls back alone (its writes, and what the subscribers
  of its events wrote), stays pending under its lease and runs again once the lease has
  run out; the others of its batch commit.
- The same incidents, clock and actions give the same timers, notifications and timeline
  with batches as one by one (the real escalation, SLA and cadence handlers).
- A timer that another engine took over after our lease ran out is fenced off.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.integration.batch_twins import wipe
from warroom import events
from warroom.auth.logic import SYSTEM
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Base, Database
from warroom.engine import timers
from warroom.engine.handlers import BATCH_HANDLERS, BatchHandler, handles, handles_batch
from warroom.engine.models import Notification, Timer
from warroom.engine.timer_job import TimerRunner
from warroom.escalation.bookkeeping import ACK_TIMEOUT
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.settings import Settings
from warroom.sla.service import SLA_BREACH, SLA_WARNING, UPDATE_DUE
from warroom.timeline.models import TimelineEvent

# --- probe handlers: each writes a row (a follow-up timer) and publishes an event ------


@dataclass(frozen=True)
class Probed(events.DomainEvent):
    """Published by the probe handlers; its subscriber writes a row of its own."""

    key: str


FAILING: set[str] = set()  # keys whose handler raises after it has written
FAILING_SUBSCRIBER: set[str] = set()  # keys whose event's subscriber raises


@handles("test_probe")
def _probe(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    timers.schedule(session, kind="test_after", key=f"{timer.key}:handler", due_at=now, now=now)
    events.publish(session, Probed(incident_id=0, at=now, key=timer.key))
    if timer.key in FAILING:
        session.flush()  # the row is in the database, inside the savepoint
        raise RuntimeError(f"probe {timer.key} fails")


@events.subscribe(Probed)
def _on_probed(session: Session, event: Probed) -> None:
    timers.schedule(
        session, kind="test_after", key=f"{event.key}:subscriber", due_at=event.at, now=event.at
    )
    if event.key in FAILING_SUBSCRIBER:
        raise RuntimeError(f"subscriber of {event.key} fails")


@handles("test_after")
def _after(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """Follow-ups do nothing; they are only counted."""


# A kind with a batch handler: the optimistic run hands every consecutive timer of it to
# one call; it does what the single handler does on each, so it fails as that one does.
MANY_CALLS: list[int] = []


@handles("test_many")
def _many_one(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    _probe(ctx, session, timer, now)


@handles_batch("test_many")
def _many(ctx: AppContext, session: Session, batch: list[Timer], now: datetime) -> None:
    MANY_CALLS.append(len(batch))
    for timer in batch:
        _probe(ctx, session, timer, now)


@pytest.fixture
def probes() -> Iterator[None]:
    MANY_CALLS.clear()
    FAILING.clear()
    FAILING_SUBSCRIBER.clear()
    yield
    FAILING.clear()
    FAILING_SUBSCRIBER.clear()


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock) -> AppContext:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, base_url="http://warroom.test"
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


def _schedule_probes(ctx: AppContext, count: int, kind: str = "test_probe") -> None:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        for i in range(count):
            timers.schedule(uow.session, kind=kind, key=f"p{i}", due_at=now, now=now)
        uow.commit()


def _timers(ctx: AppContext) -> dict[str, Timer]:
    with ctx.db.unit_of_work() as uow:
        rows = {t.key: t for t in uow.session.scalars(select(Timer))}
        uow.commit()  # keeps them loaded (no expiry on commit)
        return rows


def test_a_failing_handler_rolls_back_alone_and_runs_again_after_its_lease(
    ctx: AppContext, clock: FakeClock, probes: None
) -> None:
    _schedule_probes(ctx, 12)
    FAILING.add("p3")
    FAILING_SUBSCRIBER.add("p8")
    runner = TimerRunner(owner="engine-a", lease=timedelta(seconds=30))
    runner(ctx)

    rows = _timers(ctx)
    for i in range(12):
        key = f"p{i}"
        if key in ("p3", "p8"):
            # Rolled back alone: still pending under our lease, nothing it wrote is kept,
            # not even what the subscriber of its event wrote.
            assert rows[key].status == timers.PENDING, key
            assert rows[key].lease_owner == "engine-a"
            assert rows[key].attempts == 1
            assert f"{key}:handler" not in rows and f"{key}:subscriber" not in rows, key
        else:
            assert rows[key].status == timers.DONE, key
            assert rows[key].finished_at == clock.now()
            assert rows[f"{key}:handler"].status == timers.PENDING
            assert rows[f"{key}:subscriber"].status == timers.PENDING

    # Nothing new while the lease holds (the follow-ups, due now, run meanwhile).
    clock.advance(timedelta(seconds=10))
    runner(ctx)
    rows = _timers(ctx)
    assert rows["p3"].status == rows["p8"].status == timers.PENDING
    assert rows["p3"].attempts == 1
    assert all(r.status == timers.DONE for k, r in rows.items() if ":" in k)

    # The lease has run out: both are tried again, and now they succeed.
    FAILING.clear()
    FAILING_SUBSCRIBER.clear()
    clock.advance(timedelta(seconds=25))
    runner(ctx)
    rows = _timers(ctx)
    for key in ("p3", "p8"):
        assert rows[key].status == timers.DONE
        assert rows[key].attempts == 2
        assert f"{key}:handler" in rows and f"{key}:subscriber" in rows
    assert len(rows) == 12 * 3


def test_a_failing_timer_of_a_batch_handler_rolls_back_alone(
    ctx: AppContext, clock: FakeClock, probes: None
) -> None:
    """The optimistic run (no savepoints, one batch handler call) is lost when one timer
    fails; the timers are run again a savepoint each and only the failing one is kept
    back, to succeed after its lease."""
    _schedule_probes(ctx, 10, kind="test_many")
    # (A budget no transaction here reaches: on a slow machine the retry a savepoint
    # each would end after a few timers, and the next transaction try a batch again.)
    runner = TimerRunner(owner="engine-a", lease=timedelta(seconds=30), budget=60)
    runner(ctx)
    # No failure: one call for all ten, one transaction, every effect kept.
    assert MANY_CALLS == [10]
    rows = _timers(ctx)
    assert all(rows[f"p{i}"].status == timers.DONE for i in range(10))
    assert all(f"p{i}:handler" in rows and f"p{i}:subscriber" in rows for i in range(10))

    with ctx.db.unit_of_work() as uow:
        uow.session.execute(update(Timer).values(status=timers.DONE))  # follow-ups: out
        uow.commit()
    for i in range(10):
        _schedule_one(ctx, f"q{i}")
    FAILING.add("q4")
    MANY_CALLS.clear()
    runner(ctx)
    assert MANY_CALLS == [10]  # tried once as a batch, then one by one
    rows = _timers(ctx)
    for i in range(10):
        key = f"q{i}"
        if key == "q4":
            assert rows[key].status == timers.PENDING and rows[key].attempts == 1
            assert f"{key}:handler" not in rows and f"{key}:subscriber" not in rows
        else:
            assert rows[key].status == timers.DONE, key
            assert rows[f"{key}:handler"].status == timers.PENDING, key
            assert rows[f"{key}:subscriber"].status == timers.PENDING, key

    FAILING.clear()
    clock.advance(timedelta(seconds=31))
    runner(ctx)
    rows = _timers(ctx)
    assert rows["q4"].status == timers.DONE and rows["q4"].attempts == 2
    assert "q4:handler" in rows and "q4:subscriber" in rows


def _schedule_one(ctx: AppContext, key: str) -> None:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        timers.schedule(uow.session, kind="test_many", key=key, due_at=now, now=now)
        uow.commit()


def test_a_transaction_holds_at_most_per_transaction_timers(
    ctx: AppContext, probes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _schedule_probes(ctx, 7)
    commits: list[int] = []
    runner = TimerRunner(owner="engine-a", per_transaction=3)
    original = runner._run_batch

    def counting(ctx_: AppContext, chunk: Any) -> int:
        taken = original(ctx_, chunk)
        commits.append(taken)
        return taken

    monkeypatch.setattr(runner, "_run_batch", counting)
    runner(ctx)
    assert commits == [3, 3, 1]
    assert all(t.status == timers.DONE for t in _timers(ctx).values() if ":" not in t.key)


def test_a_timer_taken_over_by_another_engine_is_fenced_off(
    ctx: AppContext, clock: FakeClock, probes: None
) -> None:
    _schedule_probes(ctx, 3)
    now = clock.now()
    with ctx.db.unit_of_work() as uow:
        claimed = timers.claim_due(uow.session, now=now, owner="engine-a", limit=10)
        uow.commit()
    assert len(claimed) == 3
    # engine-a's lease on p1 ran out and engine-b took it over.
    with ctx.db.unit_of_work() as uow:
        uow.session.execute(
            update(Timer)
            .where(Timer.key == "p1")
            .values(lease_owner="engine-b", lease_until=now + timedelta(minutes=1))
        )
        uow.commit()
    runner = TimerRunner(owner="engine-a")
    assert runner._run_batch(ctx, [(t.id, t.kind) for t in claimed]) == 3
    rows = _timers(ctx)
    assert rows["p0"].status == rows["p2"].status == timers.DONE
    assert rows["p1"].status == timers.PENDING and rows["p1"].lease_owner == "engine-b"
    assert "p1:handler" not in rows


# --- twins: batches against one by one, with the real handlers --------------------------

SERVICES = ["api-gateway", "auth-service", "payment-service", "search", "web-app", "database"]


def _scenario(ctx: AppContext, clock: FakeClock, runner: TimerRunner, seed: int) -> None:
    """Declare incidents over time, acknowledge and resolve some, run timers every minute."""
    rnd = random.Random(seed)
    start = clock.now()
    for minute in range(0, 120):
        clock.set(start + timedelta(minutes=minute))
        now = clock.now()
        with ctx.db.unit_of_work() as uow:
            session = uow.session
            if minute < 40 and rnd.random() < 0.5:
                for _ in range(rnd.randint(1, 3)):
                    incidents.declare(
                        session,
                        config=ctx.config,
                        data=IncidentCreate(
                            title=f"twin {minute}",
                            severity=rnd.choice(["SEV1", "SEV2", "SEV3"]),
                            services=rnd.sample(SERVICES, rnd.randint(1, 2)),
                            # A commander: the update reminders go to someone (the
                            # batch handler's deliveries), else only their notes.
                            commander=rnd.choice([None, "jane.smith", "bob.wilson"]),
                        ),
                        actor=SYSTEM,
                        now=now,
                    )
            if minute == 5:
                # A burst: their SLA timers come due together (batches of several).
                for n in range(6):
                    incidents.declare(
                        session,
                        config=ctx.config,
                        data=IncidentCreate(
                            title=f"burst {n}",
                            severity="SEV1",
                            services=[SERVICES[n % 3]],
                            commander=["jane.smith", None][n % 2],
                        ),
                        actor=SYSTEM,
                        now=now,
                    )
            open_ = list(
                session.scalars(
                    select(Incident)
                    .where(Incident.status.in_(["investigating", "identified", "monitoring"]))
                    .order_by(Incident.id)
                )
            )
            for incident in open_:
                if incident.title.startswith("burst"):
                    # Acknowledged together after their acknowledge breach, so that their
                    # ack timeouts come due together; never resolved.
                    if minute == 26:
                        incidents.acknowledge(session, incident=incident, actor=SYSTEM, now=now)
                    continue
                roll = rnd.random()
                if roll < 0.03 and incident.acknowledged_at is None:
                    incidents.acknowledge(session, incident=incident, actor=SYSTEM, now=now)
                elif roll < 0.04:
                    incidents.change_status(
                        session,
                        incident=incident,
                        status=Status.RESOLVED,
                        message=None,
                        public=False,
                        actor=SYSTEM,
                        now=now,
                    )
            uow.commit()
        for _ in range(20):
            runner(ctx)
            if not _due(ctx):
                break


def _due(ctx: AppContext) -> bool:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        return (
            uow.session.scalar(
                select(Timer.id).where(Timer.status == timers.PENDING, Timer.due_at <= now).limit(1)
            )
            is not None
        )


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the handlers write, in full but for the ids of the rows they add: one
    handler may write its rows (a page to each of several people) in another order from
    one run to the next, which numbers them differently and means nothing."""

    def rows(model: type[Base], *, keep_id: bool = False) -> list[tuple[Any, ...]]:
        table = Base.metadata.tables[model.__tablename__]
        columns = [c for c in table.columns if keep_id or c.name != "id"]
        with db.engine.connect() as conn:
            return sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)

    return {
        "timers": rows(Timer),
        "notifications": rows(Notification),
        "timeline": rows(TimelineEvent),
        "incidents": rows(Incident, keep_id=True),
    }


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The sizes of the batches each kind's batch handler was handed."""
    sizes: dict[str, list[int]] = {}
    for kind, handler in list(BATCH_HANDLERS.items()):

        def counted(ctx: AppContext, session: Session, batch: list[Timer], now: datetime,
                    kind: str = kind, handler: BatchHandler = handler) -> None:  # fmt: skip
            sizes.setdefault(kind, []).append(len(batch))
            handler(ctx, session, batch, now)

        monkeypatch.setitem(BATCH_HANDLERS, kind, counted)
    return sizes


@pytest.mark.parametrize("seed", [1, 2])
def test_batches_give_the_same_results_as_one_by_one(
    db: Database, config: WarroomConfig, seed: int, batch_sizes: dict[str, list[int]]
) -> None:
    # SEV1's update reminders every 25 minutes, off the quarter hours of its SLA clocks:
    # with the example's 15 they fall due with the breaches and interleave with them (by
    # id), so no two SLA timers of the burst would be consecutive.
    config = config.model_copy(
        update={
            "severities": [
                s.model_copy(update={"update_interval": timedelta(minutes=25)})
                if s.name == "SEV1"
                else s
                for s in config.severities
            ]
        }
    )
    snapshots = []
    for batched in (False, True):
        wipe(db)
        clock = FakeClock(datetime.fromisoformat("2024-03-15T09:30:00+00:00"))
        settings = Settings(
            database_url=db.url, auto_migrate=False, engine=False, base_url="http://warroom.test"
        )
        ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
        # Small transactions, so that batches end and start again in the middle of a pass.
        runner = TimerRunner(owner="twin", batched=batched, batch=40, per_transaction=7, gap=0)
        _scenario(ctx, clock, runner, seed)
        snapshots.append(_snapshot(db))
    one_by_one, batches = snapshots
    assert len(one_by_one["timers"]) > 50
    status = [c.name for c in Timer.__table__.columns if c.name != "id"].index("status")
    assert sum(1 for t in one_by_one["timers"] if t[status] == timers.DONE) > 30
    assert len(one_by_one["notifications"]) > 20
    reason = [c.name for c in Notification.__table__.columns if c.name != "id"].index("reason")
    assert any(n[reason] == "reminder" for n in one_by_one["notifications"])
    for name in one_by_one:
        assert batches[name] == one_by_one[name], name
    # Every set-based handler of the real kinds ran on batches of several timers.
    for kind in (UPDATE_DUE, SLA_WARNING, SLA_BREACH, ACK_TIMEOUT):
        assert max(batch_sizes.get(kind, [0])) > 1, (kind, batch_sizes)


# --- SQLite: a writer outside the engine is not starved by a backlog --------------------


@handles("test_slow")
def _slow(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    """Work that keeps the engine's transaction busy: a write, then 2 ms."""
    timers.schedule(session, kind="test_after", key=f"{timer.key}:slow", due_at=now, now=now)
    time.sleep(0.002)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_writer_gets_the_sqlite_lock_while_the_engine_drains_a_backlog(
    ctx: AppContext, db: Database
) -> None:
    """The engine runs transaction after transaction while it drains 1,500 timers; a
    writer in another connection, with a busy timeout of one second, must get the lock
    every time (between two transactions the engine pauses longer than SQLite's busy
    handler sleeps)."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        timers.schedule_many(
            uow.session,
            [{"kind": "test_slow", "key": f"s{i}", "due_at": now} for i in range(1_500)],
            now=now,
        )
        uow.commit()
    runner = TimerRunner(owner="engine-a")

    def drain() -> None:
        while runner(ctx) == 0.0:
            pass

    engine = threading.Thread(target=drain)
    other = Database(db.url, timeout=1.0)
    waits: list[float] = []
    try:
        engine.start()
        time.sleep(0.2)  # the engine is inside its first transactions
        while engine.is_alive():
            began = time.monotonic()
            with other.unit_of_work() as uow:  # BEGIN IMMEDIATE: the write lock
                timers.schedule(
                    uow.session, kind="test_after", key=f"w{len(waits)}", due_at=now, now=now
                )
                uow.commit()
            waits.append(time.monotonic() - began)
            time.sleep(0.05)
    finally:
        engine.join()
        other.dispose()
    assert len(waits) >= 5, waits  # the backlog took a while: the writer went in often
    assert max(waits) < 1.0
    rows = _timers(ctx)
    assert (
        sum(1 for k, t in rows.items() if k.startswith("s") and ":" not in k and t.status == "done")
        == 1_500
    )
