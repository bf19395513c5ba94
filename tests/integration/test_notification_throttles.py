"""Throttles are configurable and visible: over the limit, a message is recorded as
throttled and never handed to the provider; the notifications API shows it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine import outbox
from warroom.notifications.delivery import Deliverer, Throttle
from warroom.notifications.ports import OutgoingMessage, SendResult


class RecordingNotifier:
    """The port's fake: takes every message and remembers it."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id=f"SM{len(self.sent)}")


def test_sms_over_the_limit_is_throttled_and_shown(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    notifier = RecordingNotifier()
    deliverer = Deliverer(
        {"sms": notifier}, throttles={"sms": Throttle(limit=2, window=timedelta(minutes=10))}
    )
    try:
        for i in range(3):
            with ctx.db.unit_of_work() as uow:
                outbox.enqueue(
                    uow.session,
                    outbox.NewNotification(
                        idempotency_key=f"t:{i}",
                        channel="sms",
                        address="+15550100123",
                        reason="page",
                        subject=f"page {i}",
                        body=f"page {i}",
                        due_at=clock.now(),
                        recipient="jane.smith",
                    ),
                    now=clock.now(),
                )
                uow.commit()
            deliverer(ctx)
            clock.advance(minutes=1)
        assert [m.body for m in notifier.sent] == ["page 0", "page 1"]
        # Outside the window the person can be reached again.
        clock.advance(minutes=10)
        with ctx.db.unit_of_work() as uow:
            outbox.enqueue(
                uow.session,
                outbox.NewNotification(
                    idempotency_key="t:later",
                    channel="sms",
                    address="+15550100123",
                    reason="page",
                    subject="later",
                    body="later",
                    due_at=clock.now(),
                    recipient="jane.smith",
                ),
                now=clock.now(),
            )
            uow.commit()
        deliverer(ctx)
        assert [m.body for m in notifier.sent] == ["page 0", "page 1", "later"]
    finally:
        deliverer.close()

    viewer = client.get(
        "/api/v1/notifications", headers={"Authorization": f"Bearer {api_tokens.viewer}"}
    ).json()
    assert [(n["subject"], n["status"]) for n in viewer] == [
        ("later", "sent"),
        ("page 2", "throttled"),
        ("page 1", "sent"),
        ("page 0", "sent"),
    ]
    assert {n["address"] for n in viewer} == {"…0123"}
    admin = client.get(
        "/api/v1/notifications?status=throttled",
        headers={"Authorization": f"Bearer {api_tokens.admin}"},
    ).json()
    assert [(n["subject"], n["address"]) for n in admin] == [("page 2", "+15550100123")]


def test_default_throttles_come_from_configuration(ctx: AppContext) -> None:
    assert ctx.config.notification_throttles["sms"].limit == 20
    assert ctx.config.notification_throttles["voice"].window == timedelta(minutes=10)
