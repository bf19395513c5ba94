"""Local stand-ins for the notification providers: real servers on 127.0.0.1.

Each fake is a context manager that listens on a free port in a background thread, stops
by itself after `lifetime` seconds at the latest, and records, in order and thread-safely,
every request it received (`requests`) and every message it accepted (`messages`).

- `FakeSmtp` (`smtp`): an aiosmtpd server; point `SmtpNotifier` at `host`/`port`.
- `FakeTwilio`: `Messages.json` and `Calls.json` of the 2010-04-01 API; base URL `url`.
- `FakeSlack`: `chat.postMessage`, `users.lookupByEmail`, `users.info`, `users.list`;
  base URL `url`.
- `FakeWebhookReceiver`: any POST; checks the warroom signature of each one.
- `FakeTeams`: an incoming webhook answering `1`.

Tests can make the next requests fail (`fail_next`), take a provider down and up again
(`down`, `up`, `outage`: connections are refused meanwhile), and assert the messages,
GoAlert-style: `expect_exactly((to, *fragments), ...)` checks that the messages accepted
since the last check are exactly those — no fewer, no more, in any order.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from html import unescape
from typing import Any

from warroom.adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from warroom.testing.http import E164, HttpFake, basic_auth_ok, error_reply
from warroom.testing.recording import (
    DEFAULT_LIFETIME,
    Delivered,
    RecordedRequest,
    Reply,
)

_SAY = re.compile(r"<Say[^>]*>(.*?)</Say>", re.DOTALL)


class FakeTwilio(HttpFake):
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

    def _error_reply(self, status: int) -> Reply:
        code = {429: 20429, 401: 20003, 404: 20404}.get(status, 20500 if status >= 500 else 21211)
        return error_reply(status, code, "fake failure")

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not basic_auth_ok(request, self.account_sid, self.auth_token):
            return error_reply(401, 20003, "Authenticate"), []
        if request.method != "POST" or not request.path.startswith(prefix):
            return error_reply(404, 20404, "The requested resource was not found"), []
        resource = request.path[len(prefix) :]
        form = request.form()
        to, sender = form.get("To", ""), form.get("From", "")
        if not E164.match(to):
            return error_reply(400, 21211, f"The 'To' number {to} is not a valid phone number."), []
        if not sender:
            return error_reply(400, 21603, "A 'From' phone number is required."), []
        if resource == "Messages.json":
            text = form.get("Body", "")
            if not text:
                return error_reply(400, 21602, "Message body is required."), []
            sid = "SM" + uuid.uuid4().hex
            data = {"sid": sid, "status": "queued", "to": to, "from": sender, "body": text}
            return Reply.json(201, data), [
                Delivered(to, text, {"kind": "sms", "sid": sid, "from": sender})
            ]
        if resource == "Calls.json":
            twiml = form.get("Twiml", "")
            if not twiml and not form.get("Url"):
                return error_reply(400, 21205, "Url or Twiml is required."), []
            sid = "CA" + uuid.uuid4().hex
            spoken = " ".join(unescape(s) for s in _SAY.findall(twiml))
            data = {"sid": sid, "status": "queued", "to": to, "from": sender}
            return Reply.json(201, data), [
                Delivered(
                    to,
                    spoken or twiml,
                    {"kind": "call", "sid": sid, "from": sender, "twiml": twiml},
                )
            ]
        return error_reply(404, 20404, "The requested resource was not found"), []


class FakeSlack(HttpFake):
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

    def _error_reply(self, status: int) -> Reply:
        if status == 429:
            return Reply.json(429, {"ok": False, "error": "ratelimited"})
        if status >= 500:  # Slack's edge answers 5xx with an HTML page
            return Reply(status, b"<html>upstream error</html>", {"Content-Type": "text/html"})
        return Reply.json(status, {"ok": False, "error": "invalid_request"})

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        if request.header("Authorization") != f"Bearer {self.token}":
            return Reply.json(200, {"ok": False, "error": "invalid_auth"}), []
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
                return Reply.json(200, {"ok": False, "error": "users_not_found"}), []
            return Reply.json(200, {"ok": True, "user": _member(user)}), []
        if method == "users.info":
            wanted = str(arguments.get("user", ""))
            user = next((u for u in self.users if u["id"] == wanted), None)
            if user is None:
                return Reply.json(200, {"ok": False, "error": "user_not_found"}), []
            return Reply.json(200, {"ok": True, "user": _member(user)}), []
        if method == "auth.test":
            identity = {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Fake Workspace",
                "user": "warroom",
                "team_id": "T0FAKE",
                "user_id": "U0WARROOM",
                "bot_id": "BFAKE",
            }
            return Reply.json(200, identity), []
        if method == "users.list":
            members = [_member(u) for u in self.users]
            return Reply.json(
                200, {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}
            ), []
        return Reply.json(200, {"ok": False, "error": "unknown_method"}), []

    def _post_message(self, arguments: dict[str, Any]) -> tuple[Reply, list[Delivered]]:
        channel = str(arguments.get("channel") or "")
        member_ids = {u["id"] for u in self.users}
        if not channel or (self.channels is not None and channel not in self.channels | member_ids):
            return Reply.json(200, {"ok": False, "error": "channel_not_found"}), []
        text = str(arguments.get("text") or "")
        blocks = arguments.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return Reply.json(200, {"ok": False, "error": "no_text"}), []
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
        return Reply.json(200, reply), [delivered]


def _member(user: dict[str, str]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "name": user.get("name", ""),
        "deleted": False,
        "profile": {"email": user.get("email", ""), "display_name": user.get("name", "")},
    }


class FakeWebhookReceiver(HttpFake):
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

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        if request.method != "POST":
            return Reply(405), []
        valid = self.verifies(request)
        if self.reject_invalid and not valid:
            return Reply(401, b"bad signature"), []
        try:
            document = request.json()
        except ValueError:
            return Reply(400, b"not JSON"), []
        delivered = Delivered(
            f"{self.base}{request.path}",
            request.body.decode(),
            {"json": document, "headers": request.headers, "signature_valid": valid},
        )
        return Reply(204), [delivered]


class FakeTeams(HttpFake):
    """A Teams incoming webhook: `1` for a card, `400` for anything else."""

    @property
    def url(self) -> str:
        return f"{self.base}/webhookb2/fake"

    def _error_reply(self, status: int) -> Reply:
        return Reply(status, b"Bad payload received by generic incoming webhook.")

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        try:
            card = request.json()
        except ValueError:
            return Reply(400, b"Bad payload received by generic incoming webhook."), []
        if not isinstance(card, dict) or not ({"@type", "type"} & card.keys()):
            return Reply(400, b"Summary or Text is required."), []
        delivered = Delivered(f"{self.base}{request.path}", request.body.decode(), {"card": card})
        return Reply(200, b"1", {"Content-Type": "text/plain"}), [delivered]
