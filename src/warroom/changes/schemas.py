"""Changes as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    service: str
    integration_id: int
    summary: str
    source: str | None
    timestamp: datetime
    received_at: datetime
    custom_details: dict[str, Any]
    links: list[dict[str, Any]]


class ChangePage(BaseModel):
    items: list[ChangeRead]
    total: int
    limit: int
    offset: int
