"""Checks of incident input against the configuration and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from warroom.clock import as_utc
from warroom.config.schema import WarroomConfig
from warroom.errors import ValidationFailed
from warroom.incidents import logic

# Clocks drift; a timestamp a little ahead of ours is a skewed client, not the future.
_FUTURE_TOLERANCE = timedelta(minutes=5)


def check_severity(config: WarroomConfig, name: str, field: str = "severity") -> str:
    level = config.severity(name)
    if level is None:
        allowed = ", ".join(s.name for s in config.severities)
        raise ValidationFailed(f"unknown severity {name!r}; one of: {allowed}", field=field)
    return level.name


def check_user(config: WarroomConfig, handle: str, field: str) -> None:
    # With no users configured (a bare install) any handle is accepted.
    if config.users and config.user(handle) is None:
        raise ValidationFailed(f"unknown user {handle!r}", field=field)


def check_role(config: WarroomConfig, role: str) -> None:
    if role not in config.roles:
        allowed = ", ".join(config.roles)
        raise ValidationFailed(f"unknown role {role!r}; one of: {allowed}", field="role")


def utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def check_not_future(value: datetime | None, now: datetime, field: str) -> None:
    if value is not None and value > now + _FUTURE_TOLERANCE:
        raise ValidationFailed(f"{field} is in the future", field=field)


def check_order(values: dict[str, datetime | None]) -> None:
    problems = logic.timestamp_order_problems(values)
    if problems:
        field, message = problems[0]
        raise ValidationFailed(
            message,
            field=field,
            details={"problems": [{"field": f, "message": m} for f, m in problems]},
        )
