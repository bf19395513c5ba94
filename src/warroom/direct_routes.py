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
from typing import Any

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


class _Deadlines:
    """The direct requests waiting on one event loop, each with its deadline, and one timer
    for the earliest. `asyncio.timeout` schedules (and cancels) a loop timer per request,
    several µs each on uvloop, on every ingest event; here a request costs two dict
    operations. All requests of a `DirectRoutes` wait the same time, so deadlines come in
    the order requests start: the first one waiting is the next due (dicts keep insertion
    order), and the timer, when it fires, cancels those due and is set for the next one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[asyncio.Task[Any], float] = {}
        self._late: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._due[task] = deadline
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._expire)

    def done(self, task: asyncio.Task[Any]) -> None:
        self._due.pop(task, None)
        if task in self._late:  # cancelled, but it had answered before the cancel arrived
            self._late.discard(task)
            task.uncancel()

    def expired(self, task: asyncio.Task[Any], cancelling: int) -> bool:
        """Whether this cancellation is the deadline's (then taken back), as
        `asyncio.timeout` tells: not when the task was cancelled from elsewhere too."""
        if task not in self._late:
            return False
        self._late.discard(task)
        return task.uncancel() <= cancelling

    def _expire(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self._due:
            task, deadline = next(iter(self._due.items()))
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self._expire)
                return
            del self._due[task]
            self._late.add(task)
            task.cancel()


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
        self._deadlines: _Deadlines | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        if self.timeout is None:
            response = await self._answer(handler, scope, receive)
        else:
            response = await self._answer_in_time(handler, scope, receive, self.timeout)
        await response(scope, receive, send)

    async def _answer_in_time(
        self, handler: Handler, scope: Scope, receive: Receive, timeout: float
    ) -> Response:
        """`_answer`, cancelled after `timeout` seconds as `asyncio.timeout` would (an outer
        cancellation still propagates), without a timer per request: see `_Deadlines`."""
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            # One per event loop (tests run one after another); requests already waiting
            # keep the one they started with, and its timer.
            deadlines = self._deadlines = _Deadlines(loop)
        task = asyncio.current_task(loop)
        assert task is not None
        cancelling = task.cancelling()
        deadlines.add(task, loop.time() + timeout)
        try:
            return await self._answer(handler, scope, receive)
        except asyncio.CancelledError:
            if not deadlines.expired(task, cancelling):
                raise
        except TimeoutError:
            pass  # answered as the deadline is, as `asyncio.timeout`'s block answered it
        finally:
            deadlines.done(task)
        FAULTS.report(
            f"no answer in {timeout:g} s to {scope['method']} {scope['path']}",
            TimeoutError("request timeout"),
        )
        return unavailable_response("no answer in time")

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
