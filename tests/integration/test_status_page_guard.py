"""The status page behind the guard (hardening/middleware.py): the public page, its feeds
and subscriptions need no token; bad or oversized subscription bodies are refused before
anything is stored; the management API still asks for a token before reading a body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings
from warroom.statuspage.models import StatusComponent, StatusSubscriber

MAX_BODY = 4096


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: Path) -> AppContext:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="http://warroom.test",
        status_dir=tmp_path / "status",
        max_body_bytes=MAX_BODY,
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def _subscribers(ctx: AppContext) -> int:
    with ctx.db.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(StatusSubscriber)) or 0


def test_public_pages_need_no_token_and_set_no_cookie(client: TestClient) -> None:
    for path, kind in (
        ("/status", "text/html"),
        ("/status/history", "text/html"),
        ("/status/api/v2/summary.json", "application/json"),
        ("/status/api/v2/status.json", "application/json"),
        ("/status/history.rss", "xml"),
        ("/status/history.atom", "xml"),
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert kind in answer.headers["content-type"], path
        assert "set-cookie" not in answer.headers, path
    summary = client.get("/status/api/v2/summary.json").json()
    assert {c["name"] for c in summary["components"]} >= {"API"}


def test_the_guard_stands_in_front_of_the_snapshot(client: TestClient) -> None:
    """A filter with a NUL character never reaches the snapshot server."""
    answer = client.get("/status/api/v2/summary.json", params={"since": "a\x00b"})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "since"


def test_subscriptions_pass_the_guard_without_a_token(client: TestClient, ctx: AppContext) -> None:
    asked = client.post("/status/subscriptions", json={"email": "ann@example.com"})
    assert asked.status_code == 202, asked.text
    assert _subscribers(ctx) == 1
    by_form = client.post("/status/subscriptions", data={"email": "bo@example.com"})
    assert by_form.status_code == 202, by_form.text
    assert _subscribers(ctx) == 2


def test_bad_subscription_bodies_are_refused_before_anything_is_stored(
    client: TestClient, ctx: AppContext
) -> None:
    nul = client.post("/status/subscriptions", data={"email": "eve\x00@example.com"})
    assert nul.status_code == 400
    assert nul.json()["error"]["details"][0]["field"] == "email"
    huge = client.post("/status/subscriptions", json={"email": "x" * MAX_BODY + "@example.com"})
    assert huge.status_code == 413
    assert _subscribers(ctx) == 0


def test_the_management_api_asks_for_a_token_first(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    body = {"name": "Checkout", "status": "operational"}
    missing = client.post("/api/v1/status-page/components", json=body)
    assert missing.status_code == 401
    wrong = client.patch(
        "/api/v1/status-page/components/API",
        json={"status": "major_outage"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert wrong.status_code == 401
    viewer = client.post(
        "/api/v1/status-page/components",
        json=body,
        headers={"Authorization": f"Bearer {api_tokens.viewer}"},
    )
    assert viewer.status_code == 403
    with ctx.db.unit_of_work() as uow:
        names = set(uow.session.scalars(select(StatusComponent.name)))
    assert "Checkout" not in names
    assert client.get("/status/api/v2/components.json").status_code == 200
