"""Direct dispatch for the alert-ingest routes.

Monitoring tools post alerts far more often than people use everything else, and an ingest
request spends more time in FastAPI's route matching (a scan of every route), dependency
solving and exception layers than in its own work. This middleware answers exactly those
routes itself, by method and path, with the same handler functions the router registers
(they take a `Request` and return a `Response`), so their behaviour is defined once. Every
other request passes through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.errors import WarroomError

log = logging.getLogger("warroom")

Handler = Callable[[Request], Awaitable[Response]]


def error_response(exc: WarroomError) -> JSONResponse:
    """The answer to a domain error, the same on every route."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


def internal_error() -> JSONResponse:
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


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler]) -> None:
        self.app = app
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await handler(Request(scope, receive))
        except WarroomError as exc:
            response = error_response(exc)
        except Exception as exc:
            from warroom.hardening.faults import (
                FAULTS,
                database_unavailable,
                is_database_unavailable,
            )

            where = f"{scope['method']} {scope['path']}"
            if is_database_unavailable(exc):
                response = database_unavailable(where, exc)
            else:
                FAULTS.report(f"unhandled error on {where}", exc)
                response = internal_error()
        await response(scope, receive, send)
