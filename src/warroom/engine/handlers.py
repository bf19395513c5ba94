"""Timer handlers by kind. Domain modules register theirs; the timer job looks them up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from warroom.context import AppContext
from warroom.engine.models import Timer

Handler = Callable[[AppContext, Session, Timer, datetime], None]

HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not handler:
            raise ValueError(f"two handlers for timer kind {kind!r}")
        HANDLERS[kind] = handler
        return handler

    return register


BatchHandler = Callable[[AppContext, Session, list[Timer], datetime], None]

#: Optional set-based handlers: several due timers of one kind in one call, with the same
#: effects as the kind's handler run on each in turn (the twin tests hold them to it).
#: The timer job uses them when it runs a batch optimistically; when anything in the
#: batch fails it runs the timers again one handler call each, a savepoint each.
BATCH_HANDLERS: dict[str, BatchHandler] = {}


def handles_batch(kind: str) -> Callable[[BatchHandler], BatchHandler]:
    def register(handler: BatchHandler) -> BatchHandler:
        if kind in BATCH_HANDLERS and BATCH_HANDLERS[kind] is not handler:
            raise ValueError(f"two batch handlers for timer kind {kind!r}")
        BATCH_HANDLERS[kind] = handler
        return handler

    return register
