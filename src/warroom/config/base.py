"""What every configuration type is made of: strict models, names, durations, time zones."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from warroom.config.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name, e.g. Europe/Berlin"
        ) from None
    return value


#: An IANA time zone name (`Europe/Berlin`, `UTC`): every time zone field takes one.
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def unique_names(problems: list[str], section: str, names: list[str]) -> None:
    """Add a finding to `problems` for each name of `section` given twice."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(f"{section}.{i}: duplicate name {name!r}")
        seen.add(name)
