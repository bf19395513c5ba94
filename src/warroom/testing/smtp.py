"""`FakeSmtp`: an aiosmtpd server on 127.0.0.1 that records the mail it accepts."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from warroom.testing.recording import (
    DEFAULT_LIFETIME,
    HOST,
    Delivered,
    Recorder,
    free_port,
)

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


class FakeSmtp(Recorder):
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
