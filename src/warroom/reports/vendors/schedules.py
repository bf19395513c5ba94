"""Imported schedules become database schedules (as `POST /api/v1/schedules` makes them).

A schedule a vendor import mapped is created in the database when its name is free and
every participant is a configured user; it then leaves the configuration fragment (a
schedule defined twice would have the configuration's copy win). One whose participants
are not users yet stays in the fragment, with a warning: add the fragment's users to the
configuration and import again — the import is idempotent, the incidents are skipped and
the schedule is created. A name already taken (by the configuration, or by an earlier
import) is left alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.oncall import Schedule as ScheduleSpec
from warroom.config.schema import WarroomConfig
from warroom.oncall import service as oncall
from warroom.reports.vendors.common import Note, Plan


def define(
    session: Session,
    *,
    config: WarroomConfig,
    plan: Plan,
    actor: Principal,
    now: datetime,
    dry_run: bool,
) -> list[str]:
    """Create the plan's schedules that can be (with `dry_run`, write nothing); return their
    names and leave in `plan.schedules` only those still for the configuration fragment."""
    handles = {u.handle for u in config.users}
    created: list[str] = []
    remaining: list[dict[str, Any]] = []
    for data in plan.schedules:
        spec = ScheduleSpec.model_validate(data)
        existing = oncall.get(session, config=config, name=spec.name)
        if existing is not None:
            where = "the configuration" if existing.source == "config" else "the database"
            plan.warnings.append(
                Note("schedule", spec.name, f"a schedule of that name is in {where}; left alone")
            )
            continue
        unknown = sorted(
            {p for layer in spec.layers for p in layer.participants} - handles
        ) if config.users else []  # fmt: skip
        if unknown:
            plan.warnings.append(
                Note(
                    "schedule",
                    spec.name,
                    f"not created: {', '.join(unknown)} not configured users yet; add the "
                    "fragment's users to the configuration and import again",
                )
            )
            remaining.append(data)
            continue
        if not dry_run:
            oncall.create(session, config=config, spec=spec, actor=actor, now=now)
        created.append(spec.name)
    plan.schedules = remaining
    return created
