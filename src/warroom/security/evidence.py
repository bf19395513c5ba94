"""Evidence use cases: add, list, read, verify; every access goes on the custody chain.

None of them commits (the entry points do); the files themselves are written by
`store.py` before the row that names them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.errors import Forbidden, NotFound
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.security import chains
from warroom.security.crypto import Corrupt
from warroom.security.logic import (
    CustodyAction,
    Link,
    may_add_evidence,
    may_read_evidence,
    people,
    verify_chain,
)
from warroom.security.models import CustodyEntry, EvidenceItem
from warroom.security.store import EvidenceStore, Stored
from warroom.timeline.logic import EventType

#: What the add entry of the custody chain vouches for, compared at verification.
VOUCHED = ("kind", "name", "media_type", "size", "sha256", "address")


def chain_name(incident_id: int) -> str:
    return f"custody:{incident_id}"


def check_access(incident: Incident, who: Principal, config: WarroomConfig, *, write: bool) -> None:
    """Refuse a caller who may see the incident but not its evidence."""
    participants = {p.user for p in incident.participants}
    rule = may_add_evidence if write else may_read_evidence
    team = people(config, config.security.team)
    if not rule(who, participants=participants, team=team):
        raise Forbidden(
            "evidence is restricted to the incident's participants, the security team "
            "(security.team) and admins" + ("; adding it needs the responder role" if write else "")
        )


def _fields(entry: CustodyEntry) -> dict[str, Any]:
    return {
        "incident_id": entry.incident_id,
        "evidence_id": entry.evidence_id,
        "action": entry.action,
        "actor": entry.actor,
        "at": entry.at,
        "reason": entry.reason,
        "details": entry.details,
    }


def record_custody(
    session: Session,
    *,
    incident: Incident,
    action: CustodyAction,
    actor: str,
    now: datetime,
    reason: str,
    evidence_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEntry:
    """Append one entry to the incident's custody chain."""
    entry = CustodyEntry(
        incident_id=incident.id,
        evidence_id=evidence_id,
        action=action.value,
        actor=actor,
        at=now,
        reason=reason,
        details=details or {},
        prev_hash="",
        hash="",
    )
    entry.seq, entry.prev_hash, entry.hash = chains.next_link(
        session, chain_name(incident.id), _fields(entry)
    )
    session.add(entry)
    session.flush()
    return entry


def add(
    session: Session,
    *,
    incident: Incident,
    stored: Stored,
    kind: str,
    name: str,
    media_type: str,
    reason: str,
    actor: str,
    now: datetime,
) -> EvidenceItem:
    """Record stored content as evidence of the incident: row, custody entry, timeline."""
    item = EvidenceItem(
        incident_id=incident.id,
        kind=kind,
        name=name,
        media_type=media_type,
        size=stored.size,
        sha256=stored.sha256,
        address=stored.address,
        reason=reason,
        added_by=actor,
        added_at=now,
    )
    session.add(item)
    session.flush()
    record_custody(
        session,
        incident=incident,
        action=CustodyAction.ADD,
        actor=actor,
        now=now,
        reason=reason,
        evidence_id=item.id,
        details={k: getattr(item, k) for k in VOUCHED},
    )
    incidents.record(
        session,
        incident=incident,
        type=EventType.ACTION,
        # The name stays in the locker: the timeline is read by more people than evidence.
        description=f"Evidence E-{item.id} added ({stored.size} bytes, SHA-256 "
        f"{stored.sha256[:12]}…)",
        now=now,
        actor=actor,
        details={"evidence_id": item.id, "sha256": stored.sha256, "size": stored.size},
    )
    return item


def list_items(session: Session, *, incident: Incident) -> list[EvidenceItem]:
    return list(
        session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.incident_id == incident.id)
            .order_by(EvidenceItem.id)
        )
    )


def get_item(session: Session, *, incident: Incident, evidence_id: int) -> EvidenceItem:
    item = session.get(EvidenceItem, evidence_id) if 0 < evidence_id < 2**31 else None
    if item is None or item.incident_id != incident.id:
        raise NotFound(f"no evidence E-{evidence_id} on {incident.key}", field="evidence_id")
    return item


def custody(session: Session, *, incident: Incident) -> list[CustodyEntry]:
    return list(
        session.scalars(
            select(CustodyEntry)
            .where(CustodyEntry.incident_id == incident.id)
            .order_by(CustodyEntry.seq)
        )
    )


def purged(session: Session, *, incident_id: int) -> dict[int, CustodyEntry]:
    """The incident's purged items: evidence id → its purge entry."""
    rows = session.scalars(
        select(CustodyEntry).where(
            CustodyEntry.incident_id == incident_id,
            CustodyEntry.action == CustodyAction.PURGE.value,
        )
    )
    return {r.evidence_id: r for r in rows if r.evidence_id is not None}


@dataclass
class ItemCheck:
    id: int
    name: str
    sha256: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Verification:
    items: list[ItemCheck]
    custody: list[str]
    entries: int

    @property
    def ok(self) -> bool:
        return not self.custody and all(not i.problems for i in self.items)

    def problems(self) -> list[str]:
        found = [f"E-{i.id} ({i.name}): {p}" for i in self.items for p in i.problems]
        return found + [f"custody {p}" for p in self.custody]


def _check_content(store: EvidenceStore, item: EvidenceItem, check: ItemCheck) -> None:
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in store.read(item.address):
            digest.update(chunk)
            size += len(chunk)
    except Corrupt as exc:
        check.problems.append(f"content altered or missing: {exc}")
        return
    if digest.hexdigest() != item.sha256:
        check.problems.append(
            f"content's SHA-256 is {digest.hexdigest()}, recorded at intake {item.sha256}"
        )
    elif size != item.size:
        check.problems.append(f"size is {size} bytes, recorded {item.size}")


def verify(session: Session, *, store: EvidenceStore, incident: Incident) -> Verification:
    """Check every file against its intake hash and the custody chain end to end."""
    entries = custody(session, incident=incident)
    links = [Link(e.seq, {"seq": e.seq, **_fields(e)}, e.prev_hash, e.hash) for e in entries]
    chain_problems = verify_chain(links, chains.head(session, chain_name(incident.id)))
    adds = {e.evidence_id: e for e in entries if e.action == CustodyAction.ADD.value}
    gone = {e.evidence_id for e in entries if e.action == CustodyAction.PURGE.value}
    checks: list[ItemCheck] = []
    items = list_items(session, incident=incident)
    for item in items:
        check = ItemCheck(item.id, item.name, item.sha256)
        vouched = adds.get(item.id)
        if vouched is None:
            check.problems.append("no custody entry records its intake")
        else:
            for key in VOUCHED:
                if vouched.details.get(key) != getattr(item, key):
                    check.problems.append(
                        f"{key} is {getattr(item, key)!r}, recorded at intake "
                        f"{vouched.details.get(key)!r}"
                    )
        if item.id not in gone:  # a purged file is expected to be missing
            _check_content(store, item, check)
        checks.append(check)
    present = {i.id for i in items}
    for evidence_id, entry in adds.items():
        if evidence_id not in present:
            checks.append(
                ItemCheck(
                    evidence_id or 0,
                    str(entry.details.get("name", "?")),
                    str(entry.details.get("sha256", "")),
                    ["removed: custody records its intake but the evidence row is gone"],
                )
            )
    return Verification(
        items=checks, custody=[str(p) for p in chain_problems], entries=len(entries)
    )
