"""The `reports:` section: the reporting time zone, revenue figures, who may scrape /metrics."""

from __future__ import annotations

import re
from datetime import time
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_AT = re.compile(r"^(?:(?P<day>[A-Za-z]{3})\s+)?(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$")


class ScheduledReport(BaseModel):
    """A report e-mailed by the engine: `period`'s last complete report, at `at` (local
    time in `timezone`) on the first day of each new period — or, with a weekday
    ("Mon 09:00"), on the first such day on or after it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: Literal["daily", "weekly", "monthly", "quarterly", "annual"]
    at: str = "08:00"
    timezone: str | None = None  # default: reports.timezone
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]] = Field(
        min_length=1
    )

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        match = _AT.match(value.strip())
        if match is None or (match["day"] is not None and match["day"].lower() not in _WEEKDAYS):
            raise ValueError(f"give HH:MM or a weekday and HH:MM (Mon 09:00), not {value!r}")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def time_of_day(self) -> tuple[int | None, time]:
        """Return the ISO weekday (1 = Monday) or None, and the local time."""
        match = _AT.match(self.at)
        assert match is not None  # validated
        day = match["day"]
        weekday = _WEEKDAYS.index(day.lower()) + 1 if day else None
        return weekday, time(int(match["hour"]), int(match["minute"]))


class ReportsConfig(BaseModel):
    """Settings of metrics, periodic reports and the Prometheus endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Periods (a day, a week, ...) begin at midnight in this time zone.
    timezone: str = "UTC"
    # Weeks begin on this ISO weekday (1 = Monday).
    week_starts: int = Field(default=1, ge=1, le=7)
    # Revenue per affected user per minute of downtime, per service (seed 003).
    revenue_per_user_per_minute: dict[str, float] = {}
    # Addresses that may scrape GET /metrics without a token (CIDR notation).
    metrics_allow: list[str] = ["127.0.0.1/32", "::1/128"]
    # Reports the engine e-mails (HTML body, PDF attached).
    schedule: list[ScheduledReport] = []

    # Vendor severity words → warroom severity names for `warroom import pagerduty|opsgenie|
    # grafana-oncall` (docs/import.md), e.g. {pagerduty: {P1: SEV1, high: SEV2, default: SEV3}}.
    import_severity: dict[str, dict[str, str]] = {}

    @field_validator("import_severity")
    @classmethod
    def _known_vendors(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for vendor in value:
            if vendor not in ("pagerduty", "opsgenie", "grafana-oncall"):
                raise ValueError(
                    f"import_severity: unknown vendor {vendor!r} "
                    "(pagerduty, opsgenie or grafana-oncall)"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("revenue_per_user_per_minute")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for service, figure in value.items():
            if figure < 0:
                raise ValueError(f"revenue for {service!r} must not be negative")
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network: {entry!r}") from exc
        return value

    def networks(self) -> list[IPv4Network | IPv6Network]:
        """Return the allow-list as networks."""
        return [ip_network(entry, strict=False) for entry in self.metrics_allow]
