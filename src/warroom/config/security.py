"""Security configuration: the evidence locker's limits, who reads evidence, and the
regulatory notification regimes (docs/security.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from warroom.config.durations import parse_duration


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


# The same shapes as config/schema.py's, here so that schema.py can import this module.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MiB = 1024 * 1024


class EvidencePolicy(Strict):
    # A larger upload is refused with 413 while it streams, never read whole.
    max_bytes: int = Field(default=100 * MiB, ge=1, le=64 * 1024 * MiB)
    # Purge an incident's evidence this long after it was closed, unless under legal hold;
    # none: kept for ever.
    retention: Duration | None = None


class Obligation(Strict):
    """One notification a regime requires, and how long after awareness it is due."""

    name: Slug
    recipient: str = Field(min_length=1, max_length=200)
    # A fixed length ("72 hours"), counted in elapsed time: a DST change does not move it.
    within: Duration | None = None
    # Calendar months in the regime's time zone ("one month"), at the same local time.
    within_months: int | None = Field(default=None, ge=1, le=24)
    description: str = ""
    # When to remind before the deadline; the last reminder escalates.
    reminders: list[Duration] = Field(
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=6), timedelta(hours=1)]
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Obligation:
        if (self.within is None) == (self.within_months is None):
            raise ValueError(f"obligation {self.name!r}: give exactly one of within, within_months")
        return self


class Regime(Strict):
    title: str = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = "UTC"
    obligations: Annotated[list[Obligation], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Regime:
        names = [o.name for o in self.obligations]
        if len(names) != len(set(names)):
            raise ValueError("obligation names must be unique within a regime")
        return self


def _gdpr() -> Regime:
    return Regime(
        title="GDPR (Regulation (EU) 2016/679)",
        obligations=[
            Obligation(
                name="authority",
                recipient="the supervisory authority (data protection authority)",
                within=timedelta(hours=72),
                description="Article 33: notify the supervisory authority without undue "
                "delay and, where feasible, not later than 72 hours after becoming aware.",
            ),
            Obligation(
                name="data_subjects",
                recipient="the affected data subjects",
                # "Without undue delay" has no number; 72 hours keeps it from being forgotten.
                within=timedelta(hours=72),
                description="Article 34: when the breach is likely to result in a high risk, "
                "tell the data subjects without undue delay.",
            ),
        ],
    )


class SecurityConfig(Strict):
    # Users who may read every incident's evidence (besides admins and participants).
    team: list[str] = []
    # Who is told of regulatory reminders besides the incident commander.
    notify: list[str] = []
    # The contact point named in draft notifications (Article 33(3)(b)).
    contact_point: str = ""
    evidence: EvidencePolicy = EvidencePolicy()
    regimes: dict[Slug, Regime] = Field(default_factory=lambda: {"gdpr": _gdpr()})
