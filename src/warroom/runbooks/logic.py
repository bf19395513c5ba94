"""Runbook rules (pure): which runbooks fit an incident, its steps with their SLAs, overdue.

Every rule with a clock in it takes `now`; due times are instants (declaration plus the
SLA as elapsed time), so a DST change in anyone's zone moves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from warroom.config.runbooks import PHASES, Runbook, slugify


class StepState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class IncidentFacts:
    """What matching looks at."""

    type: str | None
    severity: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class Attached:
    """A runbook attached to an incident, and the rule that attached it."""

    runbook: Runbook
    matched_by: str


@dataclass(frozen=True)
class PlannedStep:
    key: str
    runbook: str
    matched_by: str
    phase: str
    position: int
    text: str
    role: str | None
    requires_approval: str | None
    sla: str | None
    due_at: datetime | None
    extras: dict[str, Any] = field(default_factory=dict)


def _any(wanted: Sequence[str], have: Sequence[str]) -> list[str]:
    low = {h.lower() for h in have}
    return [w for w in wanted if w.lower() in low]


def match(
    runbooks: Sequence[Runbook],
    facts: IncidentFacts,
    *,
    named: dict[str, str] | None = None,
) -> list[Attached]:
    """The runbooks that fit `facts`, in configuration order, each with why it fits.

    `named` maps runbook names to the reason they were named (an incident type's or a
    service's `runbook:`); those attach whatever their `match` says.
    """
    named = named or {}
    found: list[Attached] = []
    for book in runbooks:
        if book.name in named:
            found.append(Attached(book, named[book.name]))
            continue
        rule = book.match
        if rule is None:
            found.append(Attached(book, "no match rule: every incident"))
            continue
        if not (rule.types or rule.severities or rule.services):
            found.append(Attached(book, "empty match rule: every incident"))
            continue
        reasons: list[str] = []
        if rule.types:
            hit = _any(rule.types, [facts.type] if facts.type else [])
            if not hit:
                continue
            reasons.append(f"type {hit[0]}")
        if rule.severities:
            hit = _any(rule.severities, [facts.severity])
            if not hit:
                continue
            reasons.append(f"severity {hit[0]}")
        if rule.services:
            hit = _any(rule.services, facts.services)
            if not hit:
                continue
            reasons.append(f"service {', '.join(hit)}")
        found.append(Attached(book, "match: " + " and ".join(reasons)))
    return found


def _sla_text(raw: str | dict[str, str] | None, severity: str) -> str | None:
    if isinstance(raw, dict):
        return next((v for k, v in raw.items() if k.lower() == severity.lower()), None)
    return raw


def plan(
    attached: Sequence[Attached], *, severity: str, declared_at: datetime
) -> list[PlannedStep]:
    """The checklist of the attached runbooks, by phase, each step due `sla` after declaration."""
    # In UTC: Python adds to an aware time in its own zone by the wall clock, which would
    # make an SLA across a DST change an hour short or long.
    declared_at = declared_at.astimezone(UTC)
    steps: list[PlannedStep] = []
    used: set[str] = set()
    position = 0
    for phase in PHASES:
        for item in attached:
            body = item.runbook.phases.get(phase)
            if body is None:
                continue
            for step in body.steps:
                base = step.id or slugify(step.step)
                key, n = base, 2
                while key in used:
                    key, n = f"{base}-{n}", n + 1
                used.add(key)
                sla = step.sla_for(severity)
                steps.append(
                    PlannedStep(
                        key=key,
                        runbook=item.runbook.name,
                        matched_by=item.matched_by,
                        phase=phase,
                        position=position,
                        text=step.step,
                        role=step.role,
                        requires_approval=step.requires_approval,
                        sla=_sla_text(step.sla, severity),
                        due_at=declared_at + sla if sla is not None else None,
                        extras=step.extras(),
                    )
                )
                position += 1
    return steps


def is_overdue(*, state: str, due_at: datetime | None, now: datetime) -> bool:
    """A pending step past its due time."""
    return state == StepState.PENDING and due_at is not None and now >= due_at


def time_left(*, due_at: datetime | None, now: datetime) -> timedelta | None:
    """How long until the step is due (negative once overdue)."""
    return None if due_at is None else due_at - now


def current_phase(steps: Sequence[tuple[str, str]]) -> str | None:
    """The first phase, in lifecycle order, with a pending step; `steps` are (phase, state)."""
    pending = {phase for phase, state in steps if state == StepState.PENDING}
    return next((p for p in PHASES if p in pending), None)
