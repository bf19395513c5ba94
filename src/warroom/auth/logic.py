"""Who may do what. Three roles, each a superset of the one below."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


_RANK = {Role.VIEWER: 0, Role.RESPONDER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """The caller: a token's name, its role, and the person it belongs to (if any)."""

    name: str
    role: Role
    user: str | None = None

    def has(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def actor(self) -> str:
        """The name written on the timeline for this caller's actions."""
        return self.user or self.name

    def can_see(self, *, restricted: bool, participants: set[str]) -> bool:
        if not restricted or self.role is Role.ADMIN:
            return True
        return self.user is not None and self.user in participants


SYSTEM = Principal(name="warroom", role=Role.ADMIN)


#: Where a session carries who its changes are by (the audit log reads it at commit).
ACTING_PRINCIPAL, ACTING_REQUEST = "audit_principal", "audit_request"


def bind_actor(session: Any, principal: Principal, request: str) -> None:
    """Say who the session's changes are by: the API does this when it authenticates."""
    session.info[ACTING_PRINCIPAL] = principal
    session.info[ACTING_REQUEST] = request
