"""A Slack workspace on 127.0.0.1: the Web API methods the incident channel uses.

`FakeSlackWorkspace` extends `FakeSlack` (chat.postMessage, users.*) with channels:
`conversations.create` (Slack's name rules, `name_taken`, `invalid_name_specials`),
`conversations.invite` (`already_in_channel`), `conversations.setTopic`,
`conversations.archive`, `conversations.history`, `chat.update`, `chat.getPermalink` and
`pins.add` and `views.open`, answering with Slack's shapes and error codes. `fail_next(status=429,
retry_after=…)` answers `ratelimited` with a Retry-After header, as Slack does.

`calls()` lists the methods called, in order, each with its arguments: GoAlert-style
tests assert exactly the calls they expect and no others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from warroom.testing.providers import FakeSlack
from warroom.testing.recording import Delivered, RecordedRequest, Reply

_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


@dataclass
class FakeChannel:
    id: str
    name: str
    private: bool
    members: list[str] = field(default_factory=list)
    topic: str = ""
    archived: bool = False
    pins: list[str] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message


class FakeSlackWorkspace(FakeSlack):
    """Channels, members and messages of one workspace, kept in memory."""

    def __init__(self, **kwargs: Any) -> None:
        self.channels_by_id: dict[str, FakeChannel] = {}
        self.views: list[dict[str, Any]] = []  # modals opened with views.open
        self._next_channel = 1000
        super().__init__(**kwargs)

    def channel_named(self, name: str) -> FakeChannel | None:
        with self._cond:
            return next((c for c in self.channels_by_id.values() if c.name == name), None)

    def add_channel(self, name: str) -> FakeChannel:
        """A channel that exists before the test (to provoke `name_taken`)."""
        with self._cond:
            return self._new_channel(name, private=False)

    def say(self, channel_id: str, user: str, text: str) -> str:
        """A member writes in a channel; return the message's ts."""
        with self._cond:
            self._ts += 100
            ts = f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"
            self.channels_by_id[channel_id].messages[ts] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
            }
            return ts

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every Web API call received, in order: (method, arguments)."""
        return [(r.path.removeprefix("/api/"), _arguments(r)) for r in self.requests]

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls()]

    def _new_channel(self, name: str, *, private: bool) -> FakeChannel:
        self._next_channel += 1
        prefix = "G" if private else "C"
        channel = FakeChannel(f"{prefix}0{self._next_channel}FAKE", name, private)
        self.channels_by_id[channel.id] = channel
        if self.channels is not None:
            self.channels.add(channel.id)
        return channel

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        if request.header("Authorization") != f"Bearer {self.token}":
            return Reply.json(200, {"ok": False, "error": "invalid_auth"}), []
        method = request.path.removeprefix("/api/")
        arguments = _arguments(request)
        handler = _METHODS.get(method)
        if handler is None:
            reply, delivered = super()._route(request)
            if method == "chat.postMessage" and delivered:
                self._keep(delivered[0])
            return reply, delivered
        with self._cond:
            return handler(self, arguments), []

    def _keep(self, message: Delivered) -> None:
        with self._cond:
            channel = self.channels_by_id.get(message.to)
            if channel is not None:
                ts = str(message.data["ts"])
                channel.messages[ts] = {
                    "type": "message",
                    "bot_id": "BFAKE",
                    "ts": ts,
                    "text": message.data["text"],
                    "blocks": message.data["blocks"],
                }

    def _channel(self, arguments: dict[str, Any]) -> FakeChannel | None:
        return self.channels_by_id.get(str(arguments.get("channel") or ""))

    def _create(self, arguments: dict[str, Any]) -> Reply:
        name = str(arguments.get("name") or "")
        if not _NAME.match(name):
            return _error("invalid_name_specials")
        if any(c.name == name for c in self.channels_by_id.values()):
            return _error("name_taken")
        private = str(arguments.get("is_private")).lower() in ("true", "1")
        channel = self._new_channel(name, private=private)
        return Reply.json(200, {"ok": True, "channel": _describe(channel)})

    def _invite(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        if channel is None:
            return _error("channel_not_found")
        if channel.archived:
            return _error("is_archived")
        users = arguments.get("users") or ""
        wanted = users if isinstance(users, list) else str(users).split(",")
        known = {u["id"] for u in self.users}
        if any(u not in known for u in wanted):
            return _error("user_not_found")
        if all(u in channel.members for u in wanted):
            return _error("already_in_channel")
        channel.members.extend(u for u in wanted if u not in channel.members)
        return Reply.json(200, {"ok": True, "channel": _describe(channel)})

    def _set_topic(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        if channel is None:
            return _error("channel_not_found")
        channel.topic = str(arguments.get("topic") or "")
        return Reply.json(200, {"ok": True, "channel": _describe(channel)})

    def _archive(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        if channel is None:
            return _error("channel_not_found")
        if channel.archived:
            return _error("already_archived")
        channel.archived = True
        return Reply.json(200, {"ok": True})

    def _update(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        ts = str(arguments.get("ts") or "")
        if channel is None:
            return _error("channel_not_found")
        if ts not in channel.messages:
            return _error("message_not_found")
        blocks = arguments.get("blocks")
        channel.messages[ts].update(
            text=str(arguments.get("text") or ""),
            blocks=json.loads(blocks) if isinstance(blocks, str) else blocks,
        )
        return Reply.json(200, {"ok": True, "channel": channel.id, "ts": ts})

    def _pin(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        ts = str(arguments.get("timestamp") or "")
        if channel is None:
            return _error("channel_not_found")
        if ts not in channel.messages:
            return _error("message_not_found")
        if ts in channel.pins:
            return _error("already_pinned")
        channel.pins.append(ts)
        return Reply.json(200, {"ok": True})

    def _history(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        if channel is None:
            return _error("channel_not_found")
        latest = float(arguments.get("latest") or "inf")
        inclusive = str(arguments.get("inclusive")).lower() in ("true", "1")
        limit = int(arguments.get("limit") or 100)
        found = [
            m
            for ts, m in sorted(channel.messages.items(), key=lambda i: -float(i[0]))
            if float(ts) < latest or (inclusive and float(ts) == latest)
        ][:limit]
        return Reply.json(200, {"ok": True, "messages": found, "has_more": False})

    def _permalink(self, arguments: dict[str, Any]) -> Reply:
        channel = self._channel(arguments)
        ts = str(arguments.get("message_ts") or "")
        if channel is None:
            return _error("channel_not_found")
        if ts not in channel.messages:
            return _error("message_not_found")
        link = f"https://fake.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        return Reply.json(200, {"ok": True, "channel": channel.id, "permalink": link})


def _open_view(fake: FakeSlackWorkspace, arguments: dict[str, Any]) -> Reply:
    view = arguments.get("view")
    if isinstance(view, str):
        view = json.loads(view)
    if not arguments.get("trigger_id"):
        return _error("invalid_trigger_id")
    if not isinstance(view, dict) or view.get("type") != "modal":
        return _error("invalid_arguments")
    fake.views.append(view)
    return Reply.json(200, {"ok": True, "view": {"id": f"V0{len(fake.views)}FAKE", **view}})


def _error(code: str) -> Reply:
    return Reply.json(200, {"ok": False, "error": code})


def _describe(channel: FakeChannel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": not channel.private,
        "is_group": channel.private,
        "is_private": channel.private,
        "is_archived": channel.archived,
        "topic": {"value": channel.topic},
    }


def _arguments(request: RecordedRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = dict(request.query)
    content_type = request.header("Content-Type") or ""
    if request.body and content_type.startswith("application/json"):
        arguments.update(request.json())
    elif request.body:
        arguments.update(request.form())
    return arguments


_METHODS = {
    "conversations.create": FakeSlackWorkspace._create,
    "conversations.invite": FakeSlackWorkspace._invite,
    "conversations.setTopic": FakeSlackWorkspace._set_topic,
    "conversations.archive": FakeSlackWorkspace._archive,
    "conversations.history": FakeSlackWorkspace._history,
    "chat.update": FakeSlackWorkspace._update,
    "chat.getPermalink": FakeSlackWorkspace._permalink,
    "pins.add": FakeSlackWorkspace._pin,
    "views.open": _open_view,
}
