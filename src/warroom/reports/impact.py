"""Business impact (seed 003): affected users * downtime minutes * revenue per user-minute."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.incidents.models import IncidentService
from warroom.reports.metrics_sql import seconds


def total(session: Session, config: WarroomConfig, rows: Any, count: int) -> dict[str, Any]:
    """Return the summed impact of the rows' incidents and how many could be valued."""
    # Valued: `impact.affected_users` known, resolved, and a service with a revenue figure
    # (the highest counts when several have one).
    rates = config.reports.revenue_per_user_per_minute
    if not rates:
        return {"total": None, "valued": 0, "missing": count}
    revenue = (
        select(
            IncidentService.incident_id.label("incident_id"),
            func.max(case(rates, value=IncidentService.service, else_=None)).label("rate"),
        )
        .group_by(IncidentService.incident_id)
        .subquery("revenue")
    )
    minutes = seconds(session, rows.c.resolved_at, rows.c.begin) / 60.0
    value = rows.c.affected_users * minutes * revenue.c.rate
    amount, valued = session.execute(
        select(func.sum(value), func.count(value)).select_from(
            rows.join(revenue, revenue.c.incident_id == rows.c.incident_id)
        )
    ).one()
    return {
        "total": round(float(amount), 2) if amount is not None else None,
        "valued": valued,
        "missing": count - valued,
    }
