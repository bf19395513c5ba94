"""Postmortem and action-item policy: which severities need one, deadlines, reminders."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from warroom.config.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
#: The narrative sections a postmortem can hold, in the order of seed 002's template.
SECTIONS = (
    "summary",
    "impact",
    "root_cause",
    "contributing_factors",
    "resolution",
    "went_well",
    "went_poorly",
    "prevention",
    "lessons_learned",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name") from None
    return value


def _known_sections(value: list[str]) -> list[str]:
    unknown = [name for name in value if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r}; one of: {', '.join(SECTIONS)}")
    return value


class PostmortemPolicy(_Strict):
    """Seed 002: SEV1 within 48 hours, SEV2 within a week, a review within 3 business days."""

    # Severity name → how long after resolution the postmortem is due.
    required: dict[str, Duration] = Field(
        default_factory=lambda: {"SEV1": timedelta(hours=48), "SEV2": timedelta(days=7)}
    )
    required_sections: Annotated[list[str], BeforeValidator(lambda v: _known_sections(list(v)))] = [
        "summary",
        "root_cause",
        "lessons_learned",
    ]
    # The owner hears this long before the deadline; after it, `escalate_to` (user handles,
    # or `role:NAME` for whoever holds that incident role), else the incident commander
    # when the owner is someone else.
    remind_before: Duration = timedelta(hours=24)
    escalate_to: list[
        Annotated[
            str,
            Field(pattern=r"^(role:[a-z0-9][a-z0-9_-]{0,63}|[A-Za-z0-9][A-Za-z0-9._@-]{0,63})$"),
        ]
    ] = []
    # The review meeting: this many business days after resolution, at `review_time` in
    # `timezone`, skipping weekends and `holidays`.
    review_within_business_days: int = Field(default=3, ge=0, le=30)
    review_time: time = time(10, 0)
    review_duration: Duration = timedelta(hours=1)
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    holidays: list[date] = []
    invite_on_create: bool = True


PriorityName = Literal["P0", "P1", "P2", "P3"]


def _default_due() -> dict[PriorityName, timedelta]:
    return {
        "P0": timedelta(days=7),
        "P1": timedelta(days=14),
        "P2": timedelta(days=30),
        "P3": timedelta(days=90),
    }


class ActionItemPolicy(_Strict):
    """Seed 000: P1 items within two weeks; reminders before due, escalation when overdue."""

    due: dict[PriorityName, Duration] = Field(default_factory=_default_due)
    remind_before: Duration = timedelta(days=2)


class LearningConfig(_Strict):
    """The `postmortems:` block of the configuration."""

    postmortem: PostmortemPolicy = PostmortemPolicy()
    action_items: ActionItemPolicy = ActionItemPolicy()
    # An incident whose root-cause category matches one within this window is a repeat.
    repeat_window: Duration = timedelta(days=30)
