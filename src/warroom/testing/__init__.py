"""Test doubles for the outside systems: local fake provider servers (`providers`)."""

from warroom.testing.providers import (
    Delivered,
    FakeSlack,
    FakeSmtp,
    FakeTeams,
    FakeTwilio,
    FakeWebhookReceiver,
    RecordedRequest,
)

__all__ = [
    "Delivered",
    "FakeSlack",
    "FakeSmtp",
    "FakeTeams",
    "FakeTwilio",
    "FakeWebhookReceiver",
    "RecordedRequest",
]
