"""Postmortem use cases: drafted on resolve, edited with every change versioned, reviewed,
published. None of them commits; the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from warroom import events
from warroom.auth.logic import Principal
from warroom.clock import as_utc
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict, NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.postmortems import logic, review
from warroom.postmortems.logic import PostmortemStatus
from warroom.postmortems.models import ActionItem, Postmortem, PostmortemRevision
from warroom.postmortems.render import ActionRow, Document, Facts, TimelineRow
from warroom.postmortems.schemas import PostmortemRead, PostmortemUpdate, WhyLink
from warroom.timeline.logic import EventType

ACTOR = "warroom"
MAX_ID = 2**31 - 1  # an INTEGER column: larger numbers name nothing


# --- reading ----------------------------------------------------------------------------


def find(session: Session, incident_id: int) -> Postmortem | None:
    return session.scalar(select(Postmortem).where(Postmortem.incident_id == incident_id))


def get(session: Session, *, incident: Incident) -> Postmortem:
    """The incident's postmortem, or NotFound."""
    postmortem = find(session, incident.id)
    if postmortem is None:
        raise NotFound(f"{incident.key} has no postmortem", field="id")
    return postmortem


def _key(number: int) -> str:
    return f"INC-{number}"


def repeat_of(
    session: Session, config: WarroomConfig, pm: Postmortem, incident: Incident
) -> list[str]:
    """Earlier incidents with the same root-cause category within the repeat window."""
    if not pm.root_cause_category:
        return []
    window = config.postmortems.repeat_window
    at = incident.declared_at
    rows = session.execute(
        select(Incident.id, Incident.declared_at)
        .join(Postmortem, Postmortem.incident_id == Incident.id)
        .where(
            func.lower(Postmortem.root_cause_category) == pm.root_cause_category.lower(),
            Incident.id != incident.id,
            Incident.declared_at >= at - window,
            Incident.declared_at < at,
        )
        .order_by(Incident.declared_at)
    ).all()
    return [_key(number) for number, _ in rows]


def facts(session: Session, config: WarroomConfig, incident: Incident) -> Facts:
    """What the incident's record says, for the template."""
    roles = {r.role: r.user for r in incident.roles}
    services = tuple(s.service for s in incident.services)
    teams = {s.owner for s in config.services if s.name in services and s.owner}
    people = set(roles.values())
    teams |= {t.name for t in config.teams if people & set(t.members)}
    timeline = [
        TimelineRow(as_utc(e.timestamp), e.type, e.description, e.actor)
        for e in incidents.timeline(session, incident=incident)
    ]
    return Facts(
        key=incident.key,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        services=services,
        teams=tuple(sorted(teams)),
        commander=roles.get("incident_commander"),
        roles=roles,
        impact=incident.impact or {},
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        declared_at=incident.declared_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        timeline=timeline,
        actions=[
            ActionRow(a.id, a.priority, a.title, a.owner, a.due_at, a.status)
            for a in actions_of(session, incident.id)
        ],
    )


def actions_of(session: Session, incident_id: int) -> list[ActionItem]:
    query = select(ActionItem).where(ActionItem.incident_id == incident_id)
    return list(
        session.scalars(query.order_by(ActionItem.priority, ActionItem.due_at, ActionItem.id))
    )


def whys(pm: Postmortem) -> list[logic.Why]:
    return logic.parse_whys(pm.five_whys or [])


def document(
    session: Session, config: WarroomConfig, pm: Postmortem, incident: Incident
) -> Document:
    return Document(
        status=pm.status,
        owner=pm.owner,
        deadline_at=pm.deadline_at,
        version=pm.version,
        sections={k: str(v) for k, v in (pm.sections or {}).items()},
        whys=whys(pm),
        root_cause_category=pm.root_cause_category,
        related=[_key(int(n)) for n in pm.related_incidents or []],
        review_at=pm.review_at,
        repeat_of=repeat_of(session, config, pm, incident),
    )


def is_overdue(pm: Postmortem, now: datetime) -> bool:
    return logic.is_overdue(
        pm.deadline_at, now, finished=pm.status == PostmortemStatus.PUBLISHED.value
    )


def to_read(
    session: Session, config: WarroomConfig, pm: Postmortem, incident: Incident, *, now: datetime
) -> PostmortemRead:
    sections = {k: str(v) for k, v in (pm.sections or {}).items()}
    return PostmortemRead(
        incident=incident.key,
        status=PostmortemStatus(pm.status),
        owner=pm.owner,
        deadline_at=pm.deadline_at,
        overdue=is_overdue(pm, now),
        version=pm.version,
        sections=sections,
        five_whys=[WhyLink(why=w.why, because=w.because) for w in whys(pm)],
        missing_sections=logic.missing_sections(
            sections, config.postmortems.postmortem.required_sections, pm.five_whys or []
        ),
        root_cause_category=pm.root_cause_category,
        related_incidents=[_key(int(n)) for n in pm.related_incidents or []],
        repeat_of=repeat_of(session, config, pm, incident),
        review_at=pm.review_at,
        created_at=pm.created_at,
        updated_at=pm.updated_at,
        published_at=pm.published_at,
    )


def visible_incidents(viewer: Principal) -> Select[Any]:
    """Ids of the incidents the viewer may see (restricted ones only as a participant)."""
    return incidents._visible_to(select(Incident), viewer).with_only_columns(Incident.id)


def list_postmortems(
    session: Session, *, viewer: Principal, now: datetime, overdue: bool = False
) -> list[tuple[Postmortem, Incident]]:
    query = (
        select(Postmortem, Incident)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(Incident.id.in_(visible_incidents(viewer)))
    )
    if overdue:
        query = query.where(
            Postmortem.status != PostmortemStatus.PUBLISHED.value,
            Postmortem.deadline_at.is_not(None),
            Postmortem.deadline_at <= now,
        )
    rows = session.execute(query.order_by(Postmortem.deadline_at, Postmortem.id)).all()
    return [(pm, incident) for pm, incident in rows]


def revisions(session: Session, pm: Postmortem) -> list[PostmortemRevision]:
    query = select(PostmortemRevision).where(PostmortemRevision.postmortem_id == pm.id)
    return list(session.scalars(query.order_by(PostmortemRevision.version, PostmortemRevision.id)))


# --- drafting ---------------------------------------------------------------------------


def draft_sections(session: Session, incident: Incident) -> dict[str, str]:
    """A first draft from the record, so nobody starts from a blank page; facts only."""
    summary = incident.title.strip()
    if incident.description.strip():
        summary += "\n\n" + incident.description.strip()
    sections = {"summary": summary}
    resolution = [
        e.description
        for e in incidents.timeline(session, incident=incident)
        if e.type in (EventType.RESOLUTION.value, EventType.ACTION.value)
    ]
    if resolution:
        sections["resolution"] = "\n".join(resolution)
    return sections


def _snapshot(pm: Postmortem) -> dict[str, Any]:
    return {
        **{f"sections.{k}": v for k, v in (pm.sections or {}).items()},
        "five_whys": list(pm.five_whys or []),
        "owner": pm.owner,
        "root_cause_category": pm.root_cause_category,
        "related_incidents": list(pm.related_incidents or []),
        "status": pm.status,
        "review_at": pm.review_at.isoformat() if pm.review_at else None,
    }


def _revise(
    session: Session,
    pm: Postmortem,
    before: dict[str, Any],
    *,
    actor: str,
    now: datetime,
    summary: str,
) -> PostmortemRevision | None:
    changed = logic.changes(before, _snapshot(pm))
    if not changed and before:
        return None
    if before:
        pm.version += 1
    pm.updated_at = now
    revision = PostmortemRevision(
        postmortem_id=pm.id, version=pm.version, actor=actor, at=now, summary=summary[:255],
        changes=changed,
    )  # fmt: skip
    session.add(revision)
    return revision


def create(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    now: datetime,
    actor: str = ACTOR,
    required_only: bool = True,
) -> Postmortem | None:
    """Draft the incident's postmortem (once); None when its severity needs none."""
    existing = find(session, incident.id)
    if existing is not None:
        return existing
    policy = config.postmortems.postmortem
    base = incident.resolved_at or now
    deadline = logic.deadline_for(policy, incident.severity, base)
    if deadline is None and required_only:
        return None
    pm = Postmortem(
        incident_id=incident.id,
        status=PostmortemStatus.DRAFT.value,
        owner=_commander(incident),
        deadline_at=deadline,
        version=1,
        sections=draft_sections(session, incident),
        five_whys=[],
        related_incidents=[],
        review_sequence=0,
        created_at=now,
        updated_at=now,
    )
    session.add(pm)
    session.flush()
    _revise(session, pm, {}, actor=actor, now=now, summary="drafted from the incident record")
    if actor != ACTOR:
        # A person started it: that is part of the story. The automatic draft on resolve
        # is not (its first revision records it), so the incident's timeline stays the
        # record of the incident itself.
        incidents.record(
            session,
            incident=incident,
            type=EventType.NOTE,
            description="Postmortem started" + (f"; owner {pm.owner}" if pm.owner else ""),
            now=now,
            actor=actor,
            details={"postmortem": True},
        )
    if policy.invite_on_create:
        review.schedule(
            session,
            config=config,
            pm=pm,
            incident=incident,
            at=None,
            people=None,
            now=now,
            actor=None,
        )
    return pm


def _commander(incident: Incident) -> str | None:
    return next((r.user for r in incident.roles if r.role == "incident_commander"), None)


@events.subscribe(events.StatusChanged)
def _on_resolved(session: Session, event: events.StatusChanged) -> None:
    if event.current != "resolved":
        return
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    config: WarroomConfig = session.info["config"]
    create(session, config=config, incident=incident, now=event.at)


# --- editing ----------------------------------------------------------------------------


def _related(session: Session, incident: Incident, keys: list[str]) -> list[int]:
    numbers: list[int] = []
    for i, key in enumerate(keys):
        try:
            number = incidents.parse_key(key)
        except NotFound:
            raise ValidationFailed(
                f"not an incident: {key!r}", field=f"related_incidents.{i}"
            ) from None
        if number == incident.id or number > MAX_ID or session.get(Incident, number) is None:
            raise ValidationFailed(f"no other incident {key!r}", field=f"related_incidents.{i}")
        if number not in numbers:
            numbers.append(number)
    return numbers


def _check_user(config: WarroomConfig, handle: str, field: str) -> None:
    if config.users and config.user(handle) is None:
        raise ValidationFailed(f"unknown user {handle!r}", field=field)


def update(
    session: Session,
    *,
    config: WarroomConfig,
    pm: Postmortem,
    incident: Incident,
    data: PostmortemUpdate,
    actor: str,
    now: datetime,
) -> PostmortemRevision | None:
    """Apply an edit and record what changed; a published postmortem is immutable."""
    if pm.status == PostmortemStatus.PUBLISHED.value:
        raise Conflict(
            "a published postmortem is immutable; move it back to draft to start a new revision",
            field="status",
        )
    if data.version is not None and data.version != pm.version:
        raise Conflict(
            f"the postmortem changed since revision {data.version} (now {pm.version}); reload it",
            field="version",
        )
    before = _snapshot(pm)
    if data.sections is not None:
        sections = dict(pm.sections or {})
        for name, text in data.sections.model_dump(exclude_none=True).items():
            if text.strip():
                sections[name] = text
            else:
                sections.pop(name, None)
        pm.sections = sections
    if data.five_whys is not None:
        pm.five_whys = [{"why": w.why, "because": w.because} for w in data.five_whys]
    if data.owner is not None:
        _check_user(config, data.owner, "owner")
        pm.owner = data.owner
    if data.root_cause_category is not None:
        pm.root_cause_category = data.root_cause_category
    if data.related_incidents is not None:
        pm.related_incidents = _related(session, incident, data.related_incidents)
    changed = sorted(logic.changes(before, _snapshot(pm)))
    return _revise(
        session, pm, before, actor=actor, now=now, summary="edited " + ", ".join(changed)
    )


def move(
    session: Session,
    *,
    config: WarroomConfig,
    pm: Postmortem,
    incident: Incident,
    status: PostmortemStatus,
    actor: str,
    now: datetime,
) -> None:
    """Move the postmortem along draft → in_review → published (or back to draft)."""
    current = PostmortemStatus(pm.status)
    try:
        logic.check_postmortem_move(current, status)
    except logic.Refused as exc:
        raise Conflict(str(exc), field="status") from None
    if status is PostmortemStatus.PUBLISHED:
        missing = logic.missing_sections(
            pm.sections or {}, config.postmortems.postmortem.required_sections, pm.five_whys or []
        )
        if missing:
            raise ValidationFailed(
                f"cannot publish: fill in {', '.join(missing)} first",
                field=f"sections.{missing[0]}",
                details={"missing": missing},
            )
    before = _snapshot(pm)
    pm.status = status.value
    if status is PostmortemStatus.PUBLISHED:
        pm.published_at = now
    summary = (
        "new revision started from the published postmortem"
        if current is PostmortemStatus.PUBLISHED
        else f"{current.value} → {status.value}"
    )
    _revise(session, pm, before, actor=actor, now=now, summary=summary)
    incidents.record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"Postmortem {status.value.replace('_', ' ')}"
        + (" (new revision)" if current is PostmortemStatus.PUBLISHED else ""),
        now=now,
        actor=actor,
        details={"postmortem": True, "version": pm.version},
    )
