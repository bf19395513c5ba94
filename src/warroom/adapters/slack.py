"""Slack messages through the Web API (`slack_sdk.WebClient.chat_postMessage`).

An address is one of:

- a channel: `#incidents`, `incidents` or a conversation id (`C…`, `G…`, `D…`);
- a user id (`U…`, `W…`): the message goes to the user's DM with the app;
- an email address: looked up with `users.lookupByEmail` (scope `users:read.email`);
- `@handle`: the workspace member whose handle or display name it is, found through
  `users.list` (scope `users:read`) and remembered.

The SDK's own retries are switched off: the engine owns retries and backoff.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from warroom.notifications.ports import (
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    is_temporary_status,
    parse_retry_after,
    redact,
    shorten,
)

DEFAULT_BASE_URL = "https://slack.com/api/"

#: Slack `error` codes that go away by themselves; every other one is permanent.
TEMPORARY_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)

_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
# How long an unknown @handle waits before the member list is fetched again.
_DIRECTORY_REFRESH = 300.0


class SlackWebApi:
    """One bot token's `slack_sdk.WebClient` at a base URL, with every way a call can fail
    turned into a `TemporaryFailure` (Slack's Retry-After when given) or a
    `PermanentFailure`; the SDK's own retries are off because the caller owns retries."""

    def __init__(
        self, *, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self._client = WebClient(
            token=token, base_url=self.base_url, timeout=int(max(timeout, 1)), retry_handlers=[]
        )

    def _guard(self, method: str, call: Callable[[], SlackResponse]) -> dict[str, Any]:
        """Run one Web API call, turning every way it can fail into a delivery failure."""
        try:
            response = call()
        except SlackApiError as exc:
            raise self._api_failure(method, exc) from None
        except SlackClientError as exc:
            raise PermanentFailure(f"Slack {method}: {self._clean(str(exc))}") from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
            raise TemporaryFailure(
                f"cannot reach Slack: {type(exc).__name__}: {self._clean(str(exc))}"
            ) from None
        data = response.data
        return data if isinstance(data, dict) else {}

    def _api_failure(self, method: str, exc: SlackApiError) -> TemporaryFailure | PermanentFailure:
        response = exc.response
        status = int(response.status_code)
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or "")
        if status != 200:
            error = f"HTTP {status}: {error}" if error else f"HTTP {status}"
        reason = f"Slack {method}: {self._clean(error)}"
        if status == 429 or error in TEMPORARY_ERRORS or is_temporary_status(status):
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            retry_after = headers.get("retry-after")
            if isinstance(retry_after, list):
                retry_after = retry_after[0] if retry_after else None
            return TemporaryFailure(
                reason, retry_after=parse_retry_after(str(retry_after) if retry_after else None)
            )
        return PermanentFailure(reason)

    def _clean(self, text: str) -> str:
        return shorten(redact(text, self._token))


class SlackNotifier(SlackWebApi):
    """Post `OutgoingMessage`s of channel `slack` as one bot token."""

    def __init__(
        self, *, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0
    ) -> None:
        super().__init__(token=token, base_url=base_url, timeout=timeout)
        self._lock = threading.Lock()
        self._members: dict[str, str] = {}
        self._members_loaded_at: float | None = None

    def __repr__(self) -> str:
        return f"SlackNotifier(base_url={self.base_url!r})"

    def close(self) -> None:
        """Nothing to release: the SDK opens one connection per call."""

    def send(self, message: OutgoingMessage) -> SendResult:
        blocks = message.payload.get("blocks")
        arguments: dict[str, Any] = {
            "text": message.body or message.subject or "warroom notification",
            "unfurl_links": False,
            "unfurl_media": False,
            # Lets anyone reading the channel's history recognise a repeated message.
            "metadata": {
                "event_type": "warroom_notification",
                "event_payload": {
                    "idempotency_key": message.idempotency_key,
                    "incident": message.incident or "",
                },
            },
        }
        if isinstance(blocks, list) and blocks:
            arguments["blocks"] = blocks
        channel = self.resolve(message.address)
        response = self._guard(
            "chat.postMessage",
            lambda: self._client.chat_postMessage(channel=channel, **arguments),
        )
        ts = response.get("ts")
        return SendResult(provider_id=ts if isinstance(ts, str) else None)

    def resolve(self, address: str) -> str:
        """The conversation to post to for `address` (see the module docstring)."""
        address = address.strip()
        if not address:
            raise PermanentFailure("empty Slack address")
        if address.startswith("#") or _CONVERSATION_ID.match(address):
            return address
        if _USER_ID.match(address):
            return address
        if address.startswith("@"):
            return self._member_id(address[1:])
        if "@" in address:
            found = self._guard(
                "users.lookupByEmail", lambda: self._client.users_lookupByEmail(email=address)
            )
            user = found.get("user") or {}
            user_id = user.get("id") if isinstance(user, dict) else None
            if not isinstance(user_id, str):
                raise PermanentFailure(f"no Slack user has the email {address}")
            return user_id
        return address

    def _member_id(self, handle: str) -> str:
        key = handle.lower()
        with self._lock:
            found = self._members.get(key)
            loaded_at = self._members_loaded_at
        if found is not None:
            return found
        if loaded_at is None or time.monotonic() - loaded_at > _DIRECTORY_REFRESH:
            members = self._load_members()
            with self._lock:
                self._members = members
                self._members_loaded_at = time.monotonic()
            found = members.get(key)
        if found is None:
            raise PermanentFailure(f"no Slack member has the handle @{handle}")
        return found

    def _load_members(self) -> dict[str, str]:
        members: dict[str, str] = {}
        cursor: str | None = None
        for _page in range(100):  # 100 pages of 200: a bound, not a limit anyone meets
            data = self._guard(
                "users.list", partial(self._client.users_list, limit=200, cursor=cursor)
            )
            for member in data.get("members") or []:
                if not isinstance(member, dict) or member.get("deleted"):
                    continue
                user_id = member.get("id")
                if not isinstance(user_id, str):
                    continue
                profile = member.get("profile") or {}
                names = [member.get("name"), profile.get("display_name")]
                for name in names:
                    if isinstance(name, str) and name:
                        members.setdefault(name.lower(), user_id)
            metadata = data.get("response_metadata") or {}
            cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
            if not cursor:
                break
        return members
