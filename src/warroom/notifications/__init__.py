"""Notifications: the channel port, message rendering, contact plans and the channel registry.

See docs/notifications.md.
"""

from warroom.notifications.ports import (
    Channel,
    Notifier,
    OutgoingMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
)

__all__ = [
    "Channel",
    "Notifier",
    "OutgoingMessage",
    "PermanentFailure",
    "SendResult",
    "TemporaryFailure",
]
