"""Integrations: create, look up by routing key (cached: the ingest path asks on every event)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.alerts.service import Source
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.integrations.models import Integration


class IntegrationType(StrEnum):
    PAGERDUTY = "pagerduty"  # PagerDuty Events API v2 at /v2/enqueue
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    WEBHOOK = "webhook"
    HEARTBEAT = "heartbeat"
    REPORT = "report"  # user reports and support tickets


# The types whose keys each sender's route takes. PagerDuty's Events API takes support
# tools' tickets too (`report`: counted by `alert_count` rules on `integration_type: report`);
# its change events take only a `pagerduty` key, as at PagerDuty.
PD_EVENTS_TYPES = frozenset({IntegrationType.PAGERDUTY, IntegrationType.REPORT})


def new_key() -> str:
    return secrets.token_hex(16)  # 32 characters, as PagerDuty's senders expect


_ONE = {t: frozenset({t}) for t in IntegrationType}

KEY_MAX = 32


def plausible_key(key: str) -> bool:
    """Could this be a key warroom issued? Keys are 32 printable ASCII characters; anything
    else (too long, a NUL, a control or non-ASCII character) is unknown without asking the
    database, which would refuse some of them with an error rather than "no such key"."""
    return 0 < len(key) <= KEY_MAX and key.isascii() and key.isprintable()


def create(
    session: Session,
    *,
    config: WarroomConfig,
    name: str,
    type: IntegrationType,
    service: str,
    now: datetime,
    settings: dict[str, Any] | None = None,
) -> Integration:
    if config.services and config.service(service) is None:
        raise ValidationFailed(f"unknown service {service!r}", field="service")
    if session.scalar(select(Integration.id).where(Integration.name == name)) is not None:
        raise Conflict(f"an integration named {name!r} already exists", field="name")
    integration = Integration(
        name=name,
        type=type.value,
        service=service,
        key=new_key(),
        settings=settings or {},
        created_at=now,
    )
    session.add(integration)
    session.flush()
    return integration


def rotate_key(session: Session, *, integration_id: int) -> Integration:
    """Give the integration a new key: the old one stops working (once key caches expire)."""
    row = get(session, integration_id=integration_id)
    row.key = new_key()
    session.flush()
    return row


def list_integrations(session: Session) -> list[Integration]:
    return list(session.scalars(select(Integration).order_by(Integration.id)))


def get(session: Session, *, integration_id: int) -> Integration:
    row = session.get(Integration, integration_id)
    if row is None:
        raise NotFound(f"no integration {integration_id}", field="id")
    return row


class KeyCache:
    """Routing key → integration, so a busy ingest path does not read the table per event.

    Entries live a few seconds, so an integration disabled by another process stops
    accepting events quickly; unknown keys are remembered briefly to blunt key guessing.

    One lookup at a time refreshes an expired entry. Under load an entry expires with many
    requests in flight for its key; rather than each reading the table (each in a thread of
    its own), the others are answered with the entry that just expired while the one reads.
    Waiting for it instead would block: the intake routes ask from the event loop, where only
    an answer from memory is possible. The expired answer is at most one query older than a
    fresh one, and is given for at most `negative_ttl` seconds after the refresh began (a
    refresh stuck on an unreachable database does not keep a disabled key working). A key
    with no entry at all has nothing to answer with, so each lookup of it reads the table.
    """

    def __init__(
        self,
        ttl: float = 5.0,
        negative_ttl: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._negative_ttl = ttl, negative_ttl
        self._monotonic = monotonic
        self._entries: dict[
            tuple[str, frozenset[IntegrationType]], tuple[float, Source | None]
        ] = {}
        # Keys being read from the table, with when that read began.
        self._refreshing: dict[tuple[str, frozenset[IntegrationType]], float] = {}
        self._lock = threading.Lock()

    def lookup(
        self, session: Session, key: str, types: IntegrationType | frozenset[IntegrationType]
    ) -> Source | None:
        """The enabled integration with this key if it is of this type (or one of these);
        None for any other key (unknown, disabled, or of another type: the caller cannot
        tell them apart)."""
        if not plausible_key(key):
            return None  # never a key we issued; and not for the database to choke on
        wanted = _ONE[types] if isinstance(types, IntegrationType) else types
        cache_key = (key, wanted)
        now = self._monotonic()
        with self._lock:
            hit = self._entries.get(cache_key)
            if hit is not None:
                if hit[0] > now:
                    return hit[1]
                began = self._refreshing.get(cache_key)
                if began is not None and now - began < self._negative_ttl:
                    return hit[1]  # expired, and another lookup is reading it again
            self._refreshing[cache_key] = now
        try:
            row = session.execute(
                select(Integration.id, Integration.service).where(
                    Integration.key == key,
                    Integration.type.in_(sorted(t.value for t in wanted)),
                    Integration.disabled_at.is_(None),
                )
            ).first()
        finally:
            with self._lock:
                if self._refreshing.get(cache_key) == now:  # not taken over since
                    del self._refreshing[cache_key]
        found = Source(integration_id=row.id, service=row.service) if row else None
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[cache_key] = (now + (self._ttl if found else self._negative_ttl), found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
