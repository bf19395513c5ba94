"""Reminders and escalations for postmortems and action items, driven by a fake clock, and
the review invitation delivered over real SMTP (aiosmtpd) and parsed back as iCalendar."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.adapters.email import SmtpNotifier
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.notifications.delivery import Deliverer
from warroom.postmortems.reminders import run_pass
from warroom.testing.smtp import FakeSmtp


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def resolved_sev1(client: TestClient, token: str) -> str:
    r = client.post("/api/v1/incidents", headers=auth(token), json={
        "title": "Payment processing failing", "severity": "SEV1",
        "services": ["payment-service"], "commander": "jane.smith"})  # fmt: skip
    key = str(r.json()["id"])
    r = client.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"},
                    headers=auth(token))  # fmt: skip
    assert r.status_code == 200, r.text
    return key


def follow_ups(ctx: AppContext) -> list[tuple[str, str]]:
    """(recipient, subject) of every reminder or escalation queued, oldest first."""
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification)
            .where(Notification.reason == "follow_up", Notification.channel == "email")
            .order_by(Notification.id)
        )
        return [(str(n.recipient), n.body) for n in rows]


def tick(ctx: AppContext, clock: FakeClock) -> int:
    with ctx.db.unit_of_work() as uow:
        queued = run_pass(ctx, uow.session, clock.now())
        uow.commit()
    return queued


def test_the_owner_is_reminded_before_the_deadline_and_it_escalates_after(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = resolved_sev1(client, api_tokens.jane)  # due 2024-03-17 09:30, 48 h later
    r = client.put(f"/api/v1/incidents/{key}/postmortem", json={"owner": "bob.wilson"},
                   headers=auth(api_tokens.jane))  # fmt: skip
    assert r.status_code == 200, r.text

    clock.advance(hours=23, minutes=59)
    assert tick(ctx, clock) == 0
    clock.advance(minutes=1)  # 24 h before the deadline
    assert tick(ctx, clock) > 0
    reminders = follow_ups(ctx)
    assert [who for who, _ in reminders] == ["bob.wilson"]
    assert f"Postmortem for {key} is due 2024-03-17 09:30 UTC" in reminders[0][1]
    assert tick(ctx, clock) == 0  # once per deadline, however often the job runs

    clock.advance(hours=23, minutes=59)
    assert tick(ctx, clock) == 0
    clock.advance(minutes=1)
    assert tick(ctx, clock) > 0
    escalated = follow_ups(ctx)[1:]
    # The owner is someone else than the commander: the commander hears of it, and the owner.
    assert [who for who, _ in escalated] == ["jane.smith", "bob.wilson"]
    assert all(f"Postmortem for {key} is overdue" in body for _, body in escalated)
    listed = client.get("/api/v1/postmortems?overdue=true", headers=auth(api_tokens.viewer))
    assert [p["incident"] for p in listed.json()["items"]] == [key]

    clock.advance(days=3)
    assert tick(ctx, clock) == 0
    timeline = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(api_tokens.jane))
    notes = [
        e["description"] for e in timeline.json()["events"] if "Postmortem for" in e["description"]
    ]
    assert len(notes) == 2


def test_a_published_postmortem_is_not_chased(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = resolved_sev1(client, api_tokens.jane)
    url = f"/api/v1/incidents/{key}/postmortem"
    client.put(url, headers=auth(api_tokens.jane), json={"sections": {
        "root_cause": "leak", "lessons_learned": "alert on it"}})  # fmt: skip
    client.post(f"{url}/status", json={"status": "in_review"}, headers=auth(api_tokens.jane))
    assert client.post(f"{url}/publish", headers=auth(api_tokens.jane)).status_code == 200
    clock.advance(days=5)
    assert tick(ctx, clock) == 0
    assert follow_ups(ctx) == []


def test_action_items_are_reminded_and_escalated_and_a_new_due_date_starts_over(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = resolved_sev1(client, api_tokens.jane)
    client.post(f"/api/v1/incidents/{key}/postmortem/status", json={"status": "in_review"},
                headers=auth(api_tokens.jane))  # fmt: skip
    item = client.post("/api/v1/action-items", headers=auth(api_tokens.jane), json={
        "incident": key, "title": "Alert on pool saturation", "priority": "P0",
        "type": "detective", "owner": "bob.wilson"}).json()  # fmt: skip

    def mine() -> list[tuple[str, str]]:
        return [(w, b) for w, b in follow_ups(ctx) if f"Action item #{item['id']}" in b]

    clock.advance(days=5)  # due in 7 days; reminded 2 days before
    tick(ctx, clock)
    assert [w for w, _ in mine()] == ["bob.wilson"]
    client.patch(f"/api/v1/action-items/{item['id']}", headers=auth(api_tokens.bob),
                 json={"due": (clock.now() + timedelta(days=10)).isoformat()})  # fmt: skip
    clock.advance(days=2)  # the old due date passes: nothing, the item is not overdue
    tick(ctx, clock)
    assert [w for w, _ in mine()] == ["bob.wilson"]
    clock.advance(days=6)  # two days before the new date: a new reminder
    tick(ctx, clock)
    assert [w for w, _ in mine()] == ["bob.wilson", "bob.wilson"]
    clock.advance(days=2)
    tick(ctx, clock)
    assert [w for w, _ in mine()][2:] == ["jane.smith", "bob.wilson"]
    assert "is overdue" in mine()[-1][1]
    client.patch(f"/api/v1/action-items/{item['id']}", headers=auth(api_tokens.bob),
                 json={"status": "done"})  # fmt: skip
    clock.advance(days=30)
    tick(ctx, clock)
    assert len(mine()) == 4


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


def test_the_review_invitation_arrives_by_email_as_an_icalendar_request(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, smtp: FakeSmtp
) -> None:
    key = resolved_sev1(client, api_tokens.jane)
    notifier = SmtpNotifier(host=smtp.host, port=smtp.port, sender="warroom@example.org",
                            starttls=False, timeout=5.0)  # fmt: skip
    deliverer = Deliverer({"email": notifier}, parallel=2)
    try:
        deliverer(ctx)
    finally:
        deliverer.close()
    invites = [m for m in smtp.emails if m["Subject"].startswith("Postmortem review")]
    assert [m["To"] for m in invites] == ["jane.smith@example.com"]
    parts = [p for p in invites[0].walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    assert parts[0].get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(parts[0].get_payload(decode=True))
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2024, 3, 20, 10, 0, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert str(event["SUMMARY"]) == f"Postmortem review: {key} Payment processing failing"
    assert str(event["ORGANIZER"]) == "mailto:jane.smith@example.com"
    attendees = event["ATTENDEE"]
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(a) for a in attendees] == ["mailto:jane.smith@example.com"]
    assert attendees[0].params["RSVP"] == "TRUE"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["UID"]).startswith("postmortem-review-")


def test_the_completion_rate_counts_items_done_by_their_due_date(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    from warroom.postmortems.actions import completion_rate

    key = resolved_sev1(client, api_tokens.jane)
    made = []
    for title in ("on time", "late", "never", "dropped"):
        r = client.post("/api/v1/action-items", headers=auth(api_tokens.jane), json={
            "incident": key, "title": title, "priority": "P0", "type": "corrective",
            "owner": "bob.wilson"})  # fmt: skip
        made.append(r.json()["id"])
    start = clock.now()
    client.patch(f"/api/v1/action-items/{made[0]}", json={"status": "done"},
                 headers=auth(api_tokens.bob))  # fmt: skip
    client.patch(f"/api/v1/action-items/{made[3]}", json={"status": "wont_do", "reason": "dup"},
                 headers=auth(api_tokens.bob))  # fmt: skip
    clock.advance(days=8)
    client.patch(f"/api/v1/action-items/{made[1]}", json={"status": "done"},
                 headers=auth(api_tokens.bob))  # fmt: skip
    with ctx.db.unit_of_work() as uow:
        rate = completion_rate(uow.session, since=start, until=start + timedelta(days=30))
        empty = completion_rate(uow.session, since=start - timedelta(days=9), until=start)
    assert rate == pytest.approx(1 / 3)  # won't-do items are not counted
    assert empty is None


def test_escalation_goes_to_the_configured_role_and_people(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    from dataclasses import replace

    from warroom.config.postmortems import LearningConfig, PostmortemPolicy

    declare_with_lead(client, api_tokens.jane)
    policy = PostmortemPolicy(escalate_to=["role:technical_lead", "sarah.lee", "role:scribe"])
    variant = replace(ctx, config=ctx.config.model_copy(
        update={"postmortems": LearningConfig(postmortem=policy)}))  # fmt: skip
    clock.advance(hours=48)
    tick(variant, clock)
    escalated = [w for w, body in follow_ups(ctx) if "overdue" in body]
    # The scribe role is not held: it is skipped. The owner (the commander) hears too.
    assert escalated == ["bob.wilson", "sarah.lee", "jane.smith"]


def declare_with_lead(client: TestClient, token: str) -> str:
    r = client.post("/api/v1/incidents", headers=auth(token), json={
        "title": "Cache stampede", "severity": "SEV1", "commander": "jane.smith"})  # fmt: skip
    key = str(r.json()["id"])
    r = client.put(f"/api/v1/incidents/{key}/roles/technical_lead", json={"user": "bob.wilson"},
                   headers=auth(token))  # fmt: skip
    assert r.status_code == 200, r.text
    client.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"},
                headers=auth(token))  # fmt: skip
    return key
