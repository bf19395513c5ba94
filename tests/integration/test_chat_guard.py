"""Slack's routes behind the guard: no bearer token asked, Slack's signature checked,
bodies still bounded (docs/robustness.md, docs/chat.md)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from warroom.app import create_app
from warroom.chat.models import ChatAction
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig, SlackChannelConfig
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.incidents.models import Incident
from warroom.settings import Settings
from warroom.testing.slack_api import FakeSlackWorkspace

from .test_chat_slack import BASE, JANE, SECRET, signed

LIMIT = 2048
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(db: Database, config: WarroomConfig, clock: FakeClock) -> Iterator[TestClient]:
    users = [
        u.model_copy(update={"slack": JANE}) if u.handle == "jane.smith" else u
        for u in config.users
    ]
    chat = ChatConfig(slack=SlackChannelConfig(enabled=True))
    with FakeSlackWorkspace(users=[], lifetime=60) as slack:
        settings = Settings(
            database_url=db.url,
            auto_migrate=False,
            engine=False,
            max_body_bytes=LIMIT,
            slack_token=SecretStr(slack.token),
            slack_signing_secret=SecretStr(SECRET),
            slack_base_url=slack.url,
        )
        cfg = config.model_copy(update={"users": users, "chat": chat})
        ctx = AppContext(settings=settings, db=db, config=cfg, clock=clock)
        with TestClient(create_app(ctx)) as c:
            yield c


def _declare(text: str, *, pad: str = "") -> bytes:
    form = {"command": "/incident", "text": text, "user_id": JANE, "user_name": "jane.smith"}
    if pad:
        form["team_domain"] = pad
    return urlencode(form).encode()


def _incidents(db: Database) -> int:
    with db.unit_of_work() as uow:
        return int(uow.session.scalar(select(func.count(Incident.id))) or 0)


def test_a_signed_command_needs_no_bearer_token(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    body = _declare("declare SEV2 Checkout is slow")
    for extra in ({}, {"Authorization": "Bearer not-a-warroom-token"}):
        response = client.post(
            f"{BASE}/commands", content=body, headers={**FORM, **signed(clock, body), **extra}
        )
        assert response.status_code == 200, response.text
    assert _incidents(db) == 2
    with db.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count(ChatAction.id))) == 2


def test_the_signature_is_checked_not_a_bearer_token(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    body = _declare("declare SEV2 Forged")
    forged = signed(clock, body, secret="some-other-secret")
    response = client.post(f"{BASE}/commands", content=body, headers={**FORM, **forged})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "X-Slack-Signature does not match"
    assert _incidents(db) == 0


def test_a_body_over_the_guards_limit_is_413_and_stores_nothing(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    body = _declare("declare SEV2 Too big", pad="x" * LIMIT)
    assert len(body) > LIMIT
    response = client.post(
        f"{BASE}/commands", content=body, headers={**FORM, **signed(clock, body)}
    )
    assert response.status_code == 413
    assert response.json()["error"]["details"][0]["field"] == "body"
    fits = _declare("declare SEV2 Just fits", pad="x" * (LIMIT - 200))
    assert len(fits) <= LIMIT
    response = client.post(
        f"{BASE}/commands", content=fits, headers={**FORM, **signed(clock, fits)}
    )
    assert response.status_code == 200, response.text
    assert _incidents(db) == 1


def test_a_nul_in_a_signed_form_field_is_400_naming_it(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    body = _declare("declare SEV2 Bad\x00title")
    response = client.post(
        f"{BASE}/commands", content=body, headers={**FORM, **signed(clock, body)}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "text"
    assert _incidents(db) == 0
