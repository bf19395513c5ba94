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
    - BENCH_GC_DISABLE=1: no cyclic garbage collection at all (reference counting only), to
      see how much of a latency tail the collector is.
    """
    import gc
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    if "BENCH_SWITCH_INTERVAL" in os.environ:
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    if os.environ.get("BENCH_GC_DISABLE") == "1":
        gc.disable()
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
    """The stock app, with the BENCH_* interpreter settings of `_tuned`, and
    BENCH_SQLITE_PRAGMA="name=value" run on every new SQLite connection."""
    from sqlalchemy import event

    from warroom.app import build_context, create_app

    ctx = build_context()
    pragma = os.environ.get("BENCH_SQLITE_PRAGMA")
    if pragma and ctx.db.engine.dialect.name == "sqlite":

        def apply(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA {pragma}")

        event.listen(ctx.db.engine, "connect", apply)
    return _tuned(create_app(ctx))


class _InstantStore:
    """Stands in for the batch writer: every submit answers after BENCH_STORE_DELAY
    seconds (0: at the next turn of the event loop) and stores nothing."""

    queued_events = 0

    def __init__(self, real: Any, delay: float) -> None:
        self._real = real
        self._delay = delay

    async def submit(self, items: Any) -> list[Any]:
        import asyncio

        await asyncio.sleep(self._delay)
        return []

    async def close(self) -> None:
        await self._real.close()


def instant_store() -> FastAPI:
    """The stock app whose PagerDuty and Alertmanager routes hand events to a store that
    answers at once (or after BENCH_STORE_DELAY seconds) and keeps nothing: the ceiling
    of the HTTP stack and the route's own work, and what a store's latency alone costs
    at the benchmark's concurrency. The ingest benchmark's count check then reports every
    event lost, as it should: nothing was stored."""
    app = stock()
    app.state.ingest = _InstantStore(
        app.state.ingest, float(os.environ.get("BENCH_STORE_DELAY", "0"))
    )
    return app
