"""The guard in front of every route: time, size, authentication before reading, storable
input, and database faults as 503 (docs/robustness.md).

In order, for each HTTP request:

1. A NUL character in a filter (the query string of a read or of a bearer route) is a
   422 naming the parameter (no database can store or compare it); in the path, a 404.
2. A body on a route that needs a bearer token is not read until the token is known:
   without one (or with an unknown one) the answer is 401 and the body is never read.
3. A body larger than `max_body` is 413, checked against Content-Length before reading
   and counted while reading; the body is then handed on as read.
4. On bearer routes, a JSON body that can never be stored (deep nesting, a lone
   surrogate, a NUL character, NaN or Infinity) is a 400 naming the field, as on the
   intake routes; on every route a form field with a NUL character is one too.
5. A request that has not started its answer after `timeout` seconds is answered 503
   with Retry-After (its work is abandoned, its late answer dropped).
6. A database failure that escapes a route is a 503 with Retry-After; anything else is a
   500 without the exception's name. Tracebacks are rate-limited (`faults.FAULTS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom import jsonbody
from warroom.hardening.faults import (
    FAULTS,
    database_unavailable,
    internal_error,
    is_database_unavailable,
    unavailable_response,
)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Web forms that read their own multipart body as it streams (evidence uploads): the
#: route checks the session, the CSRF token and the size itself, before and while it
#: reads. Paths are `re` patterns matched in full; `stream_form` adds one.
STREAMING_FORMS: list[re.Pattern[str]] = []


def stream_form(pattern: str) -> None:
    STREAMING_FORMS.append(re.compile(f"^{pattern}$"))


_NUL = re.compile(rb"%00|\x00", re.IGNORECASE)


def problem(status: int, code: str, field: str, message: str) -> JSONResponse:
    """The API's error body naming one field."""
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": f"{field}: {message}",
                "details": [{"field": field, "message": message}],
            }
        },
        status_code=status,
    )


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "unauthorized", "message": message, "details": None}},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"body: larger than {limit} bytes",
                "details": [{"field": "body", "message": f"at most {limit} bytes"}],
            }
        },
        status_code=413,
        headers={"Connection": "close"},
    )


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and 0 < len(token) <= 512:
                return token
            return None
    return None


def header(scope: Scope, wanted: bytes) -> str:
    """The first header of this (lower-case) name, or ""."""
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


def declared_length(scope: Scope) -> int:
    """The body's Content-Length, or -1 when it is absent or not a number."""
    declared = header(scope, b"content-length")
    return int(declared) if declared.isdigit() else -1


def nul_parameter(raw: bytes) -> str | None:
    """The name of the first query or form parameter holding a NUL character."""
    if not _NUL.search(raw):
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if "\x00" in value or "\x00" in name:
            return name.replace("\x00", "\\x00") or "(unnamed)"
    return "query"


class Guard:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        timeout: float,
        never_blocks: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout = timeout
        # Reads answered from memory (the status page's snapshot): no request timeout to
        # arm, since they cannot hang, and a crowd costs no task per request.
        self._never_blocks = never_blocks
        self._bearer_routes: list[tuple[re.Pattern[str], set[str]]] | None = None
        self._streaming_routes: list[tuple[re.Pattern[str], set[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._streams(scope):
            await self._stream(scope, receive, send)
            return
        if self._streams_form(scope):
            await self._stream(scope, receive, send, bearer=False)
            return
        if (
            self._never_blocks is not None
            and scope["method"] in ("GET", "HEAD")
            and self._never_blocks(scope["path"])
        ):
            await self._handle(scope, receive, send, {"started": False, "abandoned": False})
            return
        state = {"started": False, "abandoned": False}

        async def guarded_send(message: Message) -> None:
            if state["abandoned"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        task = asyncio.ensure_future(self._handle(scope, receive, guarded_send, state))
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if task in done:
            task.result()
            return
        # The work goes on in its thread (it cannot be stopped) but its answer is dropped.
        task.add_done_callback(_retrieve)
        if not state["started"]:
            state["abandoned"] = True
            FAULTS.report(
                f"no answer in {self.timeout:g} s to {scope['method']} {scope['path']}",
                TimeoutError("request timeout"),
            )
            await unavailable_response("no answer in time")(scope, receive, send)
        else:
            await task

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: dict[str, bool],
        *,
        checked: bool = True,
    ) -> None:
        try:
            if checked:
                await self._checked(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        except Exception as exc:
            if state["started"]:
                FAULTS.report(f"error after answering {scope['method']} {scope['path']}", exc)
                return
            where = f"{scope['method']} {scope['path']}"
            if is_database_unavailable(exc):
                response = database_unavailable(where, exc)
            else:
                FAULTS.report(f"unhandled error on {where}", exc)
                response = internal_error()
            await response(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if "\x00" in path:
            await problem(404, "not_found", "path", "nothing here has a NUL character")(
                scope, receive, send
            )
            return
        # Filters are read on GET; intake routes (POST with a key in the URL) answer an
        # unusable key as an unknown one themselves.
        filters = scope["method"] in ("GET", "HEAD") or self._needs_bearer(scope)
        name = nul_parameter(scope.get("query_string", b"")) if filters else None
        if name is not None:
            await problem(422, "validation_error", name, "contains a NUL character")(
                scope, receive, send
            )
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        protected = self._needs_bearer(scope)
        if protected:
            token = _bearer(scope)
            if token is None:
                await _unauthorized("missing bearer token")(scope, receive, send)
                return
            if not await run_in_threadpool(_token_known, scope, token):
                await _unauthorized("invalid or revoked token")(scope, receive, send)
                return
        declared = header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body:
            await too_large(self.max_body)(scope, receive, send)
            return
        body = await read_bounded(receive, self.max_body)
        if body is None:
            await too_large(self.max_body)(scope, receive, send)
            return
        refusal = refuse_body(body, header(scope, b"content-type").lower(), json=protected)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _streams(self, scope: Scope) -> bool:
        """Whether this is a raw upload to a route that streams its body itself (marked
        `x-warroom-streaming` in the OpenAPI document: it bounds the size on its own)."""
        if scope["method"] not in BODY_METHODS:
            return False
        kind = header(scope, b"content-type").lower().split(";")[0].strip()
        if kind != "application/octet-stream":
            return False
        if self._streaming_routes is None:
            self._streaming_routes = _marked_routes(scope.get("app"), "x-warroom-streaming")
        method, path = scope["method"], scope["path"]
        return any(
            method in methods and pattern.match(path) for pattern, methods in self._streaming_routes
        )

    def _streams_form(self, scope: Scope) -> bool:
        """Whether this is a multipart form to a web route that streams it (`STREAMING_FORMS`)."""
        if scope["method"] != "POST" or not STREAMING_FORMS:
            return False
        kind = header(scope, b"content-type").lower().split(";")[0].strip()
        path = scope["path"]
        return kind == "multipart/form-data" and any(p.match(path) for p in STREAMING_FORMS)

    async def _stream(
        self, scope: Scope, receive: Receive, send: Send, *, bearer: bool = True
    ) -> None:
        """Authenticate (a web form: the route does, from its session), then hand the
        unread body to the route: no body limit here and no request timeout (an upload
        takes as long as the link needs; statements stay bounded)."""
        if bearer:
            token = _bearer(scope)
            if token is None:
                await _unauthorized("missing bearer token")(scope, receive, send)
                return
            if not await run_in_threadpool(_token_known, scope, token):
                await _unauthorized("invalid or revoked token")(scope, receive, send)
                return
        state = {"started": False, "abandoned": False}

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self._handle(scope, receive, tracked_send, state, checked=False)

    def _needs_bearer(self, scope: Scope) -> bool:
        if self._bearer_routes is None:
            self._bearer_routes = _bearer_routes(scope.get("app"))
        method, path = scope["method"], scope["path"]
        return any(
            method in methods and pattern.match(path) for pattern, methods in self._bearer_routes
        )


def _bearer_routes(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """The (path pattern, methods) of every operation the OpenAPI document marks as needing
    a bearer token (the document is FastAPI's public account of the routes)."""
    return _marked_routes(app, "security")


def _marked_routes(app: Any, mark: str) -> list[tuple[re.Pattern[str], set[str]]]:
    """The (path pattern, methods) of every operation whose OpenAPI entry has `mark`."""
    found = []
    paths = app.openapi().get("paths", {}) if app is not None else {}
    for template, operations in paths.items():
        methods = {
            m.upper() for m, op in operations.items() if isinstance(op, dict) and op.get(mark)
        }
        if methods:
            parts = re.split(r"\{[^}]+\}", template)
            pattern = "[^/]+".join(re.escape(part) for part in parts)
            found.append((re.compile(f"^{pattern}$"), methods))
    return found


def _token_known(scope: Scope, token: str) -> bool:
    from warroom.auth import service as tokens

    ctx = scope["app"].state.ctx
    with ctx.db.unit_of_work() as uow:
        return tokens.authenticate(uow.session, token=token, now=ctx.clock.now()) is not None


async def read_bounded(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def refuse_body(body: bytes, content_type: str, *, json: bool) -> JSONResponse | None:
    if content_type.startswith("application/x-www-form-urlencoded"):
        name = nul_parameter(body)
        if name is not None:
            return problem(400, "bad_request", name, "contains a NUL character (\\u0000)")
        return None
    if json and body and ("json" in content_type or not content_type):
        try:
            jsonbody.parse(body)
        except jsonbody.Unstorable as exc:
            return problem(400, "bad_request", exc.field, exc.problem)
        except (ValueError, UnicodeDecodeError):
            return None  # not JSON: the route's own validation answers
    return None


def _retrieve(task: asyncio.Future[Any]) -> None:
    with contextlib.suppress(BaseException):
        task.exception()
