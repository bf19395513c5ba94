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
