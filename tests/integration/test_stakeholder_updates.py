"""Stakeholder updates by audience: seed 004's templates by kind (initial, update,
resolution), tailored per audience, sent by e-mail (a real SMTP server) and to a chat
channel (a local Slack), customers through the status page, recorded on the timeline,
and the update-cadence reminder rescheduled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.adapters.registry import build_notifiers
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.config.statuspage import AudienceConfig, MessageTemplate
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.models import Timer
from warroom.notifications.delivery import Deliverer
from warroom.notifications.service import plan_fallback
from warroom.settings import Settings
from warroom.testing.providers import FakeSlack
from warroom.testing.smtp import FakeSmtp

TITLE = "Primary DB failover loop on db-7"


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(users=[]) as server:
        yield server


def _settings(db: Database, smtp: FakeSmtp, slack: FakeSlack, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="http://warroom.test",
        status_dir=tmp_path / "status",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="warroom@example.com",
        smtp_starttls=False,
        slack_base_url=slack.url,
        slack_token=slack.token,  # type: ignore[arg-type]
    )


@pytest.fixture
def ctx(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    smtp: FakeSmtp,
    slack: FakeSlack,
    tmp_path: Path,
) -> AppContext:
    return AppContext(
        settings=_settings(db, smtp, slack, tmp_path), db=db, config=config, clock=clock
    )


@pytest.fixture
def deliver(ctx: AppContext) -> Iterator[Deliverer]:
    notifiers = build_notifiers(ctx.settings, timeout=5.0)
    deliverer = Deliverer(notifiers, fallback=plan_fallback)
    yield deliverer
    deliverer.close()
    notifiers.close()


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _update(client: TestClient, tokens: Tokens, key: str, **body: Any) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/incidents/{key}/updates", json=body, headers=_as(tokens.responder)
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_updates_by_audience_from_first_to_resolution(
    client: TestClient,
    api_tokens: Tokens,
    ctx: AppContext,
    clock: FakeClock,
    smtp: FakeSmtp,
    slack: FakeSlack,
    deliver: Deliverer,
) -> None:
    smtp.clear()
    slack.clear()
    made = client.post(
        "/api/v1/incidents",
        json={
            "title": TITLE,
            "severity": "SEV1",
            "services": ["payment-service"],
            "commander": "jane.smith",
            "impact": {"affected_users_percent": 40},
        },
        headers=_as(api_tokens.responder),
    )
    key = made.json()["id"]
    clock.advance(minutes=10)
    first = _update(
        client, api_tokens, key, audiences=["executive", "technical"],
        message="Checkout fails for 40% of users; failing over to the replica.",
    )  # fmt: skip
    executive, technical = first["sent"]
    assert executive["kind"] == technical["kind"] == "initial"
    assert executive["subject"] == f"[SEV1] INCIDENT: {TITLE}"
    assert executive["recipients"] == ["alex.rivera@example.com", "leadership@example.com"]
    assert technical["recipients"] == ["engineering@example.com", "#incidents"]
    deliver(ctx)
    smtp.expect_exactly(
        ("alex.rivera@example.com", "Business impact: affected users percent: 40"),
        ("leadership@example.com", f"[SEV1] INCIDENT: {TITLE}", "Point of Contact: Jane"),
        ("engineering@example.com", "INCIDENT DETAILS:", "System: payment-service"),
    )
    slack.expect_exactly(("#incidents", "INCIDENT DETAILS", "Checkout fails"))

    # On the timeline, and the cadence reminder now counts from this update.
    timeline = client.get(f"/api/v1/incidents/{key}/timeline", headers=_as(api_tokens.viewer))
    [note] = [e for e in timeline.json()["events"] if e["type"] == "communication"]
    assert note["description"].startswith("Stakeholder update: executive (initial)")
    with ctx.db.unit_of_work() as uow:
        since = [
            t.payload["since"]
            for t in uow.session.scalars(
                select(Timer).where(Timer.kind == "update_due", Timer.status == "pending")
            )
        ]
    assert since == [clock.now().isoformat()]

    clock.advance(minutes=15)
    second = _update(client, api_tokens, key, audiences=["executive"], message="Failover done.")
    assert second["sent"][0]["subject"] == f"[SEV1] UPDATE: {TITLE}"

    customer = _update(
        client, api_tokens, key, audiences=["customer"], message="Payments work again for most."
    )
    assert customer["sent"][0]["published"] is True
    assert customer["sent"][0]["subject"] == "Service disruption"
    [public] = client.get("/api/v1/status-page/incidents", headers=_as(api_tokens.viewer)).json()
    assert public["updates"][0]["body"] == "Payments work again for most."
    deliver(ctx)
    smtp.expect_exactly(
        ("alex.rivera@example.com", "UPDATE", "Failover done."),
        ("leadership@example.com", "UPDATE", "Failover done."),
        ("support@example.com", "Payments work again for most."),
    )
    [to_customers] = [e for e in smtp.emails if e["To"] == "support@example.com"]
    assert TITLE not in to_customers.get_content()

    resolved = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "resolved", "message": "replica promoted"},
        headers=_as(api_tokens.admin),  # a SEV1 is resolved by its commander or an admin
    )
    assert resolved.status_code == 200, resolved.text
    done = _update(
        client, api_tokens, key, audiences=["executive"], message="Replica promoted.",
        channels=["email"],
    )  # fmt: skip
    assert done["sent"][0]["subject"] == f"[RESOLVED] SEV1: {TITLE}"


def test_bad_updates_name_the_field(client: TestClient, api_tokens: Tokens) -> None:
    made = client.post(
        "/api/v1/incidents",
        json={"title": "x", "severity": "SEV3"},
        headers=_as(api_tokens.responder),
    )
    key = made.json()["id"]
    for body, field in (
        ({"audiences": ["board"], "message": "hi"}, "audiences.0"),
        ({"audiences": [], "message": "hi"}, "audiences"),
        ({"audiences": ["executive"], "message": ""}, "message"),
        ({"audiences": ["executive"], "message": "hi", "channels": ["fax"]}, "channels.0"),
    ):
        answer = client.post(
            f"/api/v1/incidents/{key}/updates", json=body, headers=_as(api_tokens.responder)
        )
        assert answer.status_code == 422, body
        assert answer.json()["error"]["details"][0]["field"] == field, answer.json()
    viewer = client.post(
        f"/api/v1/incidents/{key}/updates",
        json={"audiences": ["executive"], "message": "hi"},
        headers=_as(api_tokens.viewer),
    )
    assert viewer.status_code == 403


def test_configured_templates_replace_the_defaults_in_a_sandbox(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    smtp: FakeSmtp,
    slack: FakeSlack,
    tmp_path: Path,
    api_tokens: Tokens,
) -> None:
    audience = AudienceConfig(
        email={"*": ["board@example.com"]},
        templates={
            "initial": MessageTemplate(subject="{{ id }} for the board", body="{{ message }}!"),
            "update": MessageTemplate(subject="x", body="{{ ''.__class__.__mro__ }}"),
        },
    )
    page = config.status_page.model_copy(
        update={"stakeholders": {**config.status_page.stakeholders, "executive": audience}}
    )
    variant = config.model_copy(update={"status_page": page})
    settings = _settings(db, smtp, slack, tmp_path)
    app = create_app(AppContext(settings=settings, db=db, config=variant, clock=clock))
    with TestClient(app) as client:
        key = client.post(
            "/api/v1/incidents",
            json={"title": "t", "severity": "SEV2"},
            headers=_as(api_tokens.responder),
        ).json()["id"]
        sent = _update(client, api_tokens, key, audiences=["executive"], message="Hello")
        assert sent["sent"][0]["subject"] == f"{key} for the board"
        unsafe = client.post(
            f"/api/v1/incidents/{key}/updates",
            json={"audiences": ["executive"], "message": "again"},
            headers=_as(api_tokens.responder),
        )
        assert unsafe.status_code == 422
        assert unsafe.json()["error"]["details"]["field"] == (
            "status_page.stakeholders.executive.templates.update"
        )
