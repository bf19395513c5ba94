"""The port every notification channel implements, and how its failures are classified.

The engine hands a `Notifier` one `OutgoingMessage` at a time. The notifier either returns
a `SendResult` (the provider accepted the message) or raises one of two exceptions:

- `TemporaryFailure`: worth retrying later with the same idempotency key — network errors,
  timeouts, connection refused, HTTP 5xx, 408 and 429 (with the provider's Retry-After),
  SMTP 4xx replies.
- `PermanentFailure`: retrying cannot help, so the engine falls back to the person's next
  contact method — HTTP 4xx (bad number, unknown channel, 401 bad credentials), SMTP 5xx
  replies (recipient refused), a channel that is not configured.

Each adapter maps its provider's errors onto these two; `failure_for_status` is the shared
rule for HTTP status codes. Reasons are short, human-readable, and never carry secrets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    WEBHOOK = "webhook"
    TEAMS = "teams"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message for one destination, as the outbox row holds it.

    `payload` carries the channel-specific rendering (see `warroom.notifications.render`):
    `blocks` for Slack, `card` for Teams, `document` for webhooks, `twiml` for voice.
    """

    channel: str
    address: str
    subject: str
    body: str
    idempotency_key: str
    ack_url: str | None = None
    incident: str | None = None  # the incident key, e.g. "INC-42"
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message; `provider_id` is its id for it, when it gives one."""

    provider_id: str | None = None


class DeliveryFailure(Exception):
    """A message was not handed to the provider."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(DeliveryFailure):
    """Retry later; `retry_after` is the provider's own hint in seconds, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"TemporaryFailure({self.reason!r}, retry_after={self.retry_after!r})"


class PermanentFailure(DeliveryFailure):
    """Retrying cannot help: try the person's next contact method instead."""

    def __repr__(self) -> str:
        return f"PermanentFailure({self.reason!r})"


@runtime_checkable
class Notifier(Protocol):
    """Hand one message to one outside system."""

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver `message` or raise `TemporaryFailure` / `PermanentFailure`."""
        ...


# --- shared classification rules -------------------------------------------------------

#: HTTP statuses that are worth retrying besides every 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def is_temporary_status(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUSES


def failure_for_status(
    status: int, reason: str, *, retry_after: float | None = None
) -> TemporaryFailure | PermanentFailure:
    """The failure an unsuccessful HTTP status means (the caller raises it)."""
    text = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
    if is_temporary_status(status):
        return TemporaryFailure(text, retry_after=retry_after)
    return PermanentFailure(text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: delta seconds or an HTTP date. None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def redact(text: str, *secrets: str | None) -> str:
    """Remove every given secret from `text` (for reasons built from provider answers)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def shorten(text: str, limit: int = 300) -> str:
    """One line, at most `limit` characters: provider answers can be whole HTML pages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
