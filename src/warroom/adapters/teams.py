"""Microsoft Teams incoming webhooks: POST the rendered card to the webhook URL.

A classic connector webhook answers 200 with the body `1` when it accepted the card. It
also answers 200 when Teams itself refused the message, with the refusal as text ("…
Microsoft Teams endpoint returned HTTP error 429 …"), so any other 200 body is a failure,
classified by the status it quotes. Workflows (Power Automate) webhooks answer 202 with
an empty body, which is success too.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from warroom.notifications.ports import (
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    failure_for_status,
    is_temporary_status,
    parse_retry_after,
    shorten,
)

_QUOTED_STATUS = re.compile(r"HTTP error (\d{3})")


def teams_card(message: OutgoingMessage) -> dict[str, Any]:
    """The rendered `payload["card"]`, or a minimal MessageCard from subject and body."""
    card = message.payload.get("card")
    if isinstance(card, dict) and card:
        return card
    minimal: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.subject or message.body[:80],
        "title": message.subject,
        "text": message.body,
    }
    if message.ack_url:
        minimal["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Acknowledge",
                "targets": [{"os": "default", "uri": message.ack_url}],
            }
        ]
    return minimal


class TeamsNotifier:
    """Channel `teams`: the address is the incoming webhook's URL."""

    def __init__(
        self, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "warroom"},
        )

    def __repr__(self) -> str:
        return "TeamsNotifier()"

    def close(self) -> None:
        self._client.close()

    def send(self, message: OutgoingMessage) -> SendResult:
        url = message.address.strip()
        if not url.startswith(("https://", "http://")):
            raise PermanentFailure("a Teams address is the incoming webhook's URL")
        try:
            response = self._client.post(url, json=teams_card(message))
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"Teams timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            # The webhook URL is itself a credential: name only the kind of error.
            raise TemporaryFailure(f"cannot reach Teams: {type(exc).__name__}") from None
        except httpx.InvalidURL:
            raise PermanentFailure("invalid Teams webhook URL") from None
        text = response.text.strip()
        if response.status_code == 200 and text == "1":
            return SendResult(provider_id=None)
        if response.status_code == 202 or (response.is_success and not text):
            return SendResult(provider_id=None)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.is_success:
            quoted = _QUOTED_STATUS.search(text)
            reason = f"Teams refused the card: {shorten(text, 200)}"
            if quoted and is_temporary_status(int(quoted.group(1))):
                raise TemporaryFailure(reason, retry_after=retry_after)
            raise PermanentFailure(reason)
        raise failure_for_status(
            response.status_code, shorten(text, 200) or response.reason_phrase,
            retry_after=retry_after,
        )  # fmt: skip
