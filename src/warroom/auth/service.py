"""API tokens: create (shown once), authenticate, revoke, bootstrap."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal, Role
from warroom.auth.models import ApiToken
from warroom.errors import Conflict, NotFound, ValidationFailed

TOKEN_PREFIX = "wr_"  # noqa: S105  (a prefix, not a secret)
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create(
    session: Session,
    *,
    name: str,
    role: Role,
    user: str | None,
    now: datetime,
    value: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the plaintext, which is never stored."""
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named {name!r} already exists", field="name")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("must be in the future", field="expires_at")
    plaintext = value or new_token_value()
    token = ApiToken(
        name=name,
        role=role.value,
        user=user,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:8],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def authenticate(session: Session, *, token: str, now: datetime) -> Principal | None:
    """Return the principal for a presented token, or None when it is unknown, revoked or
    expired."""
    digest = hash_token(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not row.usable(now):
        return None
    # The index lookup already matched; compare again in constant time for good measure.
    if not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        row.last_used_at = now
    return Principal(name=row.name, role=Role(row.role), user=row.user)


def ensure_bootstrap(session: Session, *, value: str, now: datetime) -> ApiToken:
    """Make sure an admin token with exactly this value exists and is usable."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if row is not None:
        row.role = Role.ADMIN.value
        row.revoked_at = None
        return row
    name = "bootstrap"
    suffix = 1
    while session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        suffix += 1
        name = f"bootstrap-{suffix}"
    token, _ = create(session, name=name, role=Role.ADMIN, user=None, now=now, value=value)
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}", field="id")
    if row.revoked_at is None:
        row.revoked_at = now
    return row
