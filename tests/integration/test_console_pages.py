"""The console's own pages through TestClient (issue 19, items 5-7): on-call, schedules and
overrides, escalation, the paging ledger and the failing-channel banner, maintenance,
settings (tokens, configuration problems) and integrations — each page and action on both
databases, with the role, CSRF and restricted-incident refusals."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from tests.integration.test_web import HOSTILE, bearer, csrf_of, declare, login
from warroom.auth.models import ApiToken
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.models import Notification
from warroom.engine.timer_job import TimerRunner
from warroom.maintenance.models import MaintenanceWindow
from warroom.notifications.delivery import Deliverer
from warroom.notifications.service import plan_fallback
from warroom.oncall.models import ScheduleOverride
from warroom.settings import Settings

PAGES = ("/oncall", "/schedules", "/schedules/platform", "/escalation", "/notifications",
         "/maintenance")  # fmt: skip
ADMIN_PAGES = ("/settings", "/integrations")


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock) -> AppContext:
    """As the suite's, with a long request timeout: these pages are checked for what they
    show, and a busy test machine must not turn a slow answer into a 503."""
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, request_timeout_seconds=120
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


def _count(ctx: AppContext, model: type) -> int:
    with ctx.db.unit_of_work() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _page_deliveries(ctx: AppContext) -> None:
    """Run the engine's timers and deliveries with no channel configured: every page fails
    for good ("channel … is not configured") and falls back to the next contact method."""
    deliverer = Deliverer({}, fallback=plan_fallback, parallel=1)
    try:
        for _ in range(20):
            TimerRunner()(ctx)
            deliverer(ctx)
    finally:
        deliverer.close()


def _current(page: httpx.Response) -> str:
    found = re.search(r'<a href="([^"]+)" aria-current="page">', page.text)
    assert found, "no navigation entry is marked"
    return found.group(1)


# --- every page -----------------------------------------------------------------------------


def test_pages_need_a_session_and_mark_their_navigation_entry(
    client: TestClient, api_tokens: Tokens
) -> None:
    for path in PAGES + ADMIN_PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    login(client, api_tokens.viewer)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert _current(page) == "/" + path.split("/")[1]
        assert page.headers["cache-control"] == "no-store"
        assert "content-security-policy" in page.headers
    # Viewers (and responders) are not admins: 403, and the nav hides Settings.
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    assert 'href="/settings"' not in client.get("/oncall").text
    login(client, api_tokens.responder)
    assert all(client.get(path).status_code == 403 for path in ADMIN_PAGES)
    login(client, api_tokens.admin)
    for path in ADMIN_PAGES:
        page = client.get(path)
        assert page.status_code == 200 and _current(page) == path


# --- on-call --------------------------------------------------------------------------------


def test_oncall_shows_who_is_on_call_in_the_viewers_time_zone(
    client: TestClient, api_tokens: Tokens
) -> None:
    now = client.get("/api/v1/oncall", headers=bearer(api_tokens.viewer)).json()["entries"]
    commander = next(
        e for e in now if e["schedule"] == "incident-commander" and e["layer"] == "primary"
    )
    # 2024-03-15 09:30 UTC: Jane's weekly turn ends Monday 18 March 09:00 UTC.
    assert commander["user"] == "jane.smith" and commander["end"].startswith("2024-03-18T09:00")
    login(client, api_tokens.jane)
    page = client.get("/oncall")
    assert page.status_code == 200
    # Jane has no browser cookie yet: her configured zone, named on the page.
    assert "your configured time zone" in page.text
    for entry in now:
        assert entry["user"] in page.text
    # Chosen zone: New York is on EDT (UTC-4) since 10 March.
    page = client.get("/oncall", params={"tz": "America/New_York"})
    assert "<strong>America/New_York</strong> (EDT, chosen time zone)" in page.text
    assert "until Mon 18 Mar 05:00" in page.text
    # The browser's zone (the cookie warroom.js sets); a bogus one falls back.
    client.cookies.set("warroom_tz", "Asia/Tokyo")
    page = client.get("/oncall")
    assert "<strong>Asia/Tokyo</strong> (JST, your browser time zone)" in page.text
    assert "until Mon 18 Mar 18:00" in page.text
    client.cookies.set("warroom_tz", "../../etc/passwd")
    assert "your configured time zone" in client.get("/oncall").text
    client.cookies.delete("warroom_tz")
    # By service: payment-service pages the platform primary first.
    services = page.text.split('id="services-on-call"')[1].split("</dl>")[0]
    assert "Payments" in services and "platform / primary" in services
    # Her own shifts and the week grid, hers marked.
    mine = page.text.split('id="mine"')[1].split("</ul>")[0]
    assert "Incident Commander rotation / primary" in mine
    assert 'class="shift mine"' in page.text


def test_a_calendar_link_is_made_from_the_page_and_shown_once(
    client: TestClient, api_tokens: Tokens
) -> None:
    login(client, api_tokens.jane)
    csrf = csrf_of(client.get("/oncall"))
    assert client.post("/oncall/calendar-feed").status_code == 403  # no CSRF token
    r = client.post("/oncall/calendar-feed", data={"csrf_token": csrf})
    assert r.status_code == 200
    url = re.search(r'id="feed-url" class="secret" readonly value="([^"]+)"', r.text)
    assert url and "/calendars/wrcal_" in url.group(1)
    feed = client.get(url.group(1).replace("http://testserver", ""))
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
    assert "jane.smith" in feed.text or "Incident Commander" in feed.text
    # Listed afterwards, never shown again.
    again = client.get("/oncall")
    assert "You have 1 active link" in again.text and url.group(1) not in again.text
    # A token that belongs to no person has no shifts to subscribe to.
    login(client, api_tokens.viewer)
    csrf = csrf_of(client.get("/oncall"))
    r = client.post("/oncall/calendar-feed", data={"csrf_token": csrf})
    assert r.status_code == 422 and "belongs to no person" in r.text


def test_an_override_is_made_and_cancelled_from_the_schedule_page(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    login(client, api_tokens.responder)
    page = client.get("/schedules/incident-commander", params={"tz": "Europe/Berlin"})
    assert page.status_code == 200 and 'id="override-form"' in page.text
    form = {
        "csrf_token": csrf_of(page),
        "kind": "replace",
        "user": "bob.wilson",
        "replaces": "jane.smith",
        "layer": "primary",
        "start": "2024-03-15T12:00",
        "end": "2024-03-15T20:00",
        "reason": f"dentist {HOSTILE}",
    }
    # Times are read in the viewer's zone (Berlin, UTC+1 in March).
    r = client.post("/schedules/incident-commander/overrides?tz=Europe/Berlin", data=form)
    assert r.status_code == 200, r.text
    assert "Override 1 added: replace bob.wilson." in r.text
    assert HOSTILE not in r.text and "dentist &lt;script&gt;" in r.text
    listed = client.get(
        "/api/v1/schedules/incident-commander/overrides", headers=bearer(api_tokens.viewer)
    ).json()
    assert [(o["user"], o["start"][:16], o["end"][:16]) for o in listed] == [
        ("bob.wilson", "2024-03-15T11:00", "2024-03-15T19:00")
    ]
    # Bad input names the field; nothing is stored.
    bad = dict(form, start="2024-03-15T20:00", end="2024-03-15T12:00")
    r = client.post("/schedules/incident-commander/overrides", data=bad)
    assert r.status_code == 422 and "end: must be after start" in r.text
    r = client.post("/schedules/incident-commander/overrides", data=dict(form, start="soon"))
    assert r.status_code == 422 and "start: give a date and time" in r.text
    r = client.post("/schedules/incident-commander/overrides", data=dict(form, user="nobody.x"))
    assert r.status_code == 422 and "unknown user" in r.text
    assert client.post("/schedules/no-such/overrides", data=form).status_code == 404
    assert _count(ctx, ScheduleOverride) == 1
    # Cancelled from the page.
    r = client.post(
        "/schedules/incident-commander/overrides/1/cancel", data={"csrf_token": form["csrf_token"]}
    )
    assert r.status_code == 200 and "Override 1 cancelled." in r.text
    assert (
        client.get(
            "/api/v1/schedules/incident-commander/overrides", headers=bearer(api_tokens.viewer)
        ).json()
        == []
    )


def test_overrides_need_a_responder_and_the_csrf_token(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    login(client, api_tokens.viewer)
    page = client.get("/schedules/platform")
    assert 'id="override-form"' not in page.text  # a viewer sees no form
    form = {"csrf_token": csrf_of(page), "kind": "add", "user": "bob.wilson",
            "start": "2024-03-15T12:00", "end": "2024-03-15T13:00"}  # fmt: skip
    assert client.post("/schedules/platform/overrides", data=form).status_code == 403
    login(client, api_tokens.responder)
    form["csrf_token"] = "0" * 64
    assert client.post("/schedules/platform/overrides", data=form).status_code == 403
    form["csrf_token"] = csrf_of(client.get("/schedules/platform"))
    cross = client.post(
        "/schedules/platform/overrides", data=form, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert _count(ctx, ScheduleOverride) == 0
    assert client.get("/schedules/nope").status_code == 404


def test_schedules_list_and_week_grid(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    page = client.get("/schedules")
    for name in ("incident-commander", "platform", "follow-the-sun", "EM_ONCALL"):
        assert f'href="/schedules/{name}"' in page.text
    week = client.get("/schedules/platform", params={"tz": "UTC", "week": "1"})
    # The week after the one of 15 March 2024 starts on Friday 22 March (today + 7 days).
    assert "Week of 22 Mar 2024" in week.text
    assert week.text.count('<th scope="col"') == 8  # the layer column and 7 days
    assert "business-hours" in week.text and "primary" in week.text


# --- escalation, notifications, the incident ledger, the dashboard banner -------------------


def test_escalation_lists_each_policy_and_its_steps(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    page = client.get("/escalation")
    for policy in ("platform-oncall", "api-follow-the-sun", "security-oncall"):
        assert f'id="{policy}"' in page.text
    platform = page.text.split('id="platform-oncall"')[1].split("</section>")[0]
    assert "schedule <strong>platform</strong> / primary" in platform
    assert "after 5m" in platform or "after" in platform
    assert "payment-service" in platform


def test_the_paging_ledger_shows_failures_and_hides_restricted_incidents(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    open_key = declare(client, api_tokens.responder, severity="SEV1", title="Checkout down")
    secret_key = declare(
        client, api_tokens.responder, severity="SEV1", title="Secret leak", restricted=True
    )
    _page_deliveries(ctx)
    with ctx.db.unit_of_work() as uow:
        statuses = set(uow.session.scalars(select(Notification.status)))
    assert "failed" in statuses and "sent" not in statuses, statuses

    # The admin sees both incidents' pages, and the banner on the dashboard.
    login(client, api_tokens.admin)
    dashboard = client.get("/")
    banner = dashboard.text.split('id="failing-channels"')[1].split("</div>")[0]
    assert "Pages are failing to go out." in dashboard.text
    assert "voice</strong>" in banner and "is not configured" in banner
    page = client.get("/notifications", params={"incident": secret_key})
    assert page.status_code == 200 and f'href="/incidents/{secret_key}"' in page.text
    ledger = client.get(f"/incidents/{secret_key}").text.split('id="ledger"')[1]
    assert "tom.nguyen" in ledger and "failed" in ledger and "is not configured" in ledger

    # A viewer, an outsider to the restricted incident, sees only the open one's.
    login(client, api_tokens.viewer)
    everything = client.get("/notifications").text
    assert f'href="/incidents/{open_key}"' in everything
    assert f'href="/incidents/{secret_key}"' not in everything
    only = client.get("/notifications", params={"incident": secret_key}).text
    assert "No notifications match." in only
    assert client.get(f"/incidents/{secret_key}").status_code == 404
    # Addresses are for admins: others see the last four characters.
    assert "@example.com" not in everything
    assert "is not configured" in client.get("/").text  # the banner, from the open one
    # Filters: by status and channel; a bad incident number is a 400 naming it.
    assert "No notifications match." in client.get("/notifications?status=sent").text
    assert client.get("/notifications?incident=%3Cb%3E").status_code == 400


def test_the_ledger_shows_delivered_pages(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    from warroom.notifications.ports import OutgoingMessage, SendResult

    class Inbox:
        """An in-process channel that accepts every message (what a working one answers)."""

        def __init__(self) -> None:
            self.got: list[OutgoingMessage] = []

        def send(self, message: OutgoingMessage) -> SendResult:
            self.got.append(message)
            return SendResult(provider_id=f"inbox-{len(self.got)}")

    inbox = Inbox()
    key = declare(client, api_tokens.responder, severity="SEV1", title="Checkout down")
    deliverer = Deliverer({"email": inbox, "slack": inbox}, fallback=plan_fallback, parallel=1)
    try:
        TimerRunner()(ctx)
        deliverer(ctx)
    finally:
        deliverer.close()
    assert inbox.got
    login(client, api_tokens.viewer)
    ledger = client.get(f"/incidents/{key}").text.split('id="ledger"')[1].split("</section>")[0]
    assert "delivered" in ledger and "tom.nguyen" in ledger
    assert 'id="failing-channels"' not in client.get("/").text


# --- maintenance ------------------------------------------------------------------------------


def test_maintenance_windows_are_scheduled_and_ended_from_the_page(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    login(client, api_tokens.viewer)
    page = client.get("/maintenance")
    assert 'id="maintenance-form"' not in page.text
    csrf = csrf_of(page)
    form = {"csrf_token": csrf, "service": "search", "starts_at": "",
            "ends_at": "2024-03-15T11:30", "reason": "reindex <b>"}  # fmt: skip
    assert client.post("/maintenance?tz=UTC", data=form).status_code == 403
    login(client, api_tokens.responder)
    form["csrf_token"] = csrf_of(client.get("/maintenance"))
    assert client.post("/maintenance", data=dict(form, csrf_token="")).status_code == 403
    r = client.post("/maintenance?tz=UTC", data=form)
    assert r.status_code == 200 and "Maintenance window 1 scheduled for search." in r.text
    assert "reindex &lt;b&gt;" in r.text and "open now" in r.text
    api = client.get("/api/v1/maintenance", headers=bearer(api_tokens.viewer)).json()
    assert [(w["service"], w["active"], w["ends_at"][:16]) for w in api] == [
        ("search", True, "2024-03-15T11:30")
    ]
    bad = client.post("/maintenance?tz=UTC", data=dict(form, ends_at="2024-03-15T08:00"))
    assert bad.status_code == 422 and "ends_at" in bad.text
    unknown = client.post("/maintenance?tz=UTC", data=dict(form, service="nope"))
    assert unknown.status_code == 422 and "unknown service" in unknown.text
    assert _count(ctx, MaintenanceWindow) == 1
    r = client.post("/maintenance/1/end", data={"csrf_token": form["csrf_token"]})
    assert r.status_code == 200 and "Maintenance window 1 ended." in r.text
    api = client.get("/api/v1/maintenance", headers=bearer(api_tokens.viewer)).json()
    assert api[0]["active"] is False and api[0]["cancelled_at"] is not None
    assert (
        client.post("/maintenance/99/end", data={"csrf_token": form["csrf_token"]}).status_code
        == 404
    )


# --- settings and integrations ----------------------------------------------------------------


def test_admins_create_and_revoke_tokens_from_settings(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    login(client, api_tokens.admin)
    page = client.get("/settings")
    assert "Configuration problems" in page.text and 'id="tokens"' in page.text
    # The example configuration names channels the test settings do not configure.
    assert "channels:" in page.text
    csrf = csrf_of(page)
    form = {"csrf_token": csrf, "name": f"pager {HOSTILE}", "role": "responder",
            "user": "jane.smith", "expires_in_days": "30"}  # fmt: skip
    before = _count(ctx, ApiToken)
    r = client.post("/settings/tokens", data=form)
    assert r.status_code == 200, r.text
    secret = re.search(r'id="new-secret" class="secret" readonly value="(wr_[^"]+)"', r.text)
    assert secret, "the new token is shown once"
    assert HOSTILE not in r.text
    who = client.get("/api/v1/whoami", headers=bearer(secret.group(1))).json()
    assert who == {"name": f"pager {HOSTILE}", "role": "responder", "user": "jane.smith"}
    again = client.get("/settings")
    assert secret.group(1) not in again.text and "2024-04-14 09:30" in again.text
    # Refusals name the field; nothing is stored.
    assert "already exists" in client.post("/settings/tokens", data=form).text
    assert (
        "unknown user" in client.post("/settings/tokens", data=dict(form, name="x", user="zz")).text
    )
    assert client.post("/settings/tokens", data=dict(form, name="y", role="god")).status_code == 422
    assert _count(ctx, ApiToken) == before + 1
    # Revoke: the token stops working.
    token_id = re.search(r'id="token-(\d+)">\s*<td>pager', again.text)
    assert token_id
    r = client.post(f"/settings/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 200 and "revoked" in r.text
    assert client.get("/api/v1/whoami", headers=bearer(secret.group(1))).status_code == 401


def test_settings_actions_are_for_admins_with_the_csrf_token(
    client: TestClient, ctx: AppContext, api_tokens: Tokens
) -> None:
    before = _count(ctx, ApiToken)
    login(client, api_tokens.responder)
    csrf = csrf_of(client.get("/oncall"))
    for path, data in (
        ("/settings/tokens", {"name": "sneaky", "role": "admin"}),
        ("/settings/tokens/1/revoke", {}),
        ("/integrations", {"name": "i", "type": "pagerduty", "service": "search"}),
        ("/integrations/1/rotate", {}),
    ):
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403, path
    login(client, api_tokens.admin)
    assert client.post("/settings/tokens", data={"name": "n", "role": "viewer"}).status_code == 403
    assert _count(ctx, ApiToken) == before
    assert client.get("/api/v1/whoami", headers=bearer(api_tokens.admin)).status_code == 200


def test_integrations_are_created_and_rotated_from_the_page(
    client: TestClient, api_tokens: Tokens
) -> None:
    login(client, api_tokens.admin)
    csrf = csrf_of(client.get("/integrations"))
    r = client.post(
        "/integrations",
        data={"csrf_token": csrf, "name": "prod alertmanager", "type": "alertmanager",
              "service": "api-gateway"},
    )  # fmt: skip
    assert r.status_code == 200 and "Integration prod alertmanager created." in r.text
    key = re.search(r'id="key-1" class="secret" readonly value="([0-9a-f]{32})"', r.text)
    url = re.search(r'id="url-1" class="secret" readonly value="([^"]+)"', r.text)
    assert key and url and url.group(1).endswith("/api/v1/integrations/alertmanager")
    assert 'data-copy="#key-1"' in r.text
    sent = {"alerts": [{"status": "firing", "labels": {"alertname": "Down"}}]}
    r = client.post("/api/v1/integrations/alertmanager", json=sent, headers=bearer(key.group(1)))
    assert r.status_code in (200, 202), r.text
    r = client.post("/integrations/1/rotate", data={"csrf_token": csrf})
    assert r.status_code == 200 and "has a new key" in r.text
    rotated = re.search(r'id="key-1" class="secret" readonly value="([0-9a-f]{32})"', r.text)
    assert rotated and rotated.group(1) != key.group(1)
    old = client.post("/api/v1/integrations/alertmanager", json=sent, headers=bearer(key.group(1)))
    assert old.status_code in (401, 403, 404)
    new = client.post(
        "/api/v1/integrations/alertmanager", json=sent, headers=bearer(rotated.group(1))
    )
    assert new.status_code in (200, 202)
    # The API rotates the same way.
    api = client.post("/api/v1/integrations/1/rotate", headers=bearer(api_tokens.admin))
    assert api.status_code == 200 and api.json()["key"] != rotated.group(1)
    assert (
        client.post(
            "/api/v1/integrations/1/rotate", headers=bearer(api_tokens.responder)
        ).status_code
        == 403
    )
    dup = client.post(
        "/integrations",
        data={"csrf_token": csrf, "name": "prod alertmanager", "type": "alertmanager",
              "service": "api-gateway"},
    )  # fmt: skip
    assert dup.status_code == 409 and "already exists" in dup.text
