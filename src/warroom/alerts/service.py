"""Storing alert events: deduplicate on (integration, dedup key), count occurrences, follow
trigger / acknowledge / resolve. SQLAlchemy Core on the hot path; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from warroom.alerts.logic import Action, AlertEvent, AlertStatus
from warroom.alerts.models import Alert
from warroom.auth.logic import Principal
from warroom.db import insert_ignoring_conflict
from warroom.errors import NotFound
from warroom.incidents.models import Incident, IncidentParticipant

_ALERTS: Table = Alert.__table__  # type: ignore[assignment]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"  # another occurrence of an open alert
    DUPLICATE = "duplicate"  # the same firing delivered again
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DROPPED = "dropped"  # ack/resolve for nothing open, or a stale delivery


@dataclass(frozen=True)
class Source:
    """The integration an event arrived through."""

    integration_id: int
    service: str


@dataclass(frozen=True)
class Applied:
    dedup_key: str
    outcome: Outcome
    alert_id: int | None


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; nobody means one in an alert summary.
    return text.replace("\x00", "") if text else text


def _open_alert(session: Session, source: Source, key: str) -> Any:
    return session.execute(
        select(_ALERTS.c.id, _ALERTS.c.status, _ALERTS.c.instance).where(
            _ALERTS.c.integration_id == source.integration_id,
            _ALERTS.c.dedup_key == key,
            _ALERTS.c.resolved_at.is_(None),
        )
    ).first()


def apply_event(session: Session, *, source: Source, event: AlertEvent, now: datetime) -> Applied:
    key = event.dedup_key
    current = _open_alert(session, source, key)
    if event.action is Action.TRIGGER:
        return _trigger(session, source, event, now, current)
    if current is None:
        return Applied(key, Outcome.DROPPED, None)
    if event.instance is not None and current.instance not in (None, event.instance):
        return Applied(key, Outcome.DROPPED, current.id)  # resolves an older firing
    if event.action is Action.ACKNOWLEDGE:
        if current.status == AlertStatus.ACKNOWLEDGED:
            return Applied(key, Outcome.DUPLICATE, current.id)
        session.execute(
            update(_ALERTS)
            .where(_ALERTS.c.id == current.id)
            .values(
                status=AlertStatus.ACKNOWLEDGED.value,
                acknowledged_at=now,
                last_seen=now,
                routed_at=None,
            )
        )
        return Applied(key, Outcome.ACKNOWLEDGED, current.id)
    session.execute(
        update(_ALERTS)
        .where(_ALERTS.c.id == current.id)
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now, last_seen=now, routed_at=None)
    )
    return Applied(key, Outcome.RESOLVED, current.id)


def _trigger(
    session: Session, source: Source, event: AlertEvent, now: datetime, current: Any
) -> Applied:
    key = event.dedup_key
    fields = {
        "summary": _clean(event.summary) or key,
        "source": _clean(event.source),
        "severity": event.severity.value,
        "component": _clean(event.component),
        "group": _clean(event.group),
        "class_": _clean(event.class_),
        "labels": event.labels,
        "details": event.details,
        "payload": event.payload,
        "group_key": event.group_key,
    }
    if current is not None:
        if event.instance is not None and current.instance == event.instance:
            session.execute(update(_ALERTS).where(_ALERTS.c.id == current.id).values(last_seen=now))
            return Applied(key, Outcome.DUPLICATE, current.id)
        session.execute(
            update(Alert)
            .where(Alert.id == current.id)
            .values(
                occurrences=Alert.occurrences + 1, last_seen=now, instance=event.instance, **fields
            )
        )
        return Applied(key, Outcome.UPDATED, current.id)
    if event.instance is not None and _already_resolved(session, source, key, event.instance):
        return Applied(key, Outcome.DROPPED, None)  # a late copy of a firing that has ended
    values = {
        "integration_id": source.integration_id,
        "dedup_key": key,
        "status": AlertStatus.TRIGGERED.value,
        "service": source.service,
        "occurrences": 1,
        "started_at": event.timestamp,
        "first_seen": now,
        "last_seen": now,
        "suppressed": False,
        "instance": event.instance,
        **fields,
    }
    statement = _insert_ignoring_open_duplicate(session, values)
    alert_id = session.execute(statement).scalar()
    if alert_id is None:
        # Another writer opened the same key between our read and our insert: count it there.
        return _trigger(session, source, event, now, _open_alert(session, source, key))
    return Applied(key, Outcome.CREATED, alert_id)


def _insert_ignoring_open_duplicate(session: Session, values: dict[str, Any]) -> Any:
    columns = {Alert.__mapper__.attrs[k].columns[0].name: v for k, v in values.items()}
    return insert_ignoring_conflict(
        session,
        Alert,
        columns,
        conflict=["integration_id", "dedup_key"],
        where=_ALERTS.c.resolved_at.is_(None),
    )


def _already_resolved(session: Session, source: Source, key: str, instance: str) -> bool:
    return (
        session.execute(
            select(_ALERTS.c.id)
            .where(
                _ALERTS.c.integration_id == source.integration_id,
                _ALERTS.c.dedup_key == key,
                _ALERTS.c.instance == instance,
                _ALERTS.c.resolved_at.is_not(None),
            )
            .limit(1)
        ).first()
        is not None
    )


def apply_batch(
    session: Session, pairs: Sequence[tuple[Source, AlertEvent]], now: datetime
) -> list[Applied]:
    """Apply a batch of events with a handful of set-based statements.

    Keys whose events in this batch are all triggers (the common case: repeats of open
    alerts, or new alerts) take the set-based path: one SELECT of their open alerts, one
    executemany UPDATE, one executemany INSERT … ON CONFLICT DO NOTHING. Anything else —
    an acknowledge or resolve, several firings of one Alertmanager alert — goes through
    `apply_event` one by one, exactly as before. Keys are independent, so the two paths
    give the same result as applying every event in order.
    """
    results: list[Applied | None] = [None] * len(pairs)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, (source, event) in enumerate(pairs):
        groups.setdefault((source.integration_id, event.dedup_key), []).append(i)

    def simple(indexes: list[int]) -> bool:
        events = [pairs[i][1] for i in indexes]
        if any(e.action is not Action.TRIGGER for e in events):
            return False
        return len(events) == 1 or all(e.instance is None for e in events)

    fast = {k: v for k, v in groups.items() if simple(v)}
    for i in sorted(i for k, v in groups.items() if k not in fast for i in v):
        source, event = pairs[i]
        results[i] = apply_event(session, source=source, event=event, now=now)
    if not fast:
        return _complete(results)

    conn = session.connection()
    c = _ALERTS.c
    by_integration: dict[int, list[str]] = {}
    for integration_id, key in fast:
        by_integration.setdefault(integration_id, []).append(key)

    def keys_match(keys: list[str]) -> ColumnElement[bool]:
        # PostgreSQL: one array parameter, so the statement text is the same for every
        # batch and psycopg prepares it once; an IN list would be new SQL (and a new plan
        # over an OR of index scans) for each batch size.
        if conn.dialect.name == "postgresql":
            return c.dedup_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
        return c.dedup_key.in_(keys)

    open_rows: dict[tuple[int, str], Any] = {}
    ended: set[tuple[int, str, str | None]] = set()
    for integration_id, keys in by_integration.items():
        for r in conn.execute(
            select(c.id, c.dedup_key, c.instance).where(
                c.resolved_at.is_(None), c.integration_id == integration_id, keys_match(keys)
            )
        ):
            open_rows[(integration_id, r.dedup_key)] = r
        # Late copies of ended firings, for the new keys that carry an instance.
        probe = [
            k
            for k in keys
            if (integration_id, k) not in open_rows
            and pairs[fast[(integration_id, k)][0]][1].instance is not None
        ]
        if probe:
            for ended_row in conn.execute(
                select(c.dedup_key, c.instance).where(
                    c.resolved_at.is_not(None),
                    c.integration_id == integration_id,
                    keys_match(probe),
                )
            ):
                ended.add((integration_id, ended_row.dedup_key, ended_row.instance))

    def fields(event: AlertEvent, key: str) -> dict[str, Any]:
        return {
            "summary": _clean(event.summary) or key,
            "source": _clean(event.source),
            "severity": event.severity.value,
            "component": _clean(event.component),
            "group_name": _clean(event.group),
            "class_name": _clean(event.class_),
            "labels": event.labels,
            "details": event.details,
            "payload": event.payload,
            "group_key": event.group_key,
        }

    updates: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for (integration_id, key), indexes in fast.items():
        first, last = pairs[indexes[0]][1], pairs[indexes[-1]][1]
        row = open_rows.get((integration_id, key))
        if row is not None:
            if last.instance is not None and row.instance == last.instance:
                touches.append({"b_id": row.id})
                results[indexes[0]] = Applied(key, Outcome.DUPLICATE, row.id)
                continue
            updates.append(
                {"b_id": row.id, "b_n": len(indexes), "b_instance": last.instance}
                | {f"b_{k}": v for k, v in fields(last, key).items()}
            )
            for i in indexes:
                results[i] = Applied(key, Outcome.UPDATED, row.id)
            continue
        if first.instance is not None and (integration_id, key, first.instance) in ended:
            results[indexes[0]] = Applied(key, Outcome.DROPPED, None)
            continue
        source = pairs[indexes[0]][0]
        inserts.append(
            {
                "integration_id": integration_id,
                "dedup_key": key,
                "status": AlertStatus.TRIGGERED.value,
                "service": source.service,
                "occurrences": len(indexes),
                "started_at": first.timestamp,
                "first_seen": now,
                "last_seen": now,
                "suppressed": False,
                "instance": last.instance,
                **fields(last, key),
            }
        )
    # Lock rows in one global order, so that two writers (two workers, several front ends)
    # never wait on each other in a cycle (PostgreSQL breaks that only after a second).
    touches.sort(key=lambda row: row["b_id"])
    updates.sort(key=lambda row: row["b_id"])
    inserts.sort(key=lambda row: (row["integration_id"], row["dedup_key"]))
    if touches:
        conn.execute(
            update(_ALERTS).where(c.id == bindparam("b_id")).values(last_seen=now), touches
        )
    if updates:
        names = ["instance", *fields(pairs[0][1], "").keys()]
        conn.execute(
            update(_ALERTS)
            .where(c.id == bindparam("b_id"))
            .values(
                occurrences=c.occurrences + bindparam("b_n"),
                last_seen=now,
                **{n: bindparam(f"b_{n}", type_=c[n].type) for n in names},
            ),
            updates,
        )
    if inserts:
        dialect = conn.dialect.name
        table_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        created = {
            (r.integration_id, r.dedup_key): r.id
            # One cached statement, executed for many rows (SQLAlchemy batches them into
            # multi-row INSERTs itself); a .values(list) would be compiled afresh each time.
            for r in conn.execute(
                table_insert(_ALERTS)
                .on_conflict_do_nothing(
                    index_elements=["integration_id", "dedup_key"],
                    index_where=c.resolved_at.is_(None),
                )
                .returning(c.id, c.integration_id, c.dedup_key),
                inserts,
            )
        }
        for row in inserts:
            k = (row["integration_id"], row["dedup_key"])
            indexes = fast[k]
            alert_id = created.get(k)
            if alert_id is None:  # another writer opened the key meanwhile: the slow way
                for i in indexes:
                    source, event = pairs[i]
                    results[i] = apply_event(session, source=source, event=event, now=now)
                continue
            results[indexes[0]] = Applied(k[1], Outcome.CREATED, alert_id)
            for i in indexes[1:]:
                results[i] = Applied(k[1], Outcome.UPDATED, alert_id)
    return _complete(results)


def _complete(results: list[Applied | None]) -> list[Applied]:
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"apply_batch left events {missing} without a result")
    return [r for r in results if r is not None]


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilters:
    status: Sequence[AlertStatus] = ()
    integration: int | None = None
    dedup_key: str | None = None
    incident: int | None = None
    service: str | None = None


def _visible(query: Select[Alert], viewer: Principal) -> Select[Alert]:
    """Hide alerts of restricted incidents from those who may not see the incident."""
    if viewer.can_see(restricted=True, participants=set()):
        return query
    hidden = select(Incident.id).where(
        Incident.restricted.is_(True),
        Incident.id.not_in(
            select(IncidentParticipant.incident_id).where(
                IncidentParticipant.user == (viewer.user or "")
            )
        ),
    )
    return query.where(or_(Alert.incident_id.is_(None), Alert.incident_id.not_in(hidden)))


def list_alerts(
    session: Session, *, viewer: Principal, filters: AlertFilters, limit: int, offset: int
) -> tuple[list[Alert], int]:
    query = _visible(select(Alert), viewer)
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(Alert.status.in_([s.value for s in filters.status]))
    if filters.integration is not None:
        conditions.append(Alert.integration_id == filters.integration)
    if filters.dedup_key is not None:
        conditions.append(Alert.dedup_key == filters.dedup_key)
    if filters.incident is not None:
        conditions.append(Alert.incident_id == filters.incident)
    if filters.service is not None:
        conditions.append(Alert.service == filters.service)
    if conditions:
        query = query.where(and_(*conditions))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Alert.id.desc()).limit(limit).offset(offset)))
    return rows, total


def get(session: Session, *, alert_id: int, viewer: Principal) -> Alert:
    alert = session.scalar(_visible(select(Alert).where(Alert.id == alert_id), viewer))
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="id")
    return alert
