"""`POST /api/v1/classify`: seed 000's classifier over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from warroom.api import CtxDep, Viewer
from warroom.errors import ValidationFailed
from warroom.severity.logic import ImpactMetrics, classify

router = APIRouter(prefix="/api/v1", tags=["classification"])


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate_percent: float = Field(ge=0, le=100, allow_inf_nan=False)
    affected_users_percent: float = Field(ge=0, le=100, allow_inf_nan=False)
    revenue_impact_per_hour: float = Field(default=0, ge=0, allow_inf_nan=False)
    is_security_incident: bool = False
    is_data_loss: bool = False
    core_feature_affected: bool = False


class ClassifyResponse(BaseModel):
    severity: str
    rank: int
    rule: str
    explanation: str
    requirements: dict[str, Any]


@router.post("/classify", response_model=ClassifyResponse)
def classify_impact(data: ClassifyRequest, ctx: CtxDep, who: Viewer) -> ClassifyResponse:
    """Classify severity from impact metrics; say which rule decided and what the level requires."""
    try:
        metrics = ImpactMetrics(**data.model_dump())
    except ValueError as exc:  # the dataclass names the field first
        field = str(exc).split(":", 1)[0]
        raise ValidationFailed(str(exc), field=field) from exc
    result = classify(
        metrics,
        thresholds=ctx.config.classifier,
        severities=ctx.config.severities,
        roles=ctx.config.roles,
    )
    return ClassifyResponse(
        severity=result.severity,
        rank=result.rank,
        rule=result.rule,
        explanation=result.explanation,
        requirements=result.requirements,
    )
