"""Domain events, handled inside the transaction that raised them.

Services publish what happened (an incident was declared, acknowledged, re-graded…);
subscribers react by writing rows — timers, notifications, timeline events — in the same
transaction, just before it commits. So a reaction is never lost (it commits with its
cause) and never happens without its cause (it rolls back with it). Anything that talks
to the outside world reads those rows later, in the engine.

Subscribers get the session and the event; the configuration and the public base URL are
in `session.info` (see `Database.bind_context`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

_PENDING = "warroom_domain_events"
_SUBJECTS = "warroom_domain_event_subjects"
_SCRATCH = "warroom_transaction_scratch"
_DECLARED = "declared"


@dataclass(frozen=True)
class DomainEvent:
    incident_id: int
    at: datetime


@dataclass(frozen=True)
class IncidentDeclared(DomainEvent):
    severity: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class IncidentAcknowledged(DomainEvent):
    by: str


@dataclass(frozen=True)
class SeverityChanged(DomainEvent):
    previous: str
    current: str


@dataclass(frozen=True)
class StatusChanged(DomainEvent):
    previous: str
    current: str
    public: bool = False
    message: str | None = None
    # Status page components this public change sets (name → Statuspage status).
    components: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleAssigned(DomainEvent):
    role: str
    user: str


@dataclass(frozen=True)
class PersonPaged(DomainEvent):
    """An escalation step or rule paged `user` (a handle) about the incident."""

    user: str


@dataclass(frozen=True)
class ImpactChanged(DomainEvent):
    impact: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineEventAdded(DomainEvent):
    type: str


E = TypeVar("E", bound=DomainEvent)
Subscriber = Callable[[Session, Any], None]
_SUBSCRIBERS: dict[type[DomainEvent], list[Subscriber]] = defaultdict(list)


def subscribe(
    event_type: type[E],
) -> Callable[[Callable[[Session, E], None]], Callable[[Session, E], None]]:
    def register(handler: Callable[[Session, E], None]) -> Callable[[Session, E], None]:
        if handler not in _SUBSCRIBERS[event_type]:
            _SUBSCRIBERS[event_type].append(handler)
        return handler

    return register


def publish(session: Session, event: DomainEvent, *, subject: object = None) -> None:
    """Queue `event` for its subscribers. `subject`, the object it is about, stays in memory
    until they have run: a session holds its objects weakly, and an incident nothing else
    held was loaded again by every subscriber that asked for it."""
    session.info.setdefault(_PENDING, []).append(event)
    if subject is not None:
        session.info.setdefault(_SUBJECTS, []).append(subject)
    if isinstance(event, IncidentDeclared):
        scratch(session).setdefault(_DECLARED, set()).add(event.incident_id)


def declared_here(session: Session, incident_id: int) -> bool:
    """Whether this transaction declared incident `incident_id` (inserted it: a declaration
    is published once, by `incidents.declare`), as far as `scratch` remembers."""
    return incident_id in scratch(session).get(_DECLARED, ())


def scratch(session: Session) -> dict[str, Any]:
    """What the session's code notes about the transaction under way. It is forgotten when
    the outermost transaction ends, and at any rollback, a savepoint's too: what it undid
    may be what a note is about."""
    notes: dict[str, Any] = session.info.setdefault(_SCRATCH, {})
    return notes


def dispatch(session: Session) -> None:
    """Run the subscribers of every event published so far (a savepoint's own, before it
    is released; the transaction's, just before it commits)."""
    # Handlers may publish more events; keep draining until nothing is left.
    while session.info.get(_PENDING):
        pending, session.info[_PENDING] = session.info[_PENDING], []
        for domain_event in pending:
            for handler in list(_SUBSCRIBERS.get(type(domain_event), ())):
                handler(session, domain_event)
        session.flush()
    session.info.pop(_SUBJECTS, None)


def discard(session: Session) -> None:
    """Forget the events published but not yet handled (their savepoint rolled back)."""
    session.info.pop(_PENDING, None)
    session.info.pop(_SUBJECTS, None)


@sa_event.listens_for(Session, "before_commit")
def _dispatch(session: Session) -> None:
    dispatch(session)


@sa_event.listens_for(Session, "after_rollback")
def _discard(session: Session) -> None:
    discard(session)


@sa_event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint's release is not the end (`after_commit` fires for it too).
    if transaction.parent is None:
        session.info.pop(_SCRATCH, None)


@sa_event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, *_: object) -> None:
    session.info.pop(_SCRATCH, None)
