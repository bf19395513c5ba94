"""The chat port and its Slack adapter (`slack_sdk.WebClient` pointed at a base URL).

Every failure becomes a `TemporaryFailure` (retry; Slack's Retry-After when given) or a
`PermanentFailure`; the SDK's own retries are off because the chat job owns retries.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from warroom.adapters.slack import DEFAULT_BASE_URL, SlackWebApi
from warroom.notifications.ports import (
    PermanentFailure,
    TemporaryFailure,
)

DIRECTORY_REFRESH = 300.0  # seconds before an unknown @name looks at the member list again
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")


class NameTaken(PermanentFailure):
    """`conversations.create` answered `name_taken`: try another name."""


@dataclass(frozen=True)
class ChatMessage:
    user: str | None
    text: str
    ts: str


class ChatPort(Protocol):
    """What warroom asks of a chat workspace."""

    def create_channel(self, name: str, *, private: bool) -> str: ...
    def invite(self, channel: str, users: list[str]) -> None: ...
    def set_topic(self, channel: str, topic: str) -> None: ...
    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str: ...
    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...
    def pin(self, channel: str, ts: str) -> None: ...
    def archive(self, channel: str) -> None: ...
    def message(self, channel: str, ts: str) -> ChatMessage | None: ...
    def permalink(self, channel: str, ts: str) -> str | None: ...
    def user_id(self, address: str) -> str | None: ...
    def email_of(self, user_id: str) -> str | None: ...
    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...


class SlackChat(SlackWebApi):
    """`ChatPort` over Slack's Web API with one bot token."""

    def __init__(
        self, *, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0
    ) -> None:
        super().__init__(token=token, base_url=base_url, timeout=timeout)
        self._directory: dict[str, str] | None = None
        self._loaded_at = 0.0

    def __repr__(self) -> str:
        return f"SlackChat(base_url={self.base_url!r})"

    def create_channel(self, name: str, *, private: bool) -> str:
        data = self._call(
            "conversations.create",
            lambda: self._client.conversations_create(name=name, is_private=private),
        )
        channel = data.get("channel") or {}
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(channel_id, str):
            raise PermanentFailure("Slack conversations.create: no channel id in the answer")
        return channel_id

    def invite(self, channel: str, users: list[str]) -> None:
        if not users:
            return
        try:
            self._call(
                "conversations.invite",
                lambda: self._client.conversations_invite(channel=channel, users=users),
            )
        except PermanentFailure as exc:
            # Inviting someone already there is what a retried job does: not a failure.
            if "already_in_channel" not in exc.reason and "cant_invite_self" not in exc.reason:
                raise

    def set_topic(self, channel: str, topic: str) -> None:
        self._call(
            "conversations.setTopic",
            lambda: self._client.conversations_setTopic(channel=channel, topic=topic),
        )

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        data = self._call(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False
            ),
        )
        ts = data.get("ts")
        return ts if isinstance(ts, str) else ""

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self._call(
            "chat.update",
            lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
        )

    def pin(self, channel: str, ts: str) -> None:
        try:
            self._call("pins.add", lambda: self._client.pins_add(channel=channel, timestamp=ts))
        except PermanentFailure as exc:
            if "already_pinned" not in exc.reason:
                raise

    def archive(self, channel: str) -> None:
        try:
            self._call(
                "conversations.archive", lambda: self._client.conversations_archive(channel=channel)
            )
        except PermanentFailure as exc:
            if "already_archived" not in exc.reason:
                raise

    def message(self, channel: str, ts: str) -> ChatMessage | None:
        data = self._call(
            "conversations.history",
            lambda: self._client.conversations_history(
                channel=channel, latest=ts, inclusive=True, limit=1
            ),
        )
        for item in data.get("messages") or []:
            if isinstance(item, dict) and item.get("ts") == ts:
                user = item.get("user")
                return ChatMessage(
                    user if isinstance(user, str) else None, str(item.get("text") or ""), ts
                )
        return None

    def permalink(self, channel: str, ts: str) -> str | None:
        data = self._call(
            "chat.getPermalink",
            lambda: self._client.chat_getPermalink(channel=channel, message_ts=ts),
        )
        link = data.get("permalink")
        return link if isinstance(link, str) else None

    def user_id(self, address: str) -> str | None:
        """The member id for a configured `slack:` address (an id or an email)."""
        address = address.strip()
        if _USER_ID.match(address):
            return address
        if address.startswith("@"):
            name = address[1:].lower()
            found = self._members().get(name)
            if found is None and time.monotonic() - self._loaded_at > DIRECTORY_REFRESH:
                self._directory = None  # someone who joined since the last look-up
                found = self._members().get(name)
            return found
        if "@" in address:
            try:
                data = self._call(
                    "users.lookupByEmail", lambda: self._client.users_lookupByEmail(email=address)
                )
            except PermanentFailure:
                return None
            user = data.get("user") or {}
            found = user.get("id") if isinstance(user, dict) else None
            return found if isinstance(found, str) else None
        return None

    def email_of(self, user_id: str) -> str | None:
        """A member's e-mail address (`users.info`; needs the `users:read.email` scope)."""
        try:
            data = self._call("users.info", lambda: self._client.users_info(user=user_id))
        except PermanentFailure:
            return None
        user = data.get("user") or {}
        profile = user.get("profile") if isinstance(user, dict) else None
        email = profile.get("email") if isinstance(profile, dict) else None
        return email if isinstance(email, str) and email else None

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views.open", lambda: self._client.views_open(trigger_id=trigger_id, view=view))

    def _members(self) -> dict[str, str]:
        """Member ids by name and display name (`users.list`), fetched once per adapter."""
        if self._directory is None:
            directory: dict[str, str] = {}
            cursor: str | None = None
            for _page in range(50):
                data = self._call(
                    "users.list", partial(self._client.users_list, limit=200, cursor=cursor)
                )
                for member in data.get("members") or []:
                    if not isinstance(member, dict) or member.get("deleted"):
                        continue
                    profile = member.get("profile") or {}
                    for name in (member.get("name"), profile.get("display_name")):
                        if isinstance(name, str) and name and isinstance(member.get("id"), str):
                            directory.setdefault(name.lower(), member["id"])
                meta = data.get("response_metadata") or {}
                cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
                if not cursor:
                    break
            self._directory, self._loaded_at = directory, time.monotonic()
        return self._directory

    def identity(self) -> dict[str, str]:
        """`auth.test`: the workspace and bot user the token belongs to."""
        data = self._call("auth.test", lambda: self._client.auth_test())
        return {key: str(data.get(key) or "") for key in ("team", "user", "url")}

    def _call(self, method: str, call: Callable[[], SlackResponse]) -> dict[str, Any]:
        return self._guard(method, call)

    def _api_failure(self, method: str, exc: SlackApiError) -> TemporaryFailure | PermanentFailure:
        failure = super()._api_failure(method, exc)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        if isinstance(failure, PermanentFailure) and data.get("error") == "name_taken":
            return NameTaken(str(failure))
        return failure
