"""Legal hold, purging evidence, and the retention job.

Rows are append-only, so a purge removes the encrypted file and writes a `purge` entry on
the custody chain; the item's record (name, SHA-256, who added it) stays, and
verification expects its file gone. A legal hold blocks every purge, by hand or by
retention, until an admin releases it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.config.durations import format_duration
from warroom.context import AppContext
from warroom.errors import Conflict, NotFound
from warroom.incidents.models import Incident
from warroom.security.evidence import list_items, purged, record_custody
from warroom.security.logic import CustodyAction
from warroom.security.models import EvidenceItem, LegalHold
from warroom.security.schemas import HoldRead
from warroom.security.store import EvidenceStore

log = logging.getLogger("warroom.security")

RETENTION_ACTOR = "warroom (retention)"
EVERY = 3600.0


def get_hold(session: Session, *, incident: Incident) -> LegalHold | None:
    return session.get(LegalHold, incident.id)


def hold(
    session: Session, *, incident: Incident, actor: str, reason: str, now: datetime
) -> LegalHold:
    """Place the incident's evidence under legal hold."""
    current = get_hold(session, incident=incident)
    if current is not None:
        raise Conflict(
            f"{incident.key} is under legal hold since {current.held_at.isoformat()} "
            f"({current.held_by}: {current.reason})"
        )
    row = LegalHold(incident_id=incident.id, held_at=now, held_by=actor, reason=reason)
    session.add(row)
    record_custody(session, incident=incident, action=CustodyAction.HOLD, actor=actor,
                   now=now, reason=reason)  # fmt: skip
    return row


def release(
    session: Session, *, incident: Incident, actor: str, reason: str, now: datetime
) -> HoldRead:
    """Release the hold; return what it was."""
    current = get_hold(session, incident=incident)
    if current is None:
        raise NotFound(f"{incident.key} is not under legal hold", field="id")
    released = HoldRead.model_validate(current)
    session.delete(current)
    record_custody(session, incident=incident, action=CustodyAction.RELEASE, actor=actor,
                   now=now, reason=reason)  # fmt: skip
    return released


def _still_used(session: Session, address: str, purging: set[int]) -> bool:
    """Whether another item, not purged, has the same content (files are shared)."""
    users = list(session.scalars(select(EvidenceItem).where(EvidenceItem.address == address)))
    for other in users:
        if other.id in purging:
            continue
        if other.id not in purged(session, incident_id=other.incident_id):
            return True
    return False


def purge(
    session: Session,
    *,
    incident: Incident,
    items: list[EvidenceItem],
    actor: str,
    reason: str,
    now: datetime,
) -> list[str]:
    """Purge items (refused under legal hold); return the addresses whose files to remove
    once the transaction has committed."""
    if get_hold(session, incident=incident) is not None:
        raise Conflict(f"{incident.key} is under legal hold: its evidence cannot be purged")
    done = purged(session, incident_id=incident.id)
    for item in items:
        if item.id in done:
            raise Conflict(f"E-{item.id} was already purged", field="evidence_id")
        record_custody(
            session, incident=incident, action=CustodyAction.PURGE, actor=actor, now=now,
            reason=reason, evidence_id=item.id, details={"sha256": item.sha256},
        )  # fmt: skip
    ids = {i.id for i in items}
    return sorted({i.address for i in items if not _still_used(session, i.address, ids)})


def remove_files(store: EvidenceStore, addresses: list[str]) -> None:
    for address in addresses:
        try:
            store.path(address).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove a purged evidence file", exc_info=True)


def expired(session: Session, *, retention: timedelta, now: datetime) -> list[Incident]:
    """Closed incidents past retention, with evidence, and not under legal hold."""
    held = select(LegalHold.incident_id)
    with_evidence = select(EvidenceItem.incident_id)
    return list(
        session.scalars(
            select(Incident).where(
                Incident.closed_at.is_not(None),
                Incident.closed_at <= now - retention,
                Incident.id.in_(with_evidence),
                Incident.id.not_in(held),
            )
        )
    )


def retention_job(ctx: AppContext) -> float:
    """Purge the evidence of incidents closed longer ago than `security.evidence.retention`."""
    retention = ctx.config.security.evidence.retention
    secret = ctx.settings.evidence_key
    if retention is None or secret is None:
        return EVERY
    from warroom.security.crypto import LockerKey

    store = EvidenceStore(ctx.settings.evidence_path, LockerKey(secret.get_secret_value()))
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        candidates = [i.id for i in expired(uow.session, retention=retention, now=now)]
    for incident_id in candidates:
        with ctx.db.unit_of_work() as uow:
            incident = uow.session.get(Incident, incident_id)
            if incident is None:
                continue
            done = purged(uow.session, incident_id=incident_id)
            live = [i for i in list_items(uow.session, incident=incident) if i.id not in done]
            if not live:
                continue
            try:
                addresses = purge(
                    uow.session, incident=incident, items=live, actor=RETENTION_ACTOR, now=now,
                    reason=f"retention: {format_duration(retention)} after closing",
                )  # fmt: skip
            except Conflict:
                continue  # held meanwhile
            uow.commit()
        remove_files(store, addresses)
    return EVERY
