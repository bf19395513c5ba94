"""The delivery job: claim ready notifications, hand them to their channel, record the outcome.

Sends run in parallel across destinations and in order within one destination (the same
phone never gets message 2 before message 1). One slow or broken provider delays only its
own messages: each send has the adapter's timeout, and a failure only reschedules that row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.context import AppContext
from warroom.engine import outbox
from warroom.engine.models import Notification
from warroom.engine.runner import worker_id
from warroom.notifications.ports import (
    Notifier,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)

log = logging.getLogger("warroom.delivery")


@dataclass(frozen=True)
class Claimed:
    id: int
    attempt: int
    channel: str
    address: str
    recipient: str | None
    message: OutgoingMessage


@dataclass(frozen=True)
class Throttle:
    """At most `limit` messages per recipient and channel within `window`."""

    limit: int
    window: timedelta


FallbackPlanner = Callable[[AppContext, Notification, datetime], outbox.NewNotification | None]


class Deliverer:
    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        owner: str | None = None,
        batch: int = 64,
        parallel: int = 8,
        throttles: Mapping[str, Throttle] | None = None,
        fallback: FallbackPlanner | None = None,
        lease: timedelta = outbox.LEASE,
    ) -> None:
        self._lease = lease
        self._notifiers = dict(notifiers)
        self.owner = owner or worker_id()
        self._batch = batch
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="warroom-send")
        self._throttles = dict(throttles or {})
        self._fallback = fallback

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __call__(self, ctx: AppContext) -> float | None:
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            rows = outbox.claim_ready(
                uow.session, now=now, owner=self.owner, limit=self._batch, lease=self._lease
            )
            claimed: list[Claimed] = []
            throttled: list[Notification] = []
            for row in rows:
                if self._throttled(uow.session, row, now):
                    throttled.append(row)
                    continue
                claimed.append(_snapshot(row))
            for row in throttled:
                outbox.record_throttled(
                    uow.session,
                    notification_id=row.id,
                    owner=self.owner,
                    attempt=row.attempts,
                    now=now,
                )
            next_at = outbox.next_ready(uow.session) if not rows else None
            uow.commit()
        if not rows:
            if next_at is None:
                return None
            return max((next_at - now).total_seconds(), 0.0)
        by_destination: dict[tuple[str, str], list[Claimed]] = {}
        for item in claimed:
            by_destination.setdefault((item.channel, item.address), []).append(item)
        futures = [
            self._pool.submit(self._send_in_order, ctx, items) for items in by_destination.values()
        ]
        for future in futures:
            future.result()
        return 0.0 if len(rows) >= self._batch else None

    def _throttled(self, session: Session, row: Notification, now: datetime) -> bool:
        rule = self._throttles.get(row.channel)
        if rule is None or row.recipient is None:
            return False
        recent = outbox.sent_recently(
            session, recipient=row.recipient, channel=row.channel, since=now - rule.window
        )
        return recent >= rule.limit

    def _send_in_order(self, ctx: AppContext, items: list[Claimed]) -> None:
        for item in items:
            self._send_one(ctx, item)

    def _send_one(self, ctx: AppContext, item: Claimed) -> None:
        notifier = self._notifiers.get(item.channel)
        outcome: str
        provider_id: str | None = None
        error = ""
        retry_after: float | None = None
        if notifier is None:
            outcome, error = (
                "permanent",
                f"channel {item.channel} is not configured (warroom doctor)",
            )
        else:
            try:
                result = notifier.send(item.message)
                outcome, provider_id = "sent", result.provider_id
            except TemporaryFailure as exc:
                outcome, error, retry_after = "temporary", exc.reason, exc.retry_after
            except PermanentFailure as exc:
                outcome, error = "permanent", exc.reason
            except Exception as exc:  # an adapter bug must not stop the engine; retry later
                log.exception("notifier %s failed unexpectedly", item.channel)
                outcome, error = "temporary", f"{type(exc).__name__}: {exc}"
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            session = uow.session
            if outcome == "sent":
                outbox.record_sent(
                    session,
                    notification_id=item.id,
                    owner=self.owner,
                    attempt=item.attempt,
                    provider_id=provider_id,
                    now=now,
                )
            else:
                gave_up = True
                if outcome == "temporary":
                    gave_up = not outbox.record_temporary_failure(
                        session,
                        notification_id=item.id,
                        owner=self.owner,
                        attempt=item.attempt,
                        error=error,
                        retry_after=retry_after,
                        now=now,
                    )
                else:
                    outbox.record_permanent_failure(
                        session,
                        notification_id=item.id,
                        owner=self.owner,
                        attempt=item.attempt,
                        error=error,
                        now=now,
                    )
                if gave_up and self._fallback is not None:
                    row = session.get(Notification, item.id)
                    if row is not None:
                        replacement = self._fallback(ctx, row, now)
                        if replacement is not None:
                            outbox.enqueue(session, replacement, now=now)
            uow.commit()


def _snapshot(row: Notification) -> Claimed:
    payload = row.payload or {}
    return Claimed(
        id=row.id,
        attempt=row.attempts,
        channel=row.channel,
        address=row.address,
        recipient=row.recipient,
        message=OutgoingMessage(
            channel=row.channel,
            address=row.address,
            subject=row.subject,
            body=row.body,
            idempotency_key=row.idempotency_key,
            ack_url=payload.get("ack_url"),
            incident=payload.get("incident"),
            payload=payload,
        ),
    )
