"""Insight routes: `/api/v1/reports/…` and `/api/v1/import/incidents`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from warroom.api import CtxDep, UowDep, Viewer
from warroom.errors import ValidationFailed
from warroom.reports import metrics as metrics_service
from warroom.reports.logic import GroupBy

router = APIRouter(tags=["reports"])


@router.get("/api/v1/reports/metrics")
def get_metrics(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    group_by: Annotated[GroupBy | None, Query()] = None,
    service: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Return MTTD, MTTA, MTTM, MTTR, counts and rates of the incidents declared in range."""
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until must be after since", field="until")
    query = metrics_service.Query(
        since=since, until=until, group_by=group_by, services=tuple(service or ())
    )
    return metrics_service.metrics(uow.session, config=ctx.config, viewer=who, query=query)
