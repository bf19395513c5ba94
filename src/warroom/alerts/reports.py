"""User problem reports (the "report a problem" form and API) as `AlertEvent`s (pure)."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)

from warroom.alerts.logic import (
    DEDUP_KEY_MAX,
    Action,
    AlertEvent,
    AlertSeverity,
)

# --- user problem reports -----------------------------------------------------------------

SUMMARY_MAX = 200
DESCRIPTION_MAX = 5000
EMAIL_MAX = 254
REPORT_SOURCE = "user report"
HONEYPOT_FIELD = "website"
REPEAT_WINDOW_SECONDS = 600

_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class ProblemReport(BaseModel):
    """What a person tells us through the public form or `POST /api/v1/reports/problem`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    summary: Annotated[str, StringConstraints(min_length=1, max_length=SUMMARY_MAX)]
    description: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)] = ""
    email: Annotated[str, StringConstraints(max_length=EMAIL_MAX)] = ""
    # The honeypot: hidden from people, filled in by form-stuffing bots.
    website: Annotated[str, StringConstraints(max_length=2000)] = ""

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value.lower()

    @property
    def is_bot(self) -> bool:
        return bool(self.website)


def report_fingerprint(report: ProblemReport, reporter: str) -> str:
    """The same reporter saying the same thing about the same service hashes the same."""
    text = "\x1f".join(
        (reporter, report.service, " ".join(report.summary.split()).lower(), report.description)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def report_event(report: ProblemReport, *, dedup_key: str) -> AlertEvent:
    """The alert a user report raises on its service."""
    details: dict[str, Any] = {}
    if report.description:
        details["description"] = report.description
    if report.email:
        details["reporter_email"] = report.email
    return AlertEvent(
        action=Action.TRIGGER,
        dedup_key=dedup_key[:DEDUP_KEY_MAX],
        summary=f"User report: {report.summary}",
        source=REPORT_SOURCE,
        severity=AlertSeverity.WARNING,
        class_="user_report",
        labels={"source": "user_report", "service": report.service},
        details=details,
        payload=report.model_dump(exclude={"website"}),
    )
