"""Which channels this process can send on, built once from the settings.

A channel whose settings are absent is simply not in the map: a message for it fails
permanently ("channel not configured") and the engine falls back to the person's next
contact method. Settings given only in part are an error at start, naming what is missing.

| channel       | needs                                                          |
|---------------|----------------------------------------------------------------|
| email         | WARROOM_SMTP_HOST and WARROOM_SMTP_FROM                        |
| sms, voice    | WARROOM_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM_NUMBER       |
| slack         | WARROOM_SLACK_TOKEN                                            |
| webhook       | WARROOM_WEBHOOK_SECRET (requests are always signed)            |
| teams         | nothing: the address is the incoming webhook's URL             |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType

from warroom.adapters.email import SmtpNotifier
from warroom.adapters.slack import SlackNotifier
from warroom.adapters.teams import TeamsNotifier
from warroom.adapters.twilio import TwilioNotifier
from warroom.adapters.webhook import WebhookNotifier
from warroom.notifications.ports import (
    Channel,
    Notifier,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
)
from warroom.settings import Settings


class NotifierRegistry(Mapping[str, Notifier]):
    """channel → Notifier; also a Notifier itself that dispatches on `message.channel`."""

    def __init__(self, notifiers: Mapping[str, Notifier]) -> None:
        self._notifiers = dict(notifiers)

    def __getitem__(self, channel: str) -> Notifier:
        return self._notifiers[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._notifiers)

    def __len__(self) -> int:
        return len(self._notifiers)

    def __repr__(self) -> str:
        return f"NotifierRegistry(channels={sorted(self._notifiers)})"

    def send(self, message: OutgoingMessage) -> SendResult:
        notifier = self._notifiers.get(message.channel)
        if notifier is None:
            raise PermanentFailure(f"channel not configured: {message.channel}")
        return notifier.send(message)

    def close(self) -> None:
        """Close every adapter that holds connections (each once, even if shared)."""
        seen: set[int] = set()
        for notifier in self._notifiers.values():
            if id(notifier) in seen:
                continue
            seen.add(id(notifier))
            close = getattr(notifier, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> NotifierRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_notifiers(settings: Settings, *, timeout: float = 10.0) -> NotifierRegistry:
    """The channels `settings` configure; ValueError names a setting that is missing."""
    notifiers: dict[str, Notifier] = {}

    smtp_given = [settings.smtp_host, settings.smtp_from, settings.smtp_username]
    if any(smtp_given):
        _require(
            "email",
            WARROOM_SMTP_HOST=settings.smtp_host,
            WARROOM_SMTP_FROM=settings.smtp_from,
        )
        assert settings.smtp_host is not None and settings.smtp_from is not None
        password = settings.smtp_password
        notifiers[Channel.EMAIL] = SmtpNotifier(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            starttls=settings.smtp_starttls,
            timeout=timeout,
        )

    token = settings.twilio_auth_token
    twilio_given = [settings.twilio_account_sid, token, settings.twilio_from_number]
    if any(twilio_given):
        _require(
            "sms and voice",
            WARROOM_TWILIO_ACCOUNT_SID=settings.twilio_account_sid,
            WARROOM_TWILIO_AUTH_TOKEN=token,
            WARROOM_TWILIO_FROM_NUMBER=settings.twilio_from_number,
        )
        assert settings.twilio_account_sid and token and settings.twilio_from_number
        twilio = TwilioNotifier(
            account_sid=settings.twilio_account_sid,
            auth_token=token.get_secret_value(),
            from_number=settings.twilio_from_number,
            base_url=settings.twilio_base_url,
            timeout=timeout,
        )
        notifiers[Channel.SMS] = twilio
        notifiers[Channel.VOICE] = twilio

    if settings.slack_token is not None:
        notifiers[Channel.SLACK] = SlackNotifier(
            token=settings.slack_token.get_secret_value(),
            base_url=settings.slack_base_url,
            timeout=timeout,
        )

    if settings.webhook_secret is not None:
        notifiers[Channel.WEBHOOK] = WebhookNotifier(
            secret=settings.webhook_secret.get_secret_value(), timeout=timeout
        )

    notifiers[Channel.TEAMS] = TeamsNotifier(timeout=timeout)
    return NotifierRegistry(notifiers)


#: The settings each channel needs (what `build_notifiers` checks), for messages.
CHANNEL_SETTINGS: dict[str, str] = {
    Channel.EMAIL: "WARROOM_SMTP_HOST and WARROOM_SMTP_FROM",
    Channel.SMS: "WARROOM_TWILIO_ACCOUNT_SID, WARROOM_TWILIO_AUTH_TOKEN and "
    "WARROOM_TWILIO_FROM_NUMBER",
    Channel.VOICE: "WARROOM_TWILIO_ACCOUNT_SID, WARROOM_TWILIO_AUTH_TOKEN and "
    "WARROOM_TWILIO_FROM_NUMBER",
    Channel.SLACK: "WARROOM_SLACK_TOKEN",
    Channel.WEBHOOK: "WARROOM_WEBHOOK_SECRET",
    Channel.TEAMS: "nothing",
}


def configured_channels(settings: Settings) -> frozenset[str]:
    """The channels `build_notifiers(settings)` would build, without building them;
    ValueError as it would for settings given in part."""
    channels = {Channel.TEAMS.value}
    if any([settings.smtp_host, settings.smtp_from, settings.smtp_username]):
        _require(
            "email", WARROOM_SMTP_HOST=settings.smtp_host, WARROOM_SMTP_FROM=settings.smtp_from
        )
        channels.add(Channel.EMAIL.value)
    token = settings.twilio_auth_token
    if any([settings.twilio_account_sid, token, settings.twilio_from_number]):
        _require(
            "sms and voice",
            WARROOM_TWILIO_ACCOUNT_SID=settings.twilio_account_sid,
            WARROOM_TWILIO_AUTH_TOKEN=token,
            WARROOM_TWILIO_FROM_NUMBER=settings.twilio_from_number,
        )
        channels |= {Channel.SMS.value, Channel.VOICE.value}
    if settings.slack_token is not None:
        channels.add(Channel.SLACK.value)
    if settings.webhook_secret is not None:
        channels.add(Channel.WEBHOOK.value)
    return frozenset(channels)


def _require(channel: str, **values: object) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValueError(f"{channel} needs {', '.join(missing)} (or none of its settings)")
