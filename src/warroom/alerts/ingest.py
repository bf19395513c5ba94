"""Group commit for alert ingestion.

Every alert source answers 2xx only once its events are committed. Committing each request
alone caps throughput at the database's commit rate, so requests queue their events here
and one writer commits whatever has gathered in a single transaction, then answers them
all. Under load a batch fills while the previous one commits; when idle a batch is a
single event and waits for nothing.

On PostgreSQL the common batches (triggers only) are applied from the event loop over an
asynchronous connection (`pg_ingest`); everything else, and SQLite, goes through
`apply_batch` in a thread.

When the queue is full, or the database fails, callers get `Unavailable` and answer 503 —
the status Alertmanager and PagerDuty clients retry. If a batch fails, its events are
retried one by one so that one poisonous event cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DataError, IntegrityError

from warroom.alerts.logic import AlertEvent, InvalidEvent
from warroom.alerts.pg_ingest import PgBatchApplier
from warroom.alerts.service import Applied, Source, apply_batch
from warroom.clock import Clock
from warroom.db import Database

log = logging.getLogger("warroom.ingest")


class Unavailable(Exception):
    """The events were not committed; the sender should retry."""


@dataclass
class _Request:
    items: Sequence[tuple[Source, AlertEvent]]
    future: asyncio.Future[list[Applied]]


class BatchWriter:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_batch_events: int = 512,
        max_queued_events: int = 20_000,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._db, self._clock = db, clock
        self._max_batch = max_batch_events
        self._max_queued = max_queued_events
        self._on_commit = on_commit
        self._async: PgBatchApplier | None = None
        if db.engine.dialect.name == "postgresql":
            self._async = PgBatchApplier(db.engine.url.render_as_string(hide_password=False))
        self._queue: asyncio.Queue[_Request] | None = None
        self._queued_events = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def queued_events(self) -> int:
        return self._queued_events

    async def submit(self, items: Sequence[tuple[Source, AlertEvent]]) -> list[Applied]:
        """Commit these events (in order) and return what each did."""
        if not items:
            return []
        if self._task is None or self._task.done():
            self._start()
        assert self._queue is not None
        if self._queued_events + len(items) > self._max_queued:
            raise Unavailable("ingest queue is full")
        future: asyncio.Future[list[Applied]] = asyncio.get_running_loop().create_future()
        self._queued_events += len(items)
        self._queue.put_nowait(_Request(items, future))
        return await future

    def _start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-batch-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._async is not None:
            await self._async.close()

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch, size = [first], len(first.items)
            while size < self._max_batch and not self._queue.empty():
                request = self._queue.get_nowait()
                batch.append(request)
                size += len(request.items)
            self._queued_events -= size
            try:
                results = await self._write_batch_async(batch)
                if results is None:
                    results = await asyncio.to_thread(self._write_batch, batch)
            except Exception:
                log.warning(
                    "alert batch of %d events failed; retrying one by one", size, exc_info=True
                )
                for request in batch:
                    try:
                        one = await asyncio.to_thread(self._write_batch, [request])
                        _resolve(request, one[0])
                    except Exception as exc:
                        _fail(request, exc)
                continue
            for request, result in zip(batch, results, strict=True):
                _resolve(request, result)

    async def _write_batch_async(self, batch: Sequence[_Request]) -> list[list[Applied]] | None:
        if self._async is None:
            return None
        flat = await self._async.apply(_pairs(batch), self._clock.now())
        if flat is None:
            return None
        if self._on_commit is not None:
            self._on_commit()
        return _split(batch, flat)

    def _write_batch(self, batch: Sequence[_Request]) -> list[list[Applied]]:
        with self._db.unit_of_work() as uow:
            flat = apply_batch(uow.session, _pairs(batch), self._clock.now())
            # Its commit wakes the engines, here and in other processes (`apply_batch`
            # notifies): `on_commit` is for the asynchronous path, outside SQLAlchemy.
            uow.commit()
        return _split(batch, flat)


def _pairs(batch: Sequence[_Request]) -> list[tuple[Source, AlertEvent]]:
    return [item for request in batch for item in request.items]


def _split(batch: Sequence[_Request], flat: list[Applied]) -> list[list[Applied]]:
    """The batch's results, per request."""
    results, at = [], 0
    for request in batch:
        results.append(flat[at : at + len(request.items)])
        at += len(request.items)
    return results


def _resolve(request: _Request, result: list[Applied]) -> None:
    if not request.future.done():
        request.future.set_result(result)


def _fail(request: _Request, exc: Exception) -> None:
    # The answer says what the sender should do; what went wrong is in the log (the batch's
    # failure above), never in a body.
    if request.future.done():
        return
    if isinstance(exc, DataError | IntegrityError | UnicodeError):
        # The event itself is unstorable: retrying it would fail forever. (The routes check
        # bodies before queueing them, so this is what their checks did not foresee.)
        log.warning("alert event refused by the database: %s", getattr(exc, "orig", None) or exc)
        request.future.set_exception(
            InvalidEvent(["event rejected by the database: a value in it cannot be stored"])
        )
    else:
        request.future.set_exception(Unavailable("not committed; retry"))
