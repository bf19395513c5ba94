"""The `reports:` section: the reporting time zone, revenue figures, who may scrape /metrics."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
