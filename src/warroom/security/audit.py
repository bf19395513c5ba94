"""The audit log: every change to the platform's records, hash-chained, append-only.

Listeners on every session turn the rows a transaction wrote (inserted, updated,
deleted) into audit entries in that transaction, so an entry commits with its change or
not at all. The entry names who did it (the token's person or name, bound by the API's
authentication) and, once per request, the token used for the write. High-volume
machine tables (alerts, timers, outgoing messages) are left out; secrets never go in.

Changes are collected at each flush and appended just before the commit, under a lock on
the chain head (`chains.py`); each entry carries the hash of the one before, and the
database refuses UPDATE and DELETE on the table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, inspect, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.base import PassiveFlag

import warroom.events  # noqa: F401  (its before_commit listener must run before ours)
from warroom import bulk
from warroom.auth.logic import ACTING_PRINCIPAL, ACTING_REQUEST, Principal, bind_actor
from warroom.clock import Clock, SystemClock, as_utc
from warroom.db import Base, UnitOfWork
from warroom.incidents import reads
from warroom.security.chains import append_many, head
from warroom.security.logic import Link, Problem, verify_chain
from warroom.security.models import AuditEntry

if TYPE_CHECKING:
    from warroom.incidents.models import Incident

CHAIN = "audit"
_PRINCIPAL, _REQUEST, _PENDING = ACTING_PRINCIPAL, ACTING_REQUEST, "audit_pending"

#: Machine-written, high-volume tables: their changes are not people's actions.
NOT_AUDITED = frozenset(
    {
        "audit_log",
        "chain_heads",
        "alerts",
        "rule_state",
        "timers",
        "notifications",
        "delivery_attempts",
        "engine_beats",
        "heartbeats",
        "changes",
    }
)
#: An update of only these columns is bookkeeping, not a change.
BOOKKEEPING = frozenset({"last_used_at"})
_SECRET = re.compile(r"(hash|secret|password|token|_key)$|^key$")
_MAX_TEXT = 500


#: Say who the session's changes are by (the API calls it when it authenticates).
bind = bind_actor


@functools.cache
def _secret(column: str) -> bool:
    return _SECRET.search(column) is not None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _value(column: str, value: Any) -> Any:
    kind = type(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value  # the common cases first, by exact type; subclasses below
    if isinstance(value, bool | int | float):
        return value
    if _secret(column):
        return "[redacted]"
    if kind is str:
        return _clip(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        text = str(value)
        return value if len(text) <= _MAX_TEXT else _clip(text)
    return _clip(str(value))


def _target(obj: Base) -> str:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return f"{obj.__tablename__}:{'/'.join(str(k) for k in key)}"


def _changes(session: Session) -> Iterator[tuple[str, str, dict[str, Any]]]:
    groups = (("insert", session.new), ("update", session.dirty), ("delete", session.deleted))
    for verb, objects in groups:
        for obj in objects:
            if not isinstance(obj, Base) or obj.__tablename__ in NOT_AUDITED:
                continue
            state = inspect(obj)
            mapper = state.mapper
            if verb == "insert":
                # A deferred column not loaded (the incidents' generated spans, which the
                # database computes) would cost a SELECT each, at every flush.
                unloaded = state.unloaded
                fields = {
                    c.key: _value(c.key, getattr(obj, c.key))
                    for c in mapper.column_attrs
                    if not (c.deferred and c.key in unloaded)
                }
            elif verb == "update":
                fields = {}
                for attr in mapper.column_attrs:
                    # An attribute never loaded has not changed: its history must not load it.
                    history = get_history(obj, attr.key, passive=PassiveFlag.PASSIVE_NO_INITIALIZE)
                    if history.has_changes():
                        old = history.deleted[0] if history.deleted else None
                        new = history.added[0] if history.added else None
                        fields[attr.key] = [_value(attr.key, old), _value(attr.key, new)]
                if not fields or set(fields) <= BOOKKEEPING:
                    continue
            else:
                fields = {}
            yield f"{obj.__tablename__}.{verb}", _target(obj), fields


@sa_event.listens_for(Session, "after_flush")
def _collect(session: Session, _flush: UOWTransaction) -> None:
    # Tagged with the savepoint they were flushed in, if any, to drop them with it.
    savepoint = session.get_nested_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending.extend((savepoint, change) for change in _changes(session))


def _core_inserted(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows written with `warroom.bulk` rather than the ORM: the entries a flush of the
    same rows as ORM objects would have collected."""
    if table.name in NOT_AUDITED:
        return
    savepoint = session.get_nested_transaction()
    pending = session.info.setdefault(_PENDING, [])
    keys = [c.key for c in table.columns]
    for row in rows:
        fields = {key: _value(key, row.get(key)) for key in keys}
        pending.append((savepoint, (f"{table.name}.insert", f"{table.name}:{row['id']}", fields)))


bulk.INSERT_LISTENERS.append(_core_inserted)


# Registered after `warroom.events`' own before_commit listener (imported above), so the
# rows its subscribers write are flushed and collected before this runs.
@sa_event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Append the transaction's entries last, just before it commits.

    Taking the chain's lock last means a transaction never waits for another lock while
    it holds this one (no deadlocks), and holds it only for the commit itself.
    """
    session.flush()
    changes = [change for _, change in session.info.pop(_PENDING, [])]
    if not changes:
        return
    principal: Principal | None = session.info.get(_PRINCIPAL)
    request = session.info.get(_REQUEST)
    actor = principal.actor if principal is not None else "system"
    entries: list[dict[str, Any]] = []
    if principal is not None:
        entries.append(
            {"actor": actor, "action": "token.write", "target": f"token:{principal.name}",
             "details": {"role": principal.role.value, "request": request}}
        )  # fmt: skip
    for action, target, fields in changes:
        details: dict[str, Any] = {"fields": fields}
        if request:
            details["request"] = request
        entries.append({"actor": actor, "action": action, "target": target, "details": details})
    write(session.connection(), entries, now=_now(session))


@sa_event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)
        return

    def inside(savepoint: SessionTransaction | None) -> bool:
        while savepoint is not None:
            if savepoint is previous:
                return True
            savepoint = savepoint.parent
        return False

    pending = session.info.get(_PENDING, [])
    session.info[_PENDING] = [(sp, change) for sp, change in pending if not inside(sp)]


def _now(session: Session) -> datetime:
    """The application's clock, bound to every session (`AppContext`); the system clock for
    sessions opened without one (tests that seed rows, scripts)."""
    clock: Clock = session.info.get("clock") or SystemClock()
    return as_utc(clock.now())


HASHED = ("at", "actor", "action", "target", "details")


def write(conn: Connection, entries: list[dict[str, Any]], *, now: datetime) -> None:
    """Append entries to the audit chain."""
    rows = [{"at": now, **e} for e in entries]
    linked = append_many(conn, CHAIN, [{k: r[k] for k in HASHED} for r in rows])
    table: Table = AuditEntry.__table__  # type: ignore[assignment]
    bulk.insert_rows(
        conn,
        table,
        [
            {**r, "seq": seq, "prev_hash": prev, "hash": digest}
            for r, (seq, prev, digest) in zip(rows, linked, strict=True)
        ],
    )


def verify(session: Session) -> tuple[int, list[Problem]]:
    """Check the whole chain; return how many entries there are and what is wrong."""
    links = [
        Link(e.seq, {"seq": e.seq, **{k: getattr(e, k) for k in HASHED}}, e.prev_hash, e.hash)
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
    ]
    return len(links), verify_chain(links, head(session, CHAIN))


def page(
    session: Session, *, actor: str | None, action: str | None, target: str | None,
    limit: int, offset: int,
) -> tuple[list[AuditEntry], int]:  # fmt: skip
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEntry.target.startswith(target, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset))
    return list(rows), total


def record_read(uow: UnitOfWork, who: Principal, incident: Incident, request: str) -> None:
    """Put a read of a restricted incident on the audit chain, and commit it.

    Nothing happens for an incident that is not restricted (no statement, no lock). For a
    restricted one, the entry is written in the reading request's own transaction and
    committed before the answer leaves: no read without its record, and, on SQLite (one
    writer at a time, every transaction `BEGIN IMMEDIATE`), no second transaction that
    would wait for this one. The chain's head is locked only from this write to the commit
    right after it. Objects already loaded stay usable (sessions keep them on commit).
    """
    if not incident.restricted:
        return
    session = uow.session
    entry = {
        "actor": who.actor,
        "action": "incident.read",
        "target": f"incidents:{incident.id}",
        "details": {"request": request, "role": who.role.value},
    }
    write(session.connection(), [entry], now=_now(session))
    uow.commit()


# Reads of restricted incidents elsewhere (the incident API, the web page) come here.
reads.RESTRICTED_READ.append(record_read)
