"""People, teams and services, and how people are reached."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from warroom.config.base import Duration, Handle, Slug, Strict, TimeZoneName


class ContactMethodType(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"
    SLACK = "slack"
    WEBHOOK = "webhook"
    TEAMS = "teams"


_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")


def normalise_phone(value: str) -> str:
    """`+1 555-0110` → `+15550110`: a `+`, then 6 to 15 digits; spaces, dashes, dots and
    parentheses are dropped."""
    compact = re.sub(r"[\s().-]", "", value)
    if not _PHONE.match(compact):
        raise ValueError(f"{value!r} is not a phone number in international form (+1 555 0100)")
    return compact


def check_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an email address")
    return value


class ContactMethod(Strict):
    """One way to reach a person (docs/notifications.md). The address is checked per type."""

    type: ContactMethodType
    address: Annotated[str, Field(min_length=1, max_length=512)]
    label: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")] | None = None

    @field_validator("address")
    @classmethod
    def _address_fits_type(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        kind = info.data.get("type")
        if kind in (ContactMethodType.SMS, ContactMethodType.VOICE):
            return normalise_phone(value)
        if kind is ContactMethodType.EMAIL:
            return check_email(value)
        if kind is ContactMethodType.WEBHOOK and not re.match(r"^https?://\S+$", value):
            raise ValueError("a webhook address is an http(s) URL")
        if kind is ContactMethodType.TEAMS and not re.match(r"^https://\S+$", value):
            raise ValueError("a Teams address is the incoming webhook's https URL")
        if kind is ContactMethodType.SLACK and (not value or any(c.isspace() for c in value)):
            raise ValueError("a Slack address is #channel, @handle, a member id or an email")
        return value


class NotificationRule(Strict):
    """Reach the person by `method` (a contact method type or label) `after` the page."""

    after: Duration = timedelta(0)
    method: Annotated[str, Field(min_length=1)]
    urgency: Literal["high", "low", "any"] = "any"


class User(Strict):
    handle: Handle
    name: str
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    timezone: TimeZoneName = "UTC"
    title: str | None = None
    # `email`, `phone` and `slack` stay as shorthand for implicit contact methods.
    contact_methods: list[ContactMethod] = []
    notification_rules: list[NotificationRule] = []

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else check_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None:
            normalise_phone(value)  # kept as written; contact plans use the normal form
        return value

    @model_validator(mode="after")
    def _rules_name_methods(self) -> User:
        types = {m.type.value for m in self.contact_methods}
        types |= {"email"} if self.email else set()
        types |= {"sms", "voice"} if self.phone else set()
        types |= {"slack"} if self.slack else set()
        labels = [m.label.casefold() for m in self.contact_methods if m.label]
        problems = []
        for label in sorted({x for x in labels if labels.count(x) > 1}):
            problems.append(f"contact_methods: duplicate label {label!r}")
        for label in labels:
            if label in {t.value for t in ContactMethodType}:
                problems.append(f"contact_methods: label {label!r} is a method type")
        for i, rule in enumerate(self.notification_rules):
            method = rule.method.casefold()
            if method not in types and method not in labels:
                problems.append(
                    f"notification_rules.{i}.method: {rule.method!r} names no contact "
                    f"method of this user (has {', '.join(sorted(types) + labels) or 'none'})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Team(Strict):
    name: Slug
    title: str = ""
    members: list[Handle] = []
    slack_channel: str | None = None


class Service(Strict):
    name: Slug
    title: str = ""
    description: str = ""
    owner: Slug | None = None
    tier: int | None = Field(default=None, ge=0, le=4)
    runbook: str | None = None
    dependencies: list[Slug] = []
    # Who is paged for its incidents (docs/escalation.md); a name in escalation_policies.
    escalation_policy: Slug | None = None
