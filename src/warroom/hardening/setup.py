"""Wire the guard and the OpenAPI security scheme into the application."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from warroom.hardening.middleware import Guard
from warroom.settings import Settings


def install_guard(
    app: FastAPI, settings: Settings, *, never_blocks: Callable[[str], bool] | None = None
) -> None:
    """Put the guard outermost (after the server's own error layer); `never_blocks` names
    the GET paths answered from memory, which need no request timeout."""
    app.add_middleware(
        Guard,
        max_body=settings.max_body_bytes,
        timeout=settings.request_timeout_seconds,
        never_blocks=never_blocks,
    )
