"""Escalation policies, their targets, and the names the matrix uses (docs/escalation.md)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from warroom.config.base import Duration, Handle, Slug, Strict
from warroom.config.oncall import (
    ScheduleName,
)
from warroom.config.people import (
    ContactMethod,
    ContactMethodType,
    normalise_phone,
)

# --- escalation (issue 4; docs/escalation.md, warroom/escalation/) ---------------------


class TargetType(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    TEAM = "team"
    CHANNEL = "channel"
    ROLE = "role"


def _address_problem(kind: ContactMethodType, address: str) -> str | None:
    """Why `address` is not a valid `kind` destination, or None when it is."""
    try:
        ContactMethod(type=kind, address=address)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors) and errors():
            return str(errors()[0].get("msg", "")).removeprefix("Value error, ")
        return str(exc)
    return None


class EscalationTarget(Strict):
    """Who one escalation step pages.

    user: a handle; schedule: whoever is on call (in every layer, or in `layer`); team:
    every member; role: whoever holds that incident role (e.g. incident_commander) when the
    step runs; channel: a destination that is not a person, `name` being its address and
    `channel` its kind (slack unless given).
    """

    type: TargetType
    name: Annotated[str, Field(min_length=1, max_length=512)]
    layer: ScheduleName | None = None
    channel: ContactMethodType | None = None

    @model_validator(mode="after")
    def _fits_the_type(self) -> EscalationTarget:
        if self.layer is not None and self.type is not TargetType.SCHEDULE:
            raise ValueError("layer applies to schedule targets only")
        if self.type is TargetType.CHANNEL:
            problem = _address_problem(self.channel or ContactMethodType.SLACK, self.name)
            if problem:
                raise ValueError(f"name: {problem}")
        elif self.channel is not None:
            raise ValueError("channel applies to channel targets only")
        return self


class EscalationStep(Strict):
    """Page `targets`; when nobody acknowledges within `delay`, go on to the next step.

    `urgency` picks the people's contact plans (high: calls and texts too); without it,
    the two most severe levels page at high urgency and the others at low.
    """

    delay: Duration
    targets: Annotated[list[EscalationTarget], Field(min_length=1)]
    urgency: Literal["high", "low"] | None = None

    @field_validator("delay")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("a step waits at least 1 minute before escalating")
        return value


class EscalationPolicy(Strict):
    """PagerDuty's escalation policy: ordered steps, `repeat` further passes through them
    (its num_loops) and `ack_timeout` (its acknowledgement_timeout: paging starts again
    when an acknowledged incident is still not resolved that long after the ack)."""

    name: Slug
    title: str = ""
    description: str = ""
    steps: Annotated[list[EscalationStep], Field(min_length=1)]
    repeat: int = Field(default=0, ge=0, le=20)
    ack_timeout: Duration | None = None

    @field_validator("ack_timeout")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(minutes=1):
            raise ValueError("ack_timeout is at least 1 minute (leave it out to turn it off)")
        return value


class EscalationTargetRef(Strict):
    """What a name in the escalation matrix or in a role's escalation trigger stands for
    ("VP of Engineering", "Legal"...): a user, a team, a schedule (one layer of it), an
    incident role, or a contact card for someone who is not a user."""

    user: Handle | None = None
    team: Slug | None = None
    schedule: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    layer: ScheduleName | None = None
    role: Slug | None = None
    # A contact card: shown as `name`, reached at these addresses.
    name: Annotated[str, Field(max_length=128)] = ""
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    teams: str | None = None
    webhook: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> EscalationTargetRef:
        kinds = [k for k in ("user", "team", "schedule", "role") if getattr(self, k)]
        card = {
            kind: getattr(self, kind)
            for kind in ("email", "phone", "slack", "teams", "webhook")
            if getattr(self, kind)
        }
        if len(kinds) + (1 if card else 0) != 1:
            raise ValueError(
                "give exactly one of user, team, schedule, role, or a contact card "
                "(email, phone, slack, teams, webhook)"
            )
        if self.layer is not None and not self.schedule:
            raise ValueError("layer applies to a schedule only")
        for kind, address in card.items():
            method = ContactMethodType.VOICE if kind == "phone" else ContactMethodType(kind)
            problem = _address_problem(method, address)
            if problem:
                raise ValueError(f"{kind}: {problem}")
        return self

    @property
    def addresses(self) -> list[tuple[str, str]]:
        """A contact card's (channel, address) pairs; a phone is called."""
        found: list[tuple[str, str]] = []
        for kind in ("email", "phone", "slack", "teams", "webhook"):
            value = getattr(self, kind)
            if value:
                channel = "voice" if kind == "phone" else kind
                found.append((channel, normalise_phone(value) if kind == "phone" else value))
        return found


def target_key(name: str) -> str:
    """How escalation target names compare: case and spacing do not matter."""
    return " ".join(name.split()).casefold()
