"""The HTTP fake every provider stand-in is built on: a real server on 127.0.0.1."""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from warroom.testing.recording import (
    DEFAULT_LIFETIME,
    HOST,
    MAX_BODY,
    Delivered,
    HttpFailure,
    RecordedRequest,
    Recorder,
    Reply,
)

# --- HTTP fakes ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _FakeHttpServer
    timeout = 5  # a client that stops mid-request does not hold a thread for long

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's records are the log."""


class _FakeHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, fake: HttpFake) -> None:
        self.fake = fake
        super().__init__((HOST, port), _Handler)


class HttpFake(Recorder):
    def __init__(self, *, port: int = 0, lifetime: float = DEFAULT_LIFETIME) -> None:
        super().__init__(lifetime)
        self.port = port
        self._server: _FakeHttpServer | None = None
        self._thread: threading.Thread | None = None
        self._state = threading.Lock()
        self._start()

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: bytes | str | dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next `count` requests with `status` (and the provider's error body)."""
        self._queue_failures(count, HttpFailure(status, body, retry_after))

    def down(self) -> None:
        """Stop listening: connections are refused until `up`."""
        with self._state:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def up(self) -> None:
        """Listen again on the same port."""
        if not self.is_up:
            self._start(rearm=False)

    def _start(self, *, rearm: bool = True) -> None:
        server = _FakeHttpServer(self.port, self)
        self.port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        with self._state:
            self._server, self._thread = server, thread
        thread.start()
        if rearm:
            self._arm_watchdog()

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        parts = urlsplit(handler.path)
        request = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        failure = self._take_failure()
        delivered: list[Delivered] = []
        if failure is not None:
            reply = self._failure_reply(failure)
        else:
            try:
                reply, delivered = self._route(request)
            except Exception as exc:  # a bug in the fake shows as a 599 in the test
                reply = Reply(599, f"fake failed: {exc!r}".encode())
        accepted = delivered if 200 <= reply.status < 300 else []
        self._record(replace(request, status=reply.status), accepted)
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _failure_reply(self, failure: HttpFailure) -> Reply:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        body = failure.body
        if body is None:
            return replace(self._error_reply(failure.status), headers=headers)
        if isinstance(body, dict):
            return Reply.json(failure.status, body, headers)
        data = body.encode() if isinstance(body, str) else body
        return Reply(failure.status, data, {"Content-Type": "text/plain", **headers})

    def _error_reply(self, status: int) -> Reply:
        return Reply(status, b"fake failure", {"Content-Type": "text/plain"})

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        raise NotImplementedError


E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")


def error_reply(status: int, code: int, message: str) -> Reply:
    return Reply.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def basic_auth_ok(request: RecordedRequest, user: str, password: str) -> bool:
    value = request.header("Authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{user}:{password}"
