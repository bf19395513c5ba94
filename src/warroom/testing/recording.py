"""What the fake providers record, and GoAlert-style expectations over the messages."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

HOST = "127.0.0.1"
MAX_BODY = 1024 * 1024
DEFAULT_LIFETIME = 120.0

#: An expected message: the destination, then fragments its text must contain.
Expected = tuple[str, ...]


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake saw it, with the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(frozen=True)
class Delivered:
    """A message the provider accepted: its destination, its searchable text, the details."""

    to: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpFailure:
    status: int
    body: bytes | str | dict[str, Any] | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# --- recording and expectations ---------------------------------------------------------


class Recorder:
    def __init__(self, lifetime: float) -> None:
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._delivered: list[Delivered] = []
        self._checked = 0
        self._failures: deque[Any] = deque()
        self._lifetime = lifetime
        self._watchdog: threading.Timer | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, failed ones included."""
        with self._cond:
            return list(self._requests)

    @property
    def messages(self) -> list[Delivered]:
        """Every message accepted, in order."""
        with self._cond:
            return list(self._delivered)

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()
            self._delivered.clear()
            self._checked = 0

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivered]:
        """Block until `count` messages in all were accepted; AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._delivered) >= count, timeout):
                raise AssertionError(
                    f"{type(self).__name__}: {len(self._delivered)} of {count} messages "
                    f"after {timeout}s: {self._delivered!r}"
                )
            return list(self._delivered)

    def expect_exactly(
        self, *expected: Expected, timeout: float = 5.0, settle: float = 0.0
    ) -> list[Delivered]:
        """The messages accepted since the last check are exactly `expected`, in any order.

        Each expectation is `(to, *fragments)`: the destination and text fragments the
        message must contain. Waits up to `timeout` for enough messages to arrive, then
        `settle` seconds more for any unexpected extra one.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._delivered) - self._checked >= len(expected), timeout
            )
        if settle:
            time.sleep(settle)
        with self._cond:
            fresh = self._delivered[self._checked :]
            self._checked = len(self._delivered)
        pairing = _match(list(expected), fresh)
        if pairing is None:
            raise AssertionError(_mismatch(type(self).__name__, list(expected), fresh))
        return fresh

    def expect_none(self, settle: float = 0.0) -> None:
        """No message was accepted since the last check."""
        self.expect_exactly(timeout=0.0, settle=settle)

    def _record(self, request: RecordedRequest | None, delivered: list[Delivered]) -> None:
        with self._cond:
            if request is not None:
                self._requests.append(request)
            self._delivered.extend(delivered)
            self._cond.notify_all()

    def _queue_failures(self, count: int, failure: Any) -> None:
        with self._cond:
            self._failures.extend([failure] * count)

    def _take_failure(self) -> Any | None:
        with self._cond:
            return self._failures.popleft() if self._failures else None

    def _arm_watchdog(self) -> None:
        self._watchdog = threading.Timer(self._lifetime, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _disarm_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _expire(self) -> None:
        self._watchdog = None
        self.stop()

    def down(self) -> None:
        """Stop listening: connections are refused until `up`."""
        raise NotImplementedError

    def up(self) -> None:
        """Listen again on the same port."""
        raise NotImplementedError

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Down for the duration of the `with` block, up again after it."""
        self.down()
        try:
            yield
        finally:
            self.up()

    def stop(self) -> None:
        """Stop for good (the watchdog does it after `lifetime` seconds at the latest)."""
        self._disarm_watchdog()
        self.down()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _fits(expectation: Expected, message: Delivered) -> bool:
    to, *fragments = expectation
    return message.to == to and all(fragment in message.text for fragment in fragments)


def _match(expected: list[Expected], messages: list[Delivered]) -> dict[int, int] | None:
    """A one-to-one pairing of expectations to messages covering both, or None."""
    if len(expected) != len(messages):
        return None
    pairing: dict[int, int] = {}

    def place(i: int) -> bool:
        if i == len(expected):
            return True
        for j, message in enumerate(messages):
            if j not in pairing.values() and _fits(expected[i], message):
                pairing[i] = j
                if place(i + 1):
                    return True
                del pairing[i]
        return False

    return pairing if place(0) else None


def _mismatch(name: str, expected: list[Expected], messages: list[Delivered]) -> str:
    unmatched = list(messages)
    missing: list[Expected] = []
    for expectation in expected:
        hit = next((m for m in unmatched if _fits(expectation, m)), None)
        if hit is None:
            missing.append(expectation)
        else:
            unmatched.remove(hit)
    lines = [f"{name}: expected {len(expected)} messages, got {len(messages)}"]
    lines += [f"  missing:    {e!r}" for e in missing]
    lines += [f"  unexpected: to={m.to!r} text={m.text[:200]!r}" for m in unmatched]
    return "\n".join(lines)
