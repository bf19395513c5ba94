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
from warroom.engine.wakeup import ALERTS, notify
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
    # Locked (PostgreSQL; SQLite has one writer at a time anyway): a concurrent resolve
    # either commits first, and the alert no longer counts as open, or waits for us.
    return session.execute(
        select(_ALERTS.c.id, _ALERTS.c.status, _ALERTS.c.instance)
        .where(
            _ALERTS.c.integration_id == source.integration_id,
            _ALERTS.c.dedup_key == key,
            _ALERTS.c.resolved_at.is_(None),
        )
        .with_for_update()
    ).first()


# The outcomes that leave an alert for routing (`routed_at` empty).
_TO_ROUTE = frozenset({Outcome.CREATED, Outcome.ACKNOWLEDGED, Outcome.RESOLVED})


def apply_event(session: Session, *, source: Source, event: AlertEvent, now: datetime) -> Applied:
    """Store one event; when it leaves an alert for routing, the commit wakes the engines,
    in this process and (PostgreSQL's NOTIFY) in others: whoever stores alerts (a
    heartbeat, a report, a drill) need not remember to."""
    applied = _apply_event(session, source=source, event=event, now=now)
    if applied.outcome in _TO_ROUTE:
        notify(session, ALERTS)
    return applied


def _apply_event(session: Session, *, source: Source, event: AlertEvent, now: datetime) -> Applied:
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


Key = tuple[int, str]  # (integration id, dedup key)


@dataclass
class BatchPlan:
    """How a batch splits: keys whose events are all triggers of one firing (the common
    case: repeats of open alerts, new alerts, an Alertmanager alert delivered again) take
    the set-based path; anything else — an acknowledge or resolve, two firings of one
    Alertmanager alert — is applied event by event.
    Keys are independent, so the two paths give the same result as applying every event
    in order. `results` is filled in as the batch is applied."""

    pairs: Sequence[tuple[Source, AlertEvent]]
    fast: dict[Key, list[int]]
    slow: list[int]
    results: list[Applied | None]

    def probe_keys(self, open_rows: dict[Key, OpenRow]) -> dict[Key, str]:
        """New keys that carry an instance, with it: a late copy of an ended firing must not
        reopen."""
        probe = {}
        for k, indexes in self.fast.items():
            instance = self.pairs[indexes[0]][1].instance
            if k not in open_rows and instance is not None:
                probe[k] = instance
        return probe


@dataclass(frozen=True)
class OpenRow:
    id: int
    instance: str | None


@dataclass
class BatchWrites:
    """The set-based statements' rows, each list in one global lock order (alert id, or
    key for inserts) so that two writers never wait on each other in a cycle."""

    touches: list[int]  # alert ids whose firing was delivered again: last_seen only
    updates: list[dict[str, Any]]  # id, n (occurrences to add), instance, FIELDS
    inserts: list[dict[str, Any]]  # full rows; occurrences counts the batch's events


# The columns a trigger sets from its event, by column name.
FIELDS = (
    "summary", "source", "severity", "component", "group_name", "class_name",
    "labels", "details", "payload", "group_key",
)  # fmt: skip


def plan_batch(pairs: Sequence[tuple[Source, AlertEvent]]) -> BatchPlan:
    groups: dict[Key, list[int]] = {}
    for i, (source, event) in enumerate(pairs):
        groups.setdefault((source.integration_id, event.dedup_key), []).append(i)

    def simple(indexes: list[int]) -> bool:
        instance = pairs[indexes[0]][1].instance
        for i in indexes:
            event = pairs[i][1]
            if event.action is not Action.TRIGGER or event.instance != instance:
                return False
        return True

    fast = {k: v for k, v in groups.items() if simple(v)}
    slow = sorted(i for k, v in groups.items() if k not in fast for i in v)
    return BatchPlan(pairs, fast, slow, [None] * len(pairs))


class KeyAction(StrEnum):
    """What the set-based path does with a fast key, decided from its open alert."""

    TOUCH = "touch"  # the open alert's firing delivered again: last_seen only
    UPDATE = "update"  # another occurrence of the open alert
    INSERT = "insert"  # no open alert: a new one
    DROP = "drop"  # a late copy of a firing that has ended


def key_rows(plan: BatchPlan) -> list[tuple[Key, dict[str, Any]]]:
    """Each fast key, in key order, with what it would write: the columns of a new alert
    that come from its events (`new_alert` adds the rest), whose `occurrences` is also what
    an update adds (`n`). Without an instance every event is another occurrence and the
    last one's fields win; one firing delivered several times counts once, with the first
    delivery's fields."""
    pairs, rows = plan.pairs, []
    for k in sorted(plan.fast):
        indexes = plan.fast[k]
        source, first = pairs[indexes[0]]
        if first.instance is None:
            event, n = pairs[indexes[-1]][1], len(indexes)
        else:
            event, n = first, 1
        # Exactly the columns the PostgreSQL path's statement reads, so that it can send
        # these dicts as they are.
        row = {
            "integration_id": k[0],
            "dedup_key": k[1],
            "service": source.service,
            "occurrences": n,
            "started_at": first.timestamp,
            "instance": first.instance,
            "summary": _clean(event.summary) or k[1],
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
        rows.append((k, row))
    return rows


def new_alert(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The full row of a new alert from its `key_rows` row."""
    return row | {
        "status": AlertStatus.TRIGGERED.value,
        "first_seen": now,
        "last_seen": now,
        "suppressed": False,
    }


def settle(plan: BatchPlan, k: Key, action: KeyAction, alert_id: int | None) -> None:
    """Fill in the results of a fast key's events once its statement has run."""
    indexes, key = plan.fast[k], k[1]
    results = plan.results
    if action is KeyAction.TOUCH or action is KeyAction.DROP:
        outcome = Outcome.DUPLICATE if action is KeyAction.TOUCH else Outcome.DROPPED
        for i in indexes:
            results[i] = Applied(key, outcome, alert_id)
        return
    first = Outcome.UPDATED if action is KeyAction.UPDATE else Outcome.CREATED
    then = Outcome.UPDATED if plan.pairs[indexes[0]][1].instance is None else Outcome.DUPLICATE
    results[indexes[0]] = Applied(key, first, alert_id)
    for i in indexes[1:]:
        results[i] = Applied(key, then, alert_id)


def decide(k: Key, row: dict[str, Any], open_row: OpenRow | None, ended: bool) -> KeyAction:
    """The action for a fast key given its open alert (locked) and, for a new key with an
    instance, whether that firing has already ended."""
    instance = row["instance"]
    if open_row is not None:
        if instance is not None and open_row.instance == instance:
            return KeyAction.TOUCH
        return KeyAction.UPDATE
    return KeyAction.DROP if instance is not None and ended else KeyAction.INSERT


def plan_writes(
    plan: BatchPlan, open_rows: dict[Key, OpenRow], ended: set[tuple[int, str, str]], now: datetime
) -> BatchWrites:
    """Decide each fast key's statement from its open alert (if any) and, for new keys with
    an instance, whether that firing has already ended. Fills in every result but those of
    inserted keys (`record_created`)."""
    writes = BatchWrites([], [], [])
    for k, row in key_rows(plan):
        current = open_rows.get(k)
        action = decide(k, row, current, (*k, row["instance"]) in ended)
        if action is KeyAction.INSERT:
            writes.inserts.append(new_alert(row, now))
            continue
        alert_id = current.id if current is not None else None
        settle(plan, k, action, alert_id)
        if action is KeyAction.TOUCH and current is not None:
            writes.touches.append(current.id)
        elif action is KeyAction.UPDATE and current is not None:
            update_row = {"id": current.id, "n": row["occurrences"], "instance": row["instance"]}
            writes.updates.append(update_row | {name: row[name] for name in FIELDS})
    writes.touches.sort()
    writes.updates.sort(key=lambda row: row["id"])
    return writes  # inserts are in key order already


def record_created(
    plan: BatchPlan, inserts: list[dict[str, Any]], created: dict[Key, int]
) -> list[Key]:
    """Fill in the results of inserted keys; return the keys another writer opened between
    our read and our insert (their insert did nothing): they must be applied the slow way."""
    conflicted = []
    for row in inserts:
        k = (row["integration_id"], row["dedup_key"])
        alert_id = created.get(k)
        if alert_id is None:
            conflicted.append(k)
            continue
        settle(plan, k, KeyAction.INSERT, alert_id)
    return conflicted


def apply_batch(
    session: Session, pairs: Sequence[tuple[Source, AlertEvent]], now: datetime
) -> list[Applied]:
    """Apply a batch of events with a handful of set-based statements (`BatchPlan`): one
    SELECT of the open alerts of all keys, one executemany UPDATE, one executemany
    INSERT … ON CONFLICT DO NOTHING; `apply_event` for the rest. As `apply_event`, the
    commit wakes the engines when an alert is left for routing."""
    results = _apply_batch(session, pairs, now)
    if any(applied.outcome in _TO_ROUTE for applied in results):
        notify(session, ALERTS)
    return results


def _apply_batch(
    session: Session, pairs: Sequence[tuple[Source, AlertEvent]], now: datetime
) -> list[Applied]:
    plan = plan_batch(pairs)
    for i in plan.slow:
        source, event = pairs[i]
        plan.results[i] = apply_event(session, source=source, event=event, now=now)
    if not plan.fast:
        return complete(plan.results)

    conn = session.connection()
    c = _ALERTS.c
    by_integration: dict[int, list[str]] = {}
    for integration_id, key in plan.fast:
        by_integration.setdefault(integration_id, []).append(key)

    def keys_match(keys: list[str]) -> ColumnElement[bool]:
        # PostgreSQL: one array parameter, so the statement text is the same for every
        # batch and psycopg prepares it once; an IN list would be new SQL (and a new plan
        # over an OR of index scans) for each batch size.
        if conn.dialect.name == "postgresql":
            return c.dedup_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
        return c.dedup_key.in_(keys)

    open_rows: dict[Key, OpenRow] = {}
    for integration_id, keys in by_integration.items():
        for r in conn.execute(
            select(c.id, c.dedup_key, c.instance)
            .where(c.resolved_at.is_(None), c.integration_id == integration_id, keys_match(keys))
            .with_for_update()
        ):
            open_rows[(integration_id, r.dedup_key)] = OpenRow(r.id, r.instance)
    ended: set[tuple[int, str, str]] = set()
    probe: dict[int, list[str]] = {}
    for integration_id, key in plan.probe_keys(open_rows):
        probe.setdefault(integration_id, []).append(key)
    for integration_id, keys in probe.items():
        for ended_row in conn.execute(
            select(c.dedup_key, c.instance).where(
                c.resolved_at.is_not(None), c.integration_id == integration_id, keys_match(keys)
            )
        ):
            ended.add((integration_id, ended_row.dedup_key, ended_row.instance))

    writes = plan_writes(plan, open_rows, ended, now)
    if writes.touches:
        conn.execute(
            update(_ALERTS).where(c.id == bindparam("b_id")).values(last_seen=now),
            [{"b_id": alert_id} for alert_id in writes.touches],
        )
    if writes.updates:
        names = ["instance", *FIELDS]
        conn.execute(
            update(_ALERTS)
            .where(c.id == bindparam("b_id"))
            .values(
                occurrences=c.occurrences + bindparam("b_n"),
                last_seen=now,
                **{n: bindparam(f"b_{n}", type_=c[n].type) for n in names},
            ),
            [{f"b_{k}": v for k, v in row.items()} for row in writes.updates],
        )
    created: dict[Key, int] = {}
    if writes.inserts:
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
                writes.inserts,
            )
        }
    for k in record_created(plan, writes.inserts, created):
        for i in plan.fast[k]:
            source, event = pairs[i]
            plan.results[i] = apply_event(session, source=source, event=event, now=now)
    return complete(plan.results)


def complete(results: list[Applied | None]) -> list[Applied]:
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
