"""Signed outgoing webhooks: a JSON POST the receiver can prove came from this warroom.

Every request carries

- `X-Warroom-Timestamp`: Unix seconds when it was signed;
- `X-Warroom-Signature`: `sha256=<hex>`, the HMAC-SHA256 with the shared secret
  (`WARROOM_WEBHOOK_SECRET`) of the bytes `<timestamp>.<raw body>`;
- `Idempotency-Key`: the same on every retry of the same message.

To verify (the same steps as `verify_signature`): read the raw body before parsing it;
compute `hmac_sha256(secret, timestamp + "." + body)` as hex; compare it with the header's
value after `sha256=` in constant time; refuse timestamps more than five minutes away
from your clock (replays); deduplicate on `Idempotency-Key`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from warroom.notifications.ports import (
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    failure_for_status,
    parse_retry_after,
    redact,
    shorten,
)

SIGNATURE_HEADER = "X-Warroom-Signature"
TIMESTAMP_HEADER = "X-Warroom-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300.0


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Warroom-Signature` value for `body` signed at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when `signature` signs `body` at `timestamp`, and `timestamp` is recent."""
    if not timestamp or not signature or not timestamp.strip().isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp.strip(), body), signature.strip())


def webhook_document(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON sent: the rendered `payload["document"]`, or a plain one from the message."""
    rendered = message.payload.get("document")
    document: dict[str, Any]
    if isinstance(rendered, dict) and rendered:
        document = dict(rendered)
    else:
        document = {
            "version": 1,
            "event": "notification",
            "subject": message.subject,
            "text": message.body,
            "incident": {"key": message.incident} if message.incident else None,
            "ack_url": message.ack_url,
        }
    document.setdefault("idempotency_key", message.idempotency_key)
    return document


class WebhookNotifier:
    """POST `OutgoingMessage`s of channel `webhook` to the URL in their address."""

    def __init__(
        self,
        *,
        secret: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is needed to sign requests")
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "warroom-webhook"},
        )

    def __repr__(self) -> str:
        return "WebhookNotifier()"

    def close(self) -> None:
        self._client.close()

    def send(self, message: OutgoingMessage) -> SendResult:
        url = message.address.strip()
        if not url.startswith(("https://", "http://")):
            raise PermanentFailure(f"a webhook address is an http(s) URL, not {url[:80]!r}")
        body = json.dumps(webhook_document(message), separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: message.idempotency_key,
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"webhook timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise TemporaryFailure(
                f"cannot reach webhook: {type(exc).__name__}: {self._clean(str(exc))}"
            ) from None
        except httpx.InvalidURL as exc:
            raise PermanentFailure(f"invalid webhook URL: {self._clean(str(exc))}") from None
        if response.is_success:
            return SendResult(provider_id=response.headers.get("X-Request-Id"))
        if response.is_redirect:
            raise PermanentFailure(
                f"webhook answered {response.status_code} (redirects are not followed)"
            )
        raise failure_for_status(
            response.status_code,
            self._clean(response.text) or response.reason_phrase,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _clean(self, text: str) -> str:
        return shorten(redact(text, self._secret), 200)
