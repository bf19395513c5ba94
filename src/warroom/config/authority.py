"""The `authority:` section: who may change an incident, how its roles are staffed.

The defaults are seed 000's: the Incident Commander assigns severity, assembles the team
(assigns roles), authorizes changes and declares the incident resolved, at every level that
requires an Incident Commander. The Technical Lead authorizes what its `can_authorize`
lists; what a role's `requires_ic_approval` lists only the Incident Commander may.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator

from warroom.config.base import Duration, Handle, Slug, Strict

IC = "incident_commander"


class Action(StrEnum):
    """What the authority rules govern."""

    CHANGE_SEVERITY = "change_severity"
    ASSIGN_ROLES = "assign_roles"
    RESOLVE = "resolve"
    AUTHORIZE = "authorize"


class ActionRule(Strict):
    """Who may do one action: holders of `roles` on the incident.

    `severities` lists the levels where the rule holds; `required` (the default) means the
    levels whose `required_roles` include one of `roles`, so a renamed scheme follows. At
    other levels any responder may act. `when_vacant` says who may act while nobody holds
    any of `roles`: `anyone` (a responder acts until someone takes command) or `admin`.
    """

    roles: list[Slug] = Field(default_factory=lambda: [IC], min_length=1)
    severities: Literal["required", "all"] | list[str] = "required"
    when_vacant: Literal["anyone", "admin"] = "anyone"


def _default_actions() -> dict[Action, ActionRule]:
    return {action: ActionRule() for action in Action}


class IcRotation(Strict):
    """Where an auto-declared incident's commander comes from.

    `schedule` names an on-call schedule (configured or made through the API), `layer` one
    of its layers (default: the first person on call). Without `schedule`, the role's own
    `rotation.schedule` is used when it names a schedule; otherwise `participants` take
    turns at the role's rotation (seed 000: weekly, handoff Monday 09:00 UTC), and with
    `backup_required` the next in turn is the backup.
    """

    role: Slug = IC
    schedule: str | None = None
    layer: str | None = None
    participants: list[Handle] = []


class Staffing(Strict):
    """A level's required roles still empty after its response time are flagged and reminded.

    `within` overrides the time per level; otherwise the level's `response_time` is read
    ("Within 15 minutes"), "Immediate" meaning `immediate` and "Next business day" one day.
    The first reminder goes out when the time is up, then one every `remind_every` until
    the roles are filled or the incident is resolved. Holders of `remind` are told, else
    everyone paged for the incident and its declarer.
    """

    enabled: bool = True
    within: dict[str, Duration] = {}
    immediate: Duration = timedelta(minutes=5)
    remind_every: Duration = timedelta(minutes=15)
    remind: list[Slug] = [IC]


class AuthorityConfig(Strict):
    enforce: bool = True
    actions: dict[Action, ActionRule] = Field(default_factory=_default_actions)
    ic_rotation: IcRotation = IcRotation()
    staffing: Staffing = Staffing()

    @field_validator("actions", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """An action not given keeps its default rule."""
        if isinstance(value, dict):
            return {**{a.value: ActionRule() for a in Action}, **value}
        return value

    def rule(self, action: Action) -> ActionRule | None:
        return self.actions.get(action) if self.enforce else None
