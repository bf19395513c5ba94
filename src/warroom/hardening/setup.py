"""Wire the guard and the OpenAPI security scheme into the application."""

from __future__ import annotations

from fastapi import FastAPI

from warroom.hardening.middleware import Guard
from warroom.settings import Settings


def install_guard(app: FastAPI, settings: Settings) -> None:
    """Put the guard outermost (after the server's own error layer)."""
    app.add_middleware(
        Guard, max_body=settings.max_body_bytes, timeout=settings.request_timeout_seconds
    )
