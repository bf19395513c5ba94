"""Database faults answered 503 with Retry-After, and tracebacks rate-limited in the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse

from warroom.db import describe_failure

log = logging.getLogger("warroom")

RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException) -> bool:
    """True for failures of the database itself (down, hung, locked, timed out), as
    opposed to a fault in the request or in warroom."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def unavailable_response(reason: str = "database unavailable") -> JSONResponse:
    """503 with Retry-After: the request may succeed later, unchanged."""
    return JSONResponse(
        {
            "error": {
                "code": "unavailable",
                "message": f"{reason}; retry later",
                "details": {"retry_after": RETRY_AFTER_SECONDS},
            }
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class FaultLog:
    """Logs a traceback per kind of failure at most once per `interval` seconds; the rest
    are counted and the count is logged with the next traceback of that kind."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self._interval, self._clock = interval, clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, message: str, exc: BaseException) -> bool:
        """Log `exc` under `message`; return whether the traceback was written."""
        kind = type(exc).__qualname__
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            skipped = self._suppressed.pop(kind, 0)
        note = (
            f" ({skipped} more like it in the last {self._interval:g} s not shown)"
            if skipped
            else ""
        )
        log.error("%s%s", message, note, exc_info=exc)
        return True


FAULTS = FaultLog()


def internal_error() -> JSONResponse:
    """The answer to an unexpected error: no exception name, no details."""
    return JSONResponse(
        {
            "error": {
                "code": "internal_error",
                "message": "internal error; the server log has the details",
                "details": None,
            }
        },
        status_code=500,
    )


def database_unavailable(where: str, exc: BaseException) -> JSONResponse:
    """Log (rate-limited) and answer 503 for a database failure seen at `where`."""
    reason = describe_failure(exc)
    FAULTS.report(f"database unavailable ({reason}) on {where}", exc)
    return unavailable_response(f"database unavailable ({reason})")
