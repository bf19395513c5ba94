"""Local stand-ins for the notification providers: real servers on 127.0.0.1.

Each fake is a context manager that listens on a free port in a background thread, stops
by itself after `lifetime` seconds at the latest, and records, in order and thread-safely,
every request it received (`requests`) and every message it accepted (`messages`).

- `FakeSmtp`: an aiosmtpd server; point `SmtpNotifier` at `host`/`port`.
- `FakeTwilio`: `Messages.json` and `Calls.json` of the 2010-04-01 API; base URL `url`.
- `FakeSlack`: `chat.postMessage`, `users.lookupByEmail`, `users.list`; base URL `url`.
- `FakeWebhookReceiver`: any POST; checks the warroom signature of each one.
- `FakeTeams`: an incoming webhook answering `1`.

Tests can make the next requests fail (`fail_next`), take a provider down and up again
(`down`, `up`, `outage`: connections are refused meanwhile), and assert the messages,
GoAlert-style: `expect_exactly((to, *fragments), ...)` checks that the messages accepted
since the last check are exactly those — no fewer, no more, in any order.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from warroom.adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

HOST = "127.0.0.1"
MAX_BODY = 1024 * 1024
DEFAULT_LIFETIME = 120.0

#: An expected message: the destination, then fragments its text must contain.
Expected = tuple[str, ...]


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake saw it, with the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(frozen=True)
class Delivered:
    """A message the provider accepted: its destination, its searchable text, the details."""

    to: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpFailure:
    status: int
    body: bytes | str | dict[str, Any] | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> _Reply:
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# --- recording and expectations ---------------------------------------------------------


class _Recorder:
    def __init__(self, lifetime: float) -> None:
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._delivered: list[Delivered] = []
        self._checked = 0
        self._failures: deque[Any] = deque()
        self._lifetime = lifetime
        self._watchdog: threading.Timer | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, failed ones included."""
        with self._cond:
            return list(self._requests)

    @property
    def messages(self) -> list[Delivered]:
        """Every message accepted, in order."""
        with self._cond:
            return list(self._delivered)

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()
            self._delivered.clear()
            self._checked = 0

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivered]:
        """Block until `count` messages in all were accepted; AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._delivered) >= count, timeout):
                raise AssertionError(
                    f"{type(self).__name__}: {len(self._delivered)} of {count} messages "
                    f"after {timeout}s: {self._delivered!r}"
                )
            return list(self._delivered)

    def expect_exactly(
        self, *expected: Expected, timeout: float = 5.0, settle: float = 0.0
    ) -> list[Delivered]:
        """The messages accepted since the last check are exactly `expected`, in any order.

        Each expectation is `(to, *fragments)`: the destination and text fragments the
        message must contain. Waits up to `timeout` for enough messages to arrive, then
        `settle` seconds more for any unexpected extra one.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._delivered) - self._checked >= len(expected), timeout
            )
        if settle:
            time.sleep(settle)
        with self._cond:
            fresh = self._delivered[self._checked :]
            self._checked = len(self._delivered)
        pairing = _match(list(expected), fresh)
        if pairing is None:
            raise AssertionError(_mismatch(type(self).__name__, list(expected), fresh))
        return fresh

    def expect_none(self, settle: float = 0.0) -> None:
        """No message was accepted since the last check."""
        self.expect_exactly(timeout=0.0, settle=settle)

    def _record(self, request: RecordedRequest | None, delivered: list[Delivered]) -> None:
        with self._cond:
            if request is not None:
                self._requests.append(request)
            self._delivered.extend(delivered)
            self._cond.notify_all()

    def _queue_failures(self, count: int, failure: Any) -> None:
        with self._cond:
            self._failures.extend([failure] * count)

    def _take_failure(self) -> Any | None:
        with self._cond:
            return self._failures.popleft() if self._failures else None

    def _arm_watchdog(self) -> None:
        self._watchdog = threading.Timer(self._lifetime, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        self._watchdog = None
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _fits(expectation: Expected, message: Delivered) -> bool:
    to, *fragments = expectation
    return message.to == to and all(fragment in message.text for fragment in fragments)


def _match(expected: list[Expected], messages: list[Delivered]) -> dict[int, int] | None:
    """A one-to-one pairing of expectations to messages covering both, or None."""
    if len(expected) != len(messages):
        return None
    pairing: dict[int, int] = {}

    def place(i: int) -> bool:
        if i == len(expected):
            return True
        for j, message in enumerate(messages):
            if j not in pairing.values() and _fits(expected[i], message):
                pairing[i] = j
                if place(i + 1):
                    return True
                del pairing[i]
        return False

    return pairing if place(0) else None


def _mismatch(name: str, expected: list[Expected], messages: list[Delivered]) -> str:
    unmatched = list(messages)
    missing: list[Expected] = []
    for expectation in expected:
        hit = next((m for m in unmatched if _fits(expectation, m)), None)
        if hit is None:
            missing.append(expectation)
        else:
            unmatched.remove(hit)
    lines = [f"{name}: expected {len(expected)} messages, got {len(messages)}"]
    lines += [f"  missing:    {e!r}" for e in missing]
    lines += [f"  unexpected: to={m.to!r} text={m.text[:200]!r}" for m in unmatched]
    return "\n".join(lines)


# --- HTTP fakes ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _FakeHttpServer
    timeout = 5  # a client that stops mid-request does not hold a thread for long

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def do_PATCH(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's records are the log."""


class _FakeHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, fake: _HttpFake) -> None:
        self.fake = fake
        super().__init__((HOST, port), _Handler)


class _HttpFake(_Recorder):
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

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.down()
        try:
            yield
        finally:
            self.up()

    def stop(self) -> None:
        self._disarm_watchdog()
        self.down()

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
                reply = _Reply(599, f"fake failed: {exc!r}".encode())
        accepted = delivered if 200 <= reply.status < 300 else []
        self._record(replace(request, status=reply.status), accepted)
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _failure_reply(self, failure: HttpFailure) -> _Reply:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(int(failure.retry_after))
        body = failure.body
        if body is None:
            return replace(self._error_reply(failure.status), headers=headers)
        if isinstance(body, dict):
            return _Reply.json(failure.status, body, headers)
        data = body.encode() if isinstance(body, str) else body
        return _Reply(failure.status, data, {"Content-Type": "text/plain", **headers})

    def _error_reply(self, status: int) -> _Reply:
        return _Reply(status, b"fake failure", {"Content-Type": "text/plain"})

    def _route(self, request: RecordedRequest) -> tuple[_Reply, list[Delivered]]:
        raise NotImplementedError


_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
_SAY = re.compile(r"<Say[^>]*>(.*?)</Say>", re.DOTALL)


class FakeTwilio(_HttpFake):
    """The Twilio REST API's Messages and Calls, with Basic auth `account_sid:auth_token`."""

    def __init__(
        self,
        *,
        account_sid: str = "AC00000000000000000000000000000001",
        auth_token: str = "fake-twilio-token",  # noqa: S107 (a fake's own test credential)
        port: int = 0,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        super().__init__(port=port, lifetime=lifetime)

    @property
    def url(self) -> str:
        return self.base

    @property
    def sms(self) -> list[Delivered]:
        return [m for m in self.messages if m.data["kind"] == "sms"]

    @property
    def calls(self) -> list[Delivered]:
        return [m for m in self.messages if m.data["kind"] == "call"]

    def _error_reply(self, status: int) -> _Reply:
        code = {429: 20429, 401: 20003, 404: 20404}.get(status, 20500 if status >= 500 else 21211)
        return _error(status, code, "fake failure")

    def _route(self, request: RecordedRequest) -> tuple[_Reply, list[Delivered]]:
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not _basic_auth_ok(request, self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate"), []
        if request.method != "POST" or not request.path.startswith(prefix):
            return _error(404, 20404, "The requested resource was not found"), []
        resource = request.path[len(prefix) :]
        form = request.form()
        to, sender = form.get("To", ""), form.get("From", "")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number."), []
        if not sender:
            return _error(400, 21603, "A 'From' phone number is required."), []
        if resource == "Messages.json":
            text = form.get("Body", "")
            if not text:
                return _error(400, 21602, "Message body is required."), []
            sid = "SM" + uuid.uuid4().hex
            data = {"sid": sid, "status": "queued", "to": to, "from": sender, "body": text}
            return _Reply.json(201, data), [
                Delivered(to, text, {"kind": "sms", "sid": sid, "from": sender})
            ]
        if resource == "Calls.json":
            twiml = form.get("Twiml", "")
            if not twiml and not form.get("Url"):
                return _error(400, 21205, "Url or Twiml is required."), []
            sid = "CA" + uuid.uuid4().hex
            spoken = " ".join(unescape(s) for s in _SAY.findall(twiml))
            data = {"sid": sid, "status": "queued", "to": to, "from": sender}
            return _Reply.json(201, data), [
                Delivered(
                    to,
                    spoken or twiml,
                    {"kind": "call", "sid": sid, "from": sender, "twiml": twiml},
                )
            ]
        return _error(404, 20404, "The requested resource was not found"), []


def _error(status: int, code: int, message: str) -> _Reply:
    return _Reply.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _basic_auth_ok(request: RecordedRequest, user: str, password: str) -> bool:
    value = request.header("Authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{user}:{password}"


class FakeSlack(_HttpFake):
    """Slack's Web API methods the adapter uses; `users` are the workspace's members.

    With `channels` given, only those conversations (and the members' ids) exist; any other
    answers `channel_not_found`. Without it, every channel exists.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-fake-slack-token",  # noqa: S107 (a fake's own test credential)
        users: list[dict[str, str]] | None = None,
        channels: set[str] | None = None,
        port: int = 0,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.token = token
        self.users = list(users or [])
        self.channels = channels
        self._ts = 1_710_495_000_000_000
        super().__init__(port=port, lifetime=lifetime)

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def fail_next_with(self, error: str, count: int = 1, *, status: int = 200) -> None:
        """Answer the next `count` calls `{"ok": false, "error": error}`."""
        self.fail_next(count, status=status, body={"ok": False, "error": error})

    def _error_reply(self, status: int) -> _Reply:
        if status == 429:
            return _Reply.json(429, {"ok": False, "error": "ratelimited"})
        if status >= 500:  # Slack's edge answers 5xx with an HTML page
            return _Reply(status, b"<html>upstream error</html>", {"Content-Type": "text/html"})
        return _Reply.json(status, {"ok": False, "error": "invalid_request"})

    def _route(self, request: RecordedRequest) -> tuple[_Reply, list[Delivered]]:
        if request.header("Authorization") != f"Bearer {self.token}":
            return _Reply.json(200, {"ok": False, "error": "invalid_auth"}), []
        method = request.path.removeprefix("/api/")
        arguments: dict[str, Any] = dict(request.query)
        content_type = request.header("Content-Type") or ""
        if request.body and content_type.startswith("application/json"):
            arguments.update(request.json())
        elif request.body:
            arguments.update(request.form())
        if method == "chat.postMessage":
            return self._post_message(arguments)
        if method == "users.lookupByEmail":
            email_address = str(arguments.get("email", "")).lower()
            user = next(
                (u for u in self.users if u.get("email", "").lower() == email_address), None
            )
            if user is None:
                return _Reply.json(200, {"ok": False, "error": "users_not_found"}), []
            return _Reply.json(200, {"ok": True, "user": _member(user)}), []
        if method == "users.list":
            members = [_member(u) for u in self.users]
            return _Reply.json(
                200, {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}
            ), []
        return _Reply.json(200, {"ok": False, "error": "unknown_method"}), []

    def _post_message(self, arguments: dict[str, Any]) -> tuple[_Reply, list[Delivered]]:
        channel = str(arguments.get("channel") or "")
        member_ids = {u["id"] for u in self.users}
        if not channel or (self.channels is not None and channel not in self.channels | member_ids):
            return _Reply.json(200, {"ok": False, "error": "channel_not_found"}), []
        text = str(arguments.get("text") or "")
        blocks = arguments.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return _Reply.json(200, {"ok": False, "error": "no_text"}), []
        with self._cond:
            self._ts += 100
            ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
        searchable = text + " " + json.dumps(blocks or [])
        delivered = Delivered(
            channel,
            searchable,
            {"ts": ts, "text": text, "blocks": blocks, "metadata": arguments.get("metadata")},
        )
        reply = {"ok": True, "channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}
        return _Reply.json(200, reply), [delivered]


def _member(user: dict[str, str]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "name": user.get("name", ""),
        "deleted": False,
        "profile": {"email": user.get("email", ""), "display_name": user.get("name", "")},
    }


class FakeWebhookReceiver(_HttpFake):
    """Accepts any POST, recording body and headers and whether the signature verifies.

    With `reject_invalid=True` a request whose signature does not verify gets 401.
    """

    def __init__(
        self,
        *,
        secret: str = "fake-webhook-secret",  # noqa: S107 (a fake's own test credential)
        reject_invalid: bool = False,
        now: Callable[[], float] = time.time,
        port: int = 0,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.secret = secret
        self.reject_invalid = reject_invalid
        self._now = now
        super().__init__(port=port, lifetime=lifetime)

    @property
    def url(self) -> str:
        return f"{self.base}/hook"

    def verifies(self, request: RecordedRequest) -> bool:
        return verify_signature(
            self.secret,
            request.body,
            timestamp=request.header(TIMESTAMP_HEADER),
            signature=request.header(SIGNATURE_HEADER),
            now=self._now(),
        )

    def _route(self, request: RecordedRequest) -> tuple[_Reply, list[Delivered]]:
        if request.method != "POST":
            return _Reply(405), []
        valid = self.verifies(request)
        if self.reject_invalid and not valid:
            return _Reply(401, b"bad signature"), []
        try:
            document = request.json()
        except ValueError:
            return _Reply(400, b"not JSON"), []
        delivered = Delivered(
            f"{self.base}{request.path}",
            request.body.decode(),
            {"json": document, "headers": request.headers, "signature_valid": valid},
        )
        return _Reply(204), [delivered]


class FakeTeams(_HttpFake):
    """A Teams incoming webhook: `1` for a card, `400` for anything else."""

    @property
    def url(self) -> str:
        return f"{self.base}/webhookb2/fake"

    def _error_reply(self, status: int) -> _Reply:
        return _Reply(status, b"Bad payload received by generic incoming webhook.")

    def _route(self, request: RecordedRequest) -> tuple[_Reply, list[Delivered]]:
        try:
            card = request.json()
        except ValueError:
            return _Reply(400, b"Bad payload received by generic incoming webhook."), []
        if not isinstance(card, dict) or not ({"@type", "type"} & card.keys()):
            return _Reply(400, b"Summary or Text is required."), []
        delivered = Delivered(f"{self.base}{request.path}", request.body.decode(), {"card": card})
        return _Reply(200, b"1", {"Content-Type": "text/plain"}), [delivered]


# --- SMTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpFailure:
    code: int
    message: str


class _SmtpHandler:
    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        failure = self.fake._take_failure()
        if failure is not None:
            return f"{failure.code} {failure.message}"
        if address.lower() in self.fake.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        text = f"{message['Subject']}\n{body.get_content() if body is not None else ''}"
        delivered = [
            Delivered(rcpt, text, {"message": message, "mail_from": envelope.mail_from})
            for rcpt in envelope.rcpt_tos
        ]
        self.fake._record(None, delivered)
        return "250 Message accepted for delivery"


class FakeSmtp(_Recorder):
    """A real SMTP server (aiosmtpd). `refused` addresses get 550 at RCPT.

    With `username`/`password`, AUTH LOGIN/PLAIN is offered (over plain text: it is local).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        super().__init__(lifetime)
        self.host = HOST
        self.port = port or free_port()
        self.refused: set[str] = set()
        self._username = username
        self._password = password
        self._controller: Controller | None = None
        self._start()
        self._arm_watchdog()

    @property
    def emails(self) -> list[EmailMessage]:
        return [m.data["message"] for m in self.messages]

    @property
    def is_up(self) -> bool:
        return self._controller is not None

    def refuse(self, address: str) -> None:
        self.refused.add(address.lower())

    def fail_next(
        self, count: int = 1, *, code: int = 451, message: str = "4.3.0 try later"
    ) -> None:
        """Answer the next `count` recipients with `code` (4xx: try later; 5xx: never)."""
        self._queue_failures(count, SmtpFailure(code, message))

    def down(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def up(self) -> None:
        if self._controller is None:
            self._start()

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.down()
        try:
            yield
        finally:
            self.up()

    def stop(self) -> None:
        self._disarm_watchdog()
        self.down()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self._username
            and auth_data.password.decode() == self._password
        )
        return AuthResult(success=ok, handled=False)

    def _start(self) -> None:
        options: dict[str, Any] = {}
        if self._username is not None:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        controller = Controller(
            _SmtpHandler(self), hostname=self.host, port=self.port, ready_timeout=5.0, **options
        )
        controller.start()
        self._controller = controller
