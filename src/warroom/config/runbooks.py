"""The `runbooks:` section: seed 000's runbook format, plus what warroom adds to it.

A runbook loads as seed 000 writes it (`runbook:` with `phases:` of `steps:`); any extra
key of a step (`checklist`, `criteria`, `command`...) is kept and shown. warroom reads:

* `match`: which incidents get the runbook (`types`, `severities`, `services`; every list
  given must match, any item of a list may). Without `match` a runbook applies to every
  incident, as the standard procedure does. An incident type's or a service's `runbook:`
  naming the runbook also attaches it.
* per step: `sla` (one duration, or one per severity as `sev1: "5 minutes"`), relative to
  the declaration; `role` (who the step is for); `requires_approval` (an action that needs
  an approval granted before the step may be ticked); `id` (else made from the text).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from warroom.config.durations import parse_duration

#: The phases in the order an incident goes through them.
PHASES = (
    "detection",
    "declaration",
    "investigation",
    "containment",
    "remediation",
    "resolution",
    "recovery",
    "post_incident",
)

_Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


def slugify(text: str) -> str:
    """Return a step id made from its text."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug or "step")[:60].rstrip("-")


def sla_duration(text: str) -> timedelta | None:
    """Read an SLA as a duration; None for prose ("All P1 items completed within 2 weeks")."""
    cleaned = re.sub(r"^(within|in|under|less than)\s+", "", text.strip().lower())
    try:
        return parse_duration(cleaned)
    except ValueError:
        return None


class RunbookMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[str] = []
    severities: list[str] = []
    services: list[str] = []


class RunbookStep(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    step: Annotated[str, Field(min_length=1, max_length=500)]
    id: _Slug | None = None
    sla: str | dict[str, str] | None = None
    role: _Slug | None = None
    requires_approval: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("sla")
    @classmethod
    def _per_level_sla_parses(cls, value: Any) -> Any:
        """A per-severity SLA must be durations (a single one may be prose)."""
        if isinstance(value, dict):
            for level, text in value.items():
                if sla_duration(text) is None:
                    raise ValueError(f"{level}: not a duration: {text!r} (write e.g. '15 minutes')")
        return value

    def sla_for(self, severity: str) -> timedelta | None:
        """The step's SLA at `severity`, or None when it has none there."""
        if isinstance(self.sla, str):
            return sla_duration(self.sla)
        if isinstance(self.sla, dict):
            for level, text in self.sla.items():
                if level.lower() == severity.lower():
                    return sla_duration(text)
        return None

    def extras(self) -> dict[str, Any]:
        """The seed's other keys of the step (checklist, criteria, command...)."""
        return dict(self.model_extra or {})


class RunbookPhase(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    description: str = ""
    steps: list[RunbookStep] = []


class Runbook(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=128)]
    version: str | None = None
    owner: str | None = None
    description: str = ""
    match: RunbookMatch | None = None
    phases: dict[str, RunbookPhase] = {}

    @field_validator("phases", mode="before")
    @classmethod
    def _known_phases(cls, value: Any) -> Any:
        """Phase names are the eight of the lifecycle (`post-incident` as `post_incident`)."""
        if not isinstance(value, dict):
            return value
        named = {str(k).replace("-", "_"): v for k, v in value.items()}
        unknown = [k for k in named if k not in PHASES]
        if unknown:
            raise ValueError(f"unknown phase {unknown[0]!r}; one of: {', '.join(PHASES)}")
        return named

    @field_validator("version", "owner", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


def runbook_problems(
    runbooks: list[Runbook], *, roles: set[str], severities: set[str], types: set[str]
) -> list[str]:
    """References of the runbooks to roles, levels and types, and duplicate names."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, book in enumerate(runbooks):
        if book.name in seen:
            problems.append(f"runbooks.{i}.name: duplicate name {book.name!r}")
        seen.add(book.name)
        if book.match is not None:
            problems += [
                f"runbooks.{i}.match.severities: unknown severity {s!r}"
                for s in book.match.severities
                if s not in severities
            ]
            problems += [
                f"runbooks.{i}.match.types: unknown incident type {t!r}"
                for t in book.match.types
                if t not in types
            ]
        for phase, body in book.phases.items():
            for j, step in enumerate(body.steps):
                if step.role is not None and step.role not in roles:
                    problems.append(
                        f"runbooks.{i}.phases.{phase}.steps.{j}.role: unknown role {step.role!r}"
                    )
    return problems


class HandoffsConfig(BaseModel):
    """The `handoffs:` section: a handoff not confirmed within `confirm_within` escalates.

    Both ICs are told, with high urgency, and the timeline says so; the draft stays open.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirm_within: Annotated[timedelta, BeforeValidator(parse_duration)] = timedelta(minutes=15)
