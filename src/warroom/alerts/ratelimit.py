"""The in-memory token bucket that keeps the public report routes from being flooded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# --- rate limiting ------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`rate` requests per `per` seconds with bursts of up to `rate`, per key.

    Memory stays bounded: when the table grows past `max_keys`, buckets that have refilled
    (idle callers) are forgotten, and if that is not enough the oldest go.
    """

    def __init__(self, rate: float, per: float, *, max_keys: int = 10_000) -> None:
        self.capacity = float(rate)
        self.refill = rate / per  # tokens per second
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        elapsed = max(now - bucket.updated, 0.0)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill)
        bucket.updated = now
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until a request under `key` would be allowed (0: now)."""
        bucket = self._bucket(key, now)
        missing = 1 - bucket.tokens
        return 0.0 if missing <= 1e-9 else missing / self.refill  # 1e-9: float refill drift

    def take(self, key: str, now: float) -> None:
        self._bucket(key, now).tokens -= 1

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if self._full_at(b, now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2 + 1]:
                del self._buckets[key]

    def _full_at(self, bucket: _Bucket, now: float) -> bool:
        return bucket.tokens + (now - bucket.updated) * self.refill >= self.capacity

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimiter:
    """Per-client and global token buckets; a request passes only if both have a token."""

    GLOBAL = "*"

    def __init__(
        self,
        time: Callable[[], float],
        *,
        per_client: float = 5,
        overall: float = 120,
        per_seconds: float = 60,
        max_clients: int = 10_000,
    ) -> None:
        self._time = time
        self._clients = TokenBucket(per_client, per_seconds, max_keys=max_clients)
        self._overall = TokenBucket(overall, per_seconds)
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Take a token for `client`; return 0, or the seconds to wait when refused."""
        with self._lock:
            now = self._time()
            wait = max(self._clients.wait(client, now), self._overall.wait(self.GLOBAL, now))
            if wait > 0:
                return wait
            self._clients.take(client, now)
            self._overall.take(self.GLOBAL, now)
            return 0.0

    @property
    def tracked_clients(self) -> int:
        return len(self._clients)
