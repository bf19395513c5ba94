"""Status page subscribers: double opt-in by e-mail (a real SMTP server) and webhook (a
real HTTP receiver), a message for every public update, unsubscribe links, bad input and
the rate limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.adapters.registry import build_notifiers
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.notifications.delivery import Deliverer
from warroom.notifications.service import plan_fallback
from warroom.settings import Settings
from warroom.testing.providers import FakeWebhookReceiver
from warroom.testing.smtp import FakeSmtp

WEBHOOK_SECRET = "status-page-webhook-secret"


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
def ctx(
    db: Database, config: WarroomConfig, clock: FakeClock, smtp: FakeSmtp, tmp_path: Path
) -> AppContext:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="http://warroom.test",
        status_dir=tmp_path / "status",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="status@example.com",
        smtp_starttls=False,
        webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
    )
    page = config.status_page.model_copy(update={"allow_private_webhooks": True})
    return AppContext(
        settings=settings,
        db=db,
        config=config.model_copy(update={"status_page": page}),
        clock=clock,
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


def _public_update(client: TestClient, tokens: Tokens, key: str, status: str, text: str) -> None:
    answer = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": status, "public": True, "message": text},
        headers=_as(tokens.responder),
    )
    assert answer.status_code == 200, answer.text


def _path(link: str) -> str:
    return link.removeprefix("http://warroom.test")


def test_email_subscribers_confirm_get_updates_and_unsubscribe(
    client: TestClient,
    api_tokens: Tokens,
    ctx: AppContext,
    smtp: FakeSmtp,
    deliver: Deliverer,
) -> None:
    smtp.clear()
    made = client.post(
        "/api/v1/incidents",
        json={"title": "internal title", "severity": "SEV2", "services": ["search"]},
        headers=_as(api_tokens.responder),
    )
    key = made.json()["id"]
    asked = client.post("/status/subscriptions", json={"email": "Ann@Example.com"})
    assert asked.status_code == 202 and asked.json()["status"] == "pending"
    assert "set-cookie" not in asked.headers
    deliver(ctx)
    [confirmation] = smtp.expect_exactly(("ann@example.com", "Confirm your subscription"))
    email = smtp.emails[0]
    assert email["To"] == "ann@example.com"
    assert email["Subject"] == "Confirm your subscription to Acme Status"
    link = re.search(r"http://warroom.test/status/subscriptions/confirm/\S+", confirmation.text)
    assert link is not None

    # Not confirmed yet: a public update sends nothing.
    first = client.post(
        f"/api/v1/status-page/incidents/{key}",
        json={"status": "investigating", "message": "Search results are slow."},
        headers=_as(api_tokens.responder),
    )
    assert first.status_code == 200
    deliver(ctx)
    smtp.expect_none(settle=0.2)
    assert len(smtp.messages) == 1

    confirmed = client.get(_path(link.group(0)))
    assert confirmed.status_code == 200 and "Subscribed" in confirmed.text
    _public_update(client, api_tokens, key, "identified", "A bad index; rebuilding it.")
    deliver(ctx)
    smtp.expect_exactly(("ann@example.com", "A bad index; rebuilding it."))
    update = smtp.emails[1]
    assert update["Subject"] == "[Acme Status] Service disruption: Identified"
    body = update.get_content()
    assert "A bad index; rebuilding it." in body and "internal title" not in body
    unsubscribe = re.search(r"Unsubscribe: (\S+)", body)
    assert unsubscribe is not None
    assert update["List-Unsubscribe"] == f"<{unsubscribe.group(1)}>"

    gone = client.get(_path(unsubscribe.group(1)))
    assert gone.status_code == 200 and "Unsubscribed" in gone.text
    _public_update(client, api_tokens, key, "resolved", "Search is fast again.")
    deliver(ctx)
    smtp.expect_none(settle=0.2)
    assert len(smtp.messages) == 2
    assert client.get("/status/subscriptions/confirm/not-a-token").status_code == 404


def test_webhook_subscribers_get_statuspage_style_documents(
    client: TestClient,
    api_tokens: Tokens,
    ctx: AppContext,
    receiver: FakeWebhookReceiver,
    deliver: Deliverer,
) -> None:
    receiver.clear()
    asked = client.post("/status/subscriptions", json={"webhook_url": receiver.url})
    assert asked.status_code == 202, asked.text
    deliver(ctx)
    [confirmation] = receiver.expect_exactly((receiver.url, "subscription_confirmation"))
    document = confirmation.data["json"]
    assert document["type"] == "subscription_confirmation"
    assert confirmation.data["signature_valid"] is True
    assert client.get(_path(document["confirm_url"])).status_code == 200

    made = client.post(
        "/api/v1/incidents",
        json={"title": "secret", "severity": "SEV1", "services": ["api-gateway"]},
        headers=_as(api_tokens.responder),
    )
    answer = client.post(
        f"/api/v1/incidents/{made.json()['id']}/status",
        json={
            "status": "identified",
            "public": True,
            "message": "API errors; fix coming.",
            "components": {"API": "major_outage"},
        },
        headers=_as(api_tokens.responder),
    )
    assert answer.status_code == 200
    deliver(ctx)
    [sent] = receiver.expect_exactly((receiver.url, "API errors; fix coming."))
    doc = sent.data["json"]
    assert doc["incident"]["status"] == "identified"
    assert doc["incident"]["incident_updates"][0]["body"] == "API errors; fix coming."
    assert doc["page"]["status_indicator"] == "critical"
    assert doc["meta"]["unsubscribe"].startswith("http://warroom.test/status/subscriptions/")
    assert "secret" not in sent.text


def test_bad_subscriptions_name_the_field(client: TestClient) -> None:
    for body, field in (
        ({"email": "not an address"}, "email"),
        ({"email": "a@b.c\r\nBcc: x@y.z"}, "email"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"email": "a@example.com", "webhook_url": "https://example.com"}, "email"),
        ({"phone": "+1555"}, "phone"),
        ({}, "email"),
    ):
        client.app.state.status_limits = None  # type: ignore[attr-defined]  # each from afresh
        answer = client.post("/status/subscriptions", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["details"]["field"] == field, body


def test_private_webhooks_are_refused_by_default(
    db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, status_dir=tmp_path / "s"
    )
    app = create_app(AppContext(settings=settings, db=db, config=config, clock=clock))
    with TestClient(app) as client:
        for url in ("http://127.0.0.1:9/hook", "http://10.0.0.5/x", "http://localhost/x"):
            answer = client.post("/status/subscriptions", json={"webhook_url": url})
            assert answer.status_code == 422, url
            assert answer.json()["error"]["details"]["field"] == "webhook_url"


def test_subscribing_is_rate_limited(client: TestClient) -> None:
    codes = [
        client.post("/status/subscriptions", json={"email": f"p{i}@example.com"}).status_code
        for i in range(6)
    ]
    assert codes == [202] * 5 + [429]
    limited = client.post("/status/subscriptions", json={"email": "late@example.com"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_page_form_subscribes_without_javascript(client: TestClient) -> None:
    page = client.get("/status").text
    assert 'action="http://warroom.test/status/subscriptions"' in page
    answer = client.post("/status/subscriptions", data={"email": "form@example.com"})
    assert answer.status_code == 202
    assert answer.headers["content-type"].startswith("text/html")
    assert "Check your inbox" in answer.text
