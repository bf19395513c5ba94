"""Direct dispatch for the alert-ingest routes (and `/healthz`, their no-op twin).

Monitoring tools post alerts far more often than people use everything else, and an ingest
request spent more time in the layers around it than in its own work: FastAPI's route
matching (a scan of every route), dependency solving and exception layers, and the guard's
per-request task, two scans of every bearer route's pattern and a copy of the body. This
middleware sits outermost and answers exactly those routes itself, by method and path, with
the same handler functions the router registers (they take a `Request` and return a
`Response`), so their behaviour is defined once. Every other request passes through
untouched.

For its routes it applies the guard's rules itself (`hardening.middleware`), in the same
order and with the same answers, without a task per request: a NUL character in a GET's
filters is a 422; a body over `max_body` is a 413 (checked against Content-Length, then
counted while reading); a form field with a NUL character is a 400; no answer within
`timeout` seconds is a 503 with Retry-After (the wait is cancelled where it stands, and
work already queued goes on); a database failure is a 503, anything else a 500 without
details. None of these routes takes a bearer token (`test_direct_routes` checks it), so
the guard's authentication and JSON checks for bearer routes do not apply; the intake
handlers check their bodies themselves. The body is read once, here, and handed to the
handler in the scope (`BODY`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.errors import WarroomError
from warroom.hardening.faults import (
    FAULTS,
    database_unavailable,
    internal_error,
    is_database_unavailable,
    unavailable_response,
)
from warroom.hardening.middleware import (
    BODY_METHODS,
    declared_length,
    header,
    nul_parameter,
    problem,
    read_bounded,
    refuse_body,
    too_large,
)

__all__ = ["BODY", "DirectApp", "DirectRoutes", "error_response", "internal_error"]

Handler = Callable[[Request], Awaitable[Response]]

#: The scope key under which a direct route's handler finds its body, already read.
BODY = "warroom.body"


def error_response(exc: WarroomError) -> JSONResponse:
    """The answer to a domain error, the same on every route."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


class DirectRoutes:
    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[tuple[str, str], Handler],
        *,
        max_body: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.app = app
        self._routes = dict(routes)
        self.max_body = max_body
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._answer(handler, scope, receive)
        except TimeoutError:
            FAULTS.report(
                f"no answer in {self.timeout:g} s to {scope['method']} {scope['path']}",
                TimeoutError("request timeout"),
            )
            response = unavailable_response("no answer in time")
        await response(scope, receive, send)

    async def _answer(self, handler: Handler, scope: Scope, receive: Receive) -> Response:
        method = scope["method"]
        if method not in BODY_METHODS:
            query = scope.get("query_string", b"")
            name = nul_parameter(query) if query else None
            if name is not None:
                return problem(422, "validation_error", name, "contains a NUL character")
        elif self.max_body is not None:
            if declared_length(scope) > self.max_body:
                return too_large(self.max_body)
            body = await read_bounded(receive, self.max_body)
            if body is None:
                return too_large(self.max_body)
            refusal = refuse_body(body, header(scope, b"content-type").lower(), json=False)
            if refusal is not None:
                return refusal
            scope[BODY] = body
        request = Request(scope, receive)
        if BODY in scope:
            request._body = scope[BODY]  # what Request.body() and .stream() then return
        try:
            return await handler(request)
        except WarroomError as exc:
            return error_response(exc)
        except Exception as exc:
            where = f"{method} {scope['path']}"
            if is_database_unavailable(exc):
                return database_unavailable(where, exc)
            FAULTS.report(f"unhandled error on {where}", exc)
            return internal_error()


class DirectApp(FastAPI):
    """FastAPI whose direct routes (`serve_directly`) are answered before any of its own
    layers (its telemetry hook, error and body-limit middleware, and every middleware
    added with `add_middleware`); every other request goes through all of them."""

    _direct: DirectRoutes | None = None

    def serve_directly(
        self, routes: Mapping[tuple[str, str], Handler], *, max_body: int, timeout: float
    ) -> None:
        self._direct = DirectRoutes(super().__call__, routes, max_body=max_body, timeout=timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._direct is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets for its own routes
        await self._direct(scope, receive, send)
