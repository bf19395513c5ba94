"""Email over SMTP with the standard library.

One connection per message keeps the adapter stateless and thread-safe; pages are rare
enough that connection reuse is not worth a pool. The Message-ID is derived from the
idempotency key, so a retried send after a lost reply is recognisable as the same message
by any receiver that deduplicates on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from warroom.notifications.ports import (
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    redact,
    shorten,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")


def message_id(idempotency_key: str, domain: str) -> str:
    """`<key@domain>`; a key with characters a Message-ID cannot hold gets a hash suffix."""
    local = _UNSAFE.sub("-", idempotency_key).strip(".")[:120] or "warroom"
    if local != idempotency_key:
        local += "." + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"<{local}@{domain}>"


class SmtpNotifier:
    """Send `OutgoingMessage`s of channel `email` through one SMTP relay."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if "@" not in parseaddr(sender)[1]:
            raise ValueError(f"the sender {sender!r} is not an email address")
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout
        self._ssl_context = ssl_context
        self.domain = parseaddr(sender)[1].rpartition("@")[2] or "warroom.invalid"
        # The EHLO name, looked up once: smtplib would resolve it again on every connection.
        self.local_hostname = local_hostname or socket.getfqdn()

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, sender={self.sender!r})"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message that `send` hands to the relay."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.address
        # A subject is one line; a newline in it would start a new header.
        email["Subject"] = " ".join(message.subject.split()) or "(no subject)"
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, self.domain)
        # Keep vacation responders and ticket systems from answering a page.
        email["Auto-Submitted"] = "auto-generated"
        email["X-Auto-Response-Suppress"] = "All"
        if message.incident:
            email["X-Warroom-Incident"] = " ".join(message.incident.split())
        if unsubscribe := message.payload.get("unsubscribe_url"):  # status page subscribers
            email["List-Unsubscribe"] = f"<{''.join(str(unsubscribe).split())}>"
        email.set_content(message.body or message.subject)
        html = message.payload.get("html")
        if isinstance(html, str):  # e.g. a scheduled report: the text stays the first part
            email.add_alternative(html, subtype="html")
        for attachment in message.payload.get("attachments") or []:
            maintype, _, subtype = str(attachment["content_type"]).partition("/")
            email.add_attachment(
                base64.b64decode(attachment["base64"]),
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=str(attachment["filename"]),
            )
        calendar = message.payload.get("calendar")
        if isinstance(calendar, str):  # an invitation (RFC 6047: iMIP)
            email.add_alternative(calendar, subtype="calendar", params={"method": "REQUEST"})
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            email = self.build(message)
        except (ValueError, TypeError) as exc:  # e.g. an address the header cannot hold
            raise PermanentFailure(f"cannot build the email: {exc}") from None
        try:
            with smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            ) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise self._reply_failure("recipient refused", code, reply) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentFailure(f"SMTP server does not support it: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            raise self._reply_failure("SMTP error", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise TemporaryFailure(f"SMTP server disconnected: {exc}") from None
        except smtplib.SMTPException as exc:
            raise TemporaryFailure(f"SMTP error: {self._clean(str(exc))}") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentFailure(f"SMTP TLS certificate rejected: {exc.verify_message}") from None
        except (OSError, TimeoutError) as exc:  # refused, unreachable, timed out, TLS reset
            raise TemporaryFailure(
                f"cannot reach SMTP server {self.host}:{self.port}: {type(exc).__name__}: {exc}"
            ) from None
        if refused:
            # Several recipients with some refused cannot happen with one address, but
            # say so rather than claim success.
            code, reply = next(iter(refused.values()))
            raise self._reply_failure("recipient refused", code, reply)
        return SendResult(provider_id=email["Message-ID"])

    def _clean(self, text: str) -> str:
        return shorten(redact(text, self._password))

    def _reply_failure(
        self, what: str, code: int, reply: bytes | str
    ) -> TemporaryFailure | PermanentFailure:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        reason = f"{what}: {code} {self._clean(text)}"
        # SMTP says it itself: 4xx is "try again later", 5xx is "never".
        if 400 <= code < 500 or code == -1:
            return TemporaryFailure(reason)
        return PermanentFailure(reason)
