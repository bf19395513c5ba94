"""Integration routes: `/api/v1/integrations` (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from warroom.alerts.webhook import check_webhook_settings
from warroom.api import Admin, CtxDep, IdPath, UowDep
from warroom.context import AppContext
from warroom.hardening import bounded
from warroom.heartbeats import service as heartbeats
from warroom.integrations import service
from warroom.integrations.models import Integration
from warroom.integrations.service import IntegrationType

router = APIRouter(prefix="/api/v1/integrations", tags=["integrations"])


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    type: IntegrationType
    service: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    # Bounded like event details: 8 levels, 200 fields and items, 16 KiB as JSON.
    settings: Annotated[dict[str, Any], AfterValidator(bounded.check_details)] = Field(
        default_factory=dict
    )


class IntegrationRead(BaseModel):
    id: int
    name: str
    type: IntegrationType
    service: str
    key: str
    settings: dict[str, Any]
    created_at: datetime
    disabled_at: datetime | None
    url: str


def endpoint_for(base_url: str, integration: Integration) -> str:
    """Where a sender posts for this integration."""
    base = base_url.rstrip("/")
    match integration.type:
        case IntegrationType.PAGERDUTY:
            return f"{base}/v2/enqueue"
        case IntegrationType.HEARTBEAT:
            return f"{base}/api/v1/heartbeats/{integration.key}"
        case IntegrationType.REPORT:
            return f"{base}/report"
        case _:
            return f"{base}/api/v1/integrations/{integration.type}"


def to_read(integration: Integration, base_url: str) -> IntegrationRead:
    return IntegrationRead(
        id=integration.id,
        name=integration.name,
        type=IntegrationType(integration.type),
        service=integration.service,
        key=integration.key,
        settings=integration.settings or {},
        created_at=integration.created_at,
        disabled_at=integration.disabled_at,
        url=endpoint_for(base_url, integration),
    )


def create_integration_row(
    ctx: AppContext,
    session: Session,
    *,
    name: str,
    type: IntegrationType,
    service_name: str,
    settings: dict[str, Any],
) -> Integration:
    """Create an integration (a heartbeat's clock starts; a webhook's settings are checked):
    the API and the console both call this."""
    row = service.create(
        session,
        config=ctx.config,
        name=name,
        type=type,
        service=service_name,
        settings=settings,
        now=ctx.clock.now(),
    )
    if type is IntegrationType.HEARTBEAT:
        heartbeats.register(session, integration=row, now=ctx.clock.now())
    if type is IntegrationType.WEBHOOK:
        check_webhook_settings(settings)
    return row


@router.post("", status_code=201, response_model=IntegrationRead)
def create_integration(
    data: IntegrationCreate, ctx: CtxDep, uow: UowDep, who: Admin, request: Request
) -> IntegrationRead:
    """Create an integration for a service; the answer carries its key and where to post."""
    row = create_integration_row(
        ctx,
        uow.session,
        name=data.name,
        type=data.type,
        service_name=data.service,
        settings=data.settings,
    )
    uow.commit()
    request.app.state.integration_keys.clear()
    return to_read(row, ctx.settings.base_url)


@router.post("/{integration_id}/rotate", response_model=IntegrationRead)
def rotate_integration_key(
    integration_id: IdPath, ctx: CtxDep, uow: UowDep, who: Admin, request: Request
) -> IntegrationRead:
    """A new key for the integration; the old one is refused from now on."""
    row = service.rotate_key(uow.session, integration_id=integration_id)
    uow.commit()
    request.app.state.integration_keys.clear()
    return to_read(row, ctx.settings.base_url)


@router.get("", response_model=list[IntegrationRead])
def list_integrations(ctx: CtxDep, uow: UowDep, who: Admin) -> list[IntegrationRead]:
    return [to_read(i, ctx.settings.base_url) for i in service.list_integrations(uow.session)]


@router.get("/{integration_id}", response_model=IntegrationRead)
def show_integration(
    integration_id: IdPath, ctx: CtxDep, uow: UowDep, who: Admin
) -> IntegrationRead:
    return to_read(service.get(uow.session, integration_id=integration_id), ctx.settings.base_url)
