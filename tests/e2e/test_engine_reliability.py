"""Three `warroom engine` processes on one PostgreSQL database; one is killed with SIGKILL
mid-run. Every due notification must reach the provider, none may be lost, and none may
take effect twice.

The provider here is a real HTTP server (the signed-webhook channel). The sender gives each
message an `Idempotency-Key`; a provider that honours it turns a resend into a no-op, and
that is the only way any sender can promise exactly-once across a crash: a worker killed
after the provider accepted a message but before the outcome was committed cannot know
the message went out. The test counts both: messages the provider took effect on (must be
exactly one per notification) and raw requests (resends after the kill, bounded by the
number of messages the killed worker had in flight).

The second test does the same for timers, which the engines run in batches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import scratch_postgres_database
from warroom.db import Database
from warroom.engine import outbox, timers
from warroom.engine.models import Notification, Timer
from warroom.incidents.models import Incident
from warroom.migrations import upgrade
from warroom.sla.service import UPDATE_DUE
from warroom.testing.providers import FakeWebhookReceiver
from warroom.timeline.models import TimelineEvent

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("WARROOM_TEST_DATABASE_URL")
COUNT = 1200
ENGINES = 3
SECRET = "reliability-test-secret"
DEADLINE = 90.0

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.serial]


@pytest.fixture
def scratch_pg() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("WARROOM_TEST_DATABASE_URL is not set; the reliability test needs PostgreSQL")
    with scratch_postgres_database(PG_URL, prefix="warroom_rel") as url:
        yield url


def _status_counts(db: Database) -> Counter[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(Notification.status, func.count()).group_by(Notification.status))
        return Counter({status: count for status, count in rows})


def _start_engine(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": url,
        "WARROOM_CONFIG": str(ROOT / "examples"),
        "WARROOM_WEBHOOK_SECRET": SECRET,
        # Short, so the survivors take over the victim's claims quickly; longer than any
        # send here, so a slow survivor's own claim never runs out mid-send.
        "WARROOM_ENGINE_LEASE_SECONDS": "6",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "warroom.cli", "engine", "--poll", "0.2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_no_notification_is_lost_or_takes_effect_twice_when_an_engine_is_killed(
    scratch_pg: str, tmp_path: Path
) -> None:
    db = Database(scratch_pg)
    upgrade(db.engine)
    processes: list[subprocess.Popen[bytes]] = []
    # The provider refuses (401) a request whose signature does not verify, as a real one
    # would: a sender that signed wrongly would see its messages fail, and the run would
    # stop on `failures`; only the killed engine's half-written last words may be refused.
    with FakeWebhookReceiver(
        secret=SECRET, reject_invalid=True, lifetime=DEADLINE + 30
    ) as provider:
        now = datetime.now(UTC)
        with db.unit_of_work() as uow:
            for i in range(COUNT):
                outbox.enqueue(
                    uow.session,
                    outbox.NewNotification(
                        idempotency_key=f"reliability:{i}",
                        channel="webhook",
                        # Twelve destinations: parallel across them, in order within each.
                        address=f"{provider.url}?d={i % 12}",
                        reason="page",
                        subject=f"message {i}",
                        body=f"message {i}",
                        due_at=now,
                        payload={"document": {"n": i}},
                    ),
                    now=now,
                )
            uow.commit()
        try:
            for n in range(ENGINES):
                processes.append(_start_engine(scratch_pg, tmp_path / f"engine-{n}.log"))
            # Kill one engine once the run is well under way.
            victim = processes[0]
            deadline = time.monotonic() + DEADLINE
            while len(provider.requests) < COUNT // 4:
                assert time.monotonic() < deadline, "the engines did not start sending"
                time.sleep(0.02)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            killed_at = len(provider.requests)
            # The survivors finish the run, including what the victim had claimed.
            while _status_counts(db)[outbox.SENT] < COUNT:
                counts = _status_counts(db)
                assert time.monotonic() < deadline, f"not all sent in time: {dict(counts)}"
                assert counts[outbox.FAILED] == 0, f"failures: {dict(counts)}"
                time.sleep(0.2)
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        # A request cut off by the kill (the sender died mid-write) is not a delivery: the
        # provider refuses it (incomplete body, or a signature over other bytes). Count
        # what the provider accepted.
        everything = provider.requests
        requests = [r for r in everything if 200 <= r.status < 300]
        cut_off = len(everything) - len(requests)
    db.dispose()

    keys = Counter(r.header("Idempotency-Key") for r in requests)
    missing = {f"reliability:{i}" for i in range(COUNT)} - set(keys)
    tried = [(r.header("Idempotency-Key"), r.status) for r in everything]
    assert not missing, (
        f"never accepted: {sorted(missing)}; tried: {[t for t in tried if t[0] in missing]}"
    )
    resent = {key: n for key, n in keys.items() if n > 1}
    # A resend only happens for a message the killed engine had handed over but not yet
    # recorded; it carries the same key, so an idempotent provider applies it once.
    assert len(resent) <= 64, f"{len(resent)} resends: more than one engine's batch in flight"
    assert all(n == 2 for n in resent.values()), resent
    # Every message was accepted with a valid signature.
    unsigned = [
        (r.header("Idempotency-Key"), r.header("X-Warroom-Timestamp"), len(r.body), r.body[:80])
        for r in requests
        if not FakeWebhookReceiver.verifies(provider, r)
    ]
    assert not unsigned, f"accepted without a valid signature: {unsigned}"
    refused = [
        (r.header("Idempotency-Key"), r.status, len(r.body), r.body[:80])
        for r in everything
        if not 200 <= r.status < 300
    ]
    # Only the request(s) the victim was writing when it died; every other one is whole.
    assert len(refused) <= 12, f"more refused than one engine had in flight: {refused}"
    print(
        f"\nreliability: {COUNT} notifications, {ENGINES} engines, one killed after "
        f"{killed_at} requests; {len(requests)} accepted, {cut_off} cut off by the kill, "
        f"{len(resent)} resent with the same idempotency key, 0 lost"
    )


TIMER_INCIDENTS = 40
TIMERS_EACH = 60


def _timer_counts(db: Database) -> Counter[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(Timer.status, func.count())
            .where(Timer.kind == UPDATE_DUE, Timer.key.like("upd:%:0"))
            .group_by(Timer.status)
        )
        return Counter({status: count for status, count in rows})


def test_no_timer_is_lost_or_takes_effect_twice_when_an_engine_is_killed(
    scratch_pg: str, tmp_path: Path
) -> None:
    """Timers run in batches (a savepoint each, one commit per batch) by three engines;
    one is killed mid-batch. Its uncommitted batch rolls back whole, its claims run out,
    and the survivors run them: every timer ends done, and each left exactly one
    timeline note and one follow-up reminder."""
    db = Database(scratch_pg)
    upgrade(db.engine)
    now = datetime.now(UTC)
    total = TIMER_INCIDENTS * TIMERS_EACH
    with db.unit_of_work() as uow:
        for n in range(TIMER_INCIDENTS):
            incident = Incident(
                title=f"reliability {n}",
                severity="SEV1",
                status="investigating",
                declared_at=now,
                updated_at=now,
            )
            uow.session.add(incident)
            uow.session.flush()
            for gen in range(TIMERS_EACH):
                timers.schedule(
                    uow.session,
                    kind=UPDATE_DUE,
                    # Generation `gen`, reminder 0: its handler plans reminder 1 of it.
                    key=f"upd:{incident.id}:{gen}:0",
                    due_at=now,
                    now=now,
                    incident_id=incident.id,
                    payload={"gen": gen, "seq": 0, "since": now.isoformat()},
                )
        uow.commit()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(ENGINES):
            processes.append(_start_engine(scratch_pg, tmp_path / f"engine-{n}.log"))
        victim = processes[0]
        deadline = time.monotonic() + DEADLINE
        while _timer_counts(db)[timers.DONE] < total // 5:
            assert time.monotonic() < deadline, "the engines did not start running timers"
            time.sleep(0.01)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = _timer_counts(db)[timers.DONE]
        while _timer_counts(db)[timers.DONE] < total:
            assert time.monotonic() < deadline, f"not all run in time: {_timer_counts(db)}"
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
    with db.engine.connect() as conn:
        notes = Counter(
            conn.execute(
                select(TimelineEvent.incident_id).where(
                    TimelineEvent.source == "automation",
                    TimelineEvent.description.like("Update due%"),
                )
            ).scalars()
        )
        follow_ups = conn.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.kind == UPDATE_DUE, Timer.key.like("upd:%:1"))
        )
        retried = conn.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.key.like("upd:%:0"), Timer.attempts > 1)
        )
    db.dispose()
    assert sum(notes.values()) == total, f"{sum(notes.values())} notes for {total} timers"
    assert set(notes.values()) == {TIMERS_EACH}, notes
    assert follow_ups == total
    print(
        f"\nreliability: {total} timers, {ENGINES} engines, one killed after {killed_at} "
        f"were done; {retried} run again after the kill, 0 lost, 0 twice"
    )
