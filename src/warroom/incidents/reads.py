"""Reads of restricted incidents, told to whoever keeps a record of them.

The audit log registers its writer here (`warroom.security.audit`), so the routes that
read an incident (the API, the web page) call `record_read` without importing the
security capability that sits above them.
"""

from __future__ import annotations

from collections.abc import Callable

from warroom.auth.logic import Principal
from warroom.db import UnitOfWork
from warroom.incidents.models import Incident

__all__ = ["RESTRICTED_READ", "record_read"]

#: Called for every read of a restricted incident: (unit of work, reader, incident, request).
RESTRICTED_READ: list[Callable[[UnitOfWork, Principal, Incident, str], None]] = []


def record_read(uow: UnitOfWork, who: Principal, incident: Incident, request: str) -> None:
    """Tell the registered observers that `who` read `incident`, if it is restricted."""
    if not incident.restricted:
        return
    for observer in RESTRICTED_READ:
        observer(uow, who, incident, request)
