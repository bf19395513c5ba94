from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings


class Api:
    """A TestClient that speaks as one token at a time."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def as_(self, token: str) -> TestClient:
        self.client.headers["Authorization"] = f"Bearer {token}"
        return self.client


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock) -> AppContext:
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    return AppContext(settings=settings, db=db, config=config, clock=clock)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c
