"""Subscribers to the public page: e-mail and webhooks, double opt-in, unsubscribe links.

Messages go through the engine's outbox (one row per subscriber and update, keyed so it
is written once), so a slow mail server never slows a public update and nothing is lost
if a process dies. Every message carries its unsubscribe link.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.engine import outbox
from warroom.errors import ValidationFailed
from warroom.statuspage.logic import stable_id
from warroom.statuspage.models import PublicIncident, PublicIncidentUpdate, StatusSubscriber

EMAIL, WEBHOOK = "email", "webhook"
REASON = "status_page"
# Re-asking for a confirmation sends one again, but not forever.
MAX_CONFIRMATIONS = 3
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def page_url(session: Session) -> str:
    """The public page's address, from the configuration or the server's base URL."""
    config: WarroomConfig | None = session.info.get("config")
    base = str(session.info.get("base_url") or "").rstrip("/")
    configured = config.status_page.url if config is not None else ""
    return (configured or f"{base}/status").rstrip("/")


def check_email(value: str) -> str:
    address = value.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise ValidationFailed(f"email: {value[:80]!r} is not an e-mail address", field="email")
    return address.lower()


def check_webhook_url(value: str, *, allow_private: bool) -> str:
    """An http(s) URL; loopback and private addresses only when the page allows them (a
    public form must not make the server call its own network)."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 512:
        raise ValidationFailed("webhook_url: an http(s) URL is needed", field="webhook_url")
    if parts.username or parts.password:
        raise ValidationFailed("webhook_url: no credentials in the URL", field="webhook_url")
    host = parts.hostname
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    private = (
        host == "localhost"
        or host.endswith((".localhost", ".local", ".internal"))
        or (ip is not None and not ip.is_global)
    )
    if private and not allow_private:
        raise ValidationFailed(
            "webhook_url: private and loopback addresses are not accepted", field="webhook_url"
        )
    return url


def _confirmation(subscriber: StatusSubscriber, url: str, name: str) -> tuple[str, str]:
    link = f"{url}/subscriptions/confirm/{subscriber.token}"
    subject = f"Confirm your subscription to {name}"
    body = (
        f"Someone (we hope you) asked to receive {name} incident updates at this address.\n\n"
        f"Confirm: {link}\n\n"
        "If it was not you, ignore this message: nothing will be sent without confirmation."
    )
    return subject, body


def subscribe(
    session: Session,
    *,
    kind: str,
    address: str,
    now: datetime,
) -> StatusSubscriber:
    """Record a pending subscriber (or find the existing one) and queue the confirmation.

    The answer is the same whether the address was new, pending or confirmed, so the form
    tells nobody who is subscribed.
    """
    config: WarroomConfig | None = session.info.get("config")
    name = config.status_page.name if config is not None else "Status"
    existing = session.scalar(
        select(StatusSubscriber)
        .where(
            StatusSubscriber.kind == kind,
            StatusSubscriber.address == address,
            StatusSubscriber.unsubscribed_at.is_(None),
        )
        .order_by(StatusSubscriber.id.desc())
        .limit(1)
    )
    if existing is not None and (
        existing.confirmed_at is not None or existing.confirmations_sent >= MAX_CONFIRMATIONS
    ):
        return existing
    subscriber = existing or StatusSubscriber(
        kind=kind,
        address=address,
        token=secrets.token_urlsafe(32),
        created_at=now,
        confirmations_sent=0,
    )
    if existing is None:
        session.add(subscriber)
        session.flush()
    subscriber.confirmations_sent += 1
    url = page_url(session)
    subject, body = _confirmation(subscriber, url, name)
    payload: dict[str, Any] = {}
    if kind == WEBHOOK:
        payload["document"] = {
            "type": "subscription_confirmation",
            "page": {"name": name, "url": url},
            "confirm_url": f"{url}/subscriptions/confirm/{subscriber.token}",
        }
    outbox.enqueue(
        session,
        outbox.NewNotification(
            idempotency_key=f"status-confirm:{subscriber.id}:{subscriber.confirmations_sent}",
            channel=kind,
            address=address,
            reason=REASON,
            subject=subject,
            body=body,
            due_at=now,
            payload=payload,
        ),
        now=now,
    )
    return subscriber


def _by_token(session: Session, token: str) -> StatusSubscriber | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(select(StatusSubscriber).where(StatusSubscriber.token == token))


def confirm(session: Session, *, token: str, now: datetime) -> StatusSubscriber | None:
    """Confirm a pending subscription; None when the token is unknown or unsubscribed."""
    subscriber = _by_token(session, token)
    if subscriber is None or subscriber.unsubscribed_at is not None:
        return None
    subscriber.confirmed_at = subscriber.confirmed_at or now
    return subscriber


def unsubscribe(session: Session, *, token: str, now: datetime) -> StatusSubscriber | None:
    """Stop every message to this subscriber (doing it twice is harmless)."""
    subscriber = _by_token(session, token)
    if subscriber is None:
        return None
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    return subscriber


def notify_all(
    session: Session,
    *,
    key: str,
    subject: str,
    text: str,
    document: dict[str, Any],
    now: datetime,
) -> int:
    """Queue one message per confirmed subscriber (keyed `key`); return how many."""
    config: WarroomConfig | None = session.info.get("config")
    name = config.status_page.name if config is not None else "Status"
    url = page_url(session)
    subscribers = session.scalars(
        select(StatusSubscriber).where(
            StatusSubscriber.confirmed_at.is_not(None),
            StatusSubscriber.unsubscribed_at.is_(None),
        )
    ).all()
    for subscriber in subscribers:
        unsubscribe_url = f"{url}/subscriptions/unsubscribe/{subscriber.token}"
        body = (
            f"{text}\n\n--\nYou receive this because you subscribed to {name}.\n"
            f"Unsubscribe: {unsubscribe_url}\n"
        )
        payload: dict[str, Any] = {"unsubscribe_url": unsubscribe_url}
        if subscriber.kind == WEBHOOK:
            payload["document"] = {
                "meta": {"unsubscribe": unsubscribe_url, "documentation": url},
                **document,
            }
        outbox.enqueue(
            session,
            outbox.NewNotification(
                idempotency_key=f"{key}:{subscriber.id}",
                channel=subscriber.kind,
                address=subscriber.address,
                reason=REASON,
                subject=f"[{name}] {subject}",
                body=body,
                due_at=now,
                payload=payload,
            ),
            now=now,
        )
    return len(subscribers)


def notify_update(
    session: Session,
    *,
    public: PublicIncident,
    update: PublicIncidentUpdate,
    indicator: dict[str, str] | None,
    now: datetime,
) -> int:
    """Queue the messages of a public incident update."""
    config: WarroomConfig | None = session.info.get("config")
    name = config.status_page.name if config is not None else "Status"
    url = page_url(session)
    code = stable_id("incident", public.id)
    link = f"{url}/incidents/{code}"
    status = update.status.capitalize()
    return notify_all(
        session,
        key=f"status-update:{update.id}",
        subject=f"{public.name}: {status}",
        text=f"{public.name}\n\n{status} - {update.body}\n\nDetails: {link}",
        document={
            "page": {"id": stable_id("page", name), "url": url, **(indicator or {})},
            "incident": {
                "id": code,
                "name": public.name,
                "status": public.status,
                "impact": public.impact,
                "shortlink": link,
                "incident_updates": [
                    {
                        "id": stable_id("update", update.id),
                        "status": update.status,
                        "body": update.body,
                        "created_at": update.created_at.isoformat(),
                    }
                ],
            },
        },
        now=now,
    )
