"""Server-side web sessions: start at login, resolve per request, revoke at logout.

The cookie holds the session's own random id (256 bits), never the API token; only its
SHA-256 is stored. A session ends at logout, after `idle` seconds without a request, at
`max_age` seconds after login, or when its token is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal, Role
from warroom.auth.models import ApiToken, WebSession

# last_seen_at moves at most this often: a page of reads stays read-only.
_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    max_age: timedelta


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(session: Session, *, token: ApiToken, now: datetime, life: Lifetimes) -> str:
    """Open a session for a signed-in token; return its id (the cookie value)."""
    session.execute(
        delete(WebSession).where(
            or_(
                WebSession.created_at < now - life.max_age,
                WebSession.last_seen_at < now - life.idle,
                WebSession.revoked_at.is_not(None),
            )
        )
    )
    session_id = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            session_hash=_hash(session_id), token_id=token.id, created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return session_id


def resolve(
    session: Session, *, session_id: str, now: datetime, life: Lifetimes
) -> Principal | None:
    """The principal of a live session, else None; moves last_seen_at (the caller commits)."""
    if not 0 < len(session_id) <= MAX_ID_LENGTH:
        return None
    digest = _hash(session_id)
    row = session.scalar(select(WebSession).where(WebSession.session_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.session_hash, digest):
        return None
    if now - row.created_at > life.max_age or now - row.last_seen_at > life.idle:
        return None
    token = session.get(ApiToken, row.token_id)
    if token is None or not token.usable(now):
        return None
    if now - row.last_seen_at >= _SEEN_RESOLUTION:
        row.last_seen_at = now
    return Principal(name=token.name, role=Role(token.role), user=token.user)


def revoke(session: Session, *, session_id: str, now: datetime) -> bool:
    """End a session (logout); True when there was a live one."""
    if not 0 < len(session_id) <= MAX_ID_LENGTH:
        return False
    row = session.scalar(select(WebSession).where(WebSession.session_hash == _hash(session_id)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


def token_row(session: Session, *, token: str) -> ApiToken | None:
    """The live token row for a presented token value."""
    from warroom.auth.service import hash_token

    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return None if row is None or row.revoked_at is not None else row
