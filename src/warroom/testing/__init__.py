"""Test doubles for the outside systems: local fake provider servers.

`recording` (what they record, expectations), `http` (the HTTP fake they share), `smtp`
(FakeSmtp), `providers` (Twilio, Slack, a webhook receiver, Teams).
"""

from warroom.testing.providers import FakeSlack, FakeTeams, FakeTwilio, FakeWebhookReceiver
from warroom.testing.recording import Delivered, RecordedRequest
from warroom.testing.smtp import FakeSmtp

__all__ = [
    "Delivered",
    "FakeSlack",
    "FakeSmtp",
    "FakeTeams",
    "FakeTwilio",
    "FakeWebhookReceiver",
    "RecordedRequest",
]
