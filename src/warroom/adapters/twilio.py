"""SMS and voice calls through a Twilio-compatible REST API.

`POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json` (To, From, Body) sends a text;
`.../Calls.json` (To, From, Twiml) places a call that reads the message out. Twilio answers
the created resource as JSON with its `sid`, and errors as `{code, message, status}`.
"""

from __future__ import annotations

from typing import Any

import httpx

from warroom.notifications.ports import (
    Channel,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    failure_for_status,
    parse_retry_after,
    redact,
    shorten,
)
from warroom.notifications.render import say_twiml

DEFAULT_BASE_URL = "https://api.twilio.com"


class TwilioNotifier:
    """Channels `sms` and `voice` through one Twilio account."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")
        self._token = auth_token
        self._client = httpx.Client(
            base_url=f"{self.base_url}/2010-04-01/Accounts/{account_sid}/",
            auth=httpx.BasicAuth(account_sid, auth_token),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "warroom"},
        )

    def __repr__(self) -> str:
        return f"TwilioNotifier(base_url={self.base_url!r}, account_sid={self.account_sid!r})"

    def close(self) -> None:
        self._client.close()

    def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel == Channel.SMS:
            form = {"To": message.address, "From": self.from_number, "Body": message.body}
            return self._create("Messages.json", form)
        if message.channel == Channel.VOICE:
            twiml = message.payload.get("twiml")
            if not isinstance(twiml, str) or not twiml:
                twiml = say_twiml(message.body or message.subject)
            form = {"To": message.address, "From": self.from_number, "Twiml": twiml}
            return self._create("Calls.json", form)
        raise PermanentFailure(f"Twilio cannot send channel {message.channel!r}")

    def _create(self, resource: str, form: dict[str, str]) -> SendResult:
        try:
            response = self._client.post(resource, data=form)
        except httpx.TimeoutException as exc:
            raise TemporaryFailure(f"Twilio timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise TemporaryFailure(
                f"cannot reach Twilio: {type(exc).__name__}: {self._clean(str(exc))}"
            ) from None
        data = _json(response)
        if response.is_success:
            # Accepted is accepted: retrying a 2xx without a sid could send the text twice.
            sid = data.get("sid")
            return SendResult(provider_id=sid if isinstance(sid, str) and sid else None)
        detail = data.get("message") or response.reason_phrase
        code = data.get("code")
        reason = f"Twilio error {code}: {detail}" if code else f"Twilio: {detail}"
        raise failure_for_status(
            response.status_code,
            self._clean(str(reason)),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _clean(self, text: str) -> str:
        return shorten(redact(text, self._token))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
