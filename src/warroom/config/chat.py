"""Chat policy (docs/chat.md): the incident channel in Slack, the marking reaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from warroom.config.base import Duration
from warroom.config.base import Strict as _Strict

PLACEHOLDERS = ("{number}", "{title}", "{severity}", "{date}")


class SlackChannelConfig(_Strict):
    """How warroom runs an incident's Slack channel."""

    # Off until turned on: the engine then needs WARROOM_SLACK_TOKEN.
    enabled: bool = False
    # `{number}`, `{title}`, `{severity}` and `{date}` (YYYYMMDD), slugged to Slack's rules.
    channel_name: Annotated[str, Field(min_length=1, max_length=80)] = "incident-{date}-{number}"
    private_for_restricted: bool = True
    pin_opening_message: bool = True
    # A message marked with this reaction lands on the incident's timeline.
    timeline_reaction: Annotated[str, Field(min_length=1, max_length=64)] = "pushpin"
    # Who else is invited, by severity: user handles or team names (`SEV1: [eng-leadership]`).
    invite: dict[str, list[str]] = {}
    # The call bridge posted in the opening message of these severities.
    bridge_url: str | None = None
    bridge_severities: list[str] = ["SEV1", "SEV2"]
    archive_on_resolve: bool = True
    archive_after: Duration = timedelta(hours=0)

    @field_validator("channel_name")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("channel_name needs {number} so that names stay unique")
        rest = value
        for placeholder in PLACEHOLDERS:
            rest = rest.replace(placeholder, "")
        if "{" in rest or "}" in rest:
            raise ValueError(f"channel_name may use only {', '.join(PLACEHOLDERS)}")
        return value

    @field_validator("timeline_reaction")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        return value.strip(":")

    @field_validator("archive_after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("archive_after cannot be negative")
        return value


class ChatConfig(_Strict):
    """Chat side effects of incident changes."""

    slack: SlackChannelConfig = SlackChannelConfig()
    # Microsoft Teams incoming webhooks that get the opening message and every status,
    # severity and role change (through the notification outbox).
    teams_webhooks: list[str] = []
    # Mattermost incoming webhooks: the same messages, as Markdown (through the chat outbox).
    mattermost_webhooks: list[str] = []

    @field_validator("teams_webhooks", "mattermost_webhooks")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value
